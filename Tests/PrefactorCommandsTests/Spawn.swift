import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with `posix_spawn`, its standard output and error on pipes.
///
/// Foundation's `Process.run()` crashed now and then in these tests on Linux (a bad memory read inside `run()` while
/// other suites ran in parallel), so the tests start their processes directly.
struct Spawned {
    let pid: pid_t
    /// The read end of the child's standard output.
    let stdout: FileHandle
    /// The read end of the child's standard error.
    let stderr: FileHandle

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts `path` with `arguments` and exactly `environment`.
    static func launch(_ path: String, _ arguments: [String], environment: [String: String]) throws -> Spawned {
        var out: [Int32] = [0, 0]
        var err: [Int32] = [0, 0]
        guard pipe(&out) == 0, pipe(&err) == 0 else { throw Failure(description: "pipe failed: errno \(errno)") }
        // No other child may inherit these ends (dup2 in the child clears the flag on 1 and 2).
        for descriptor in out + err { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, nil, argv, envp)
        close(out[1])
        close(err[1])
        guard result == 0 else {
            close(out[0])
            close(err[0])
            throw Failure(description: "posix_spawn \(path) failed: \(String(cString: strerror(result)))")
        }
        return Spawned(
            pid: pid, stdout: FileHandle(fileDescriptor: out[0], closeOnDealloc: true),
            stderr: FileHandle(fileDescriptor: err[0], closeOnDealloc: true))
    }

    /// Sends SIGTERM.
    func terminate() {
        kill(pid, SIGTERM)
    }

    /// Waits for the child to end: its exit status, or 128 + the signal that ended it.
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return -1 }
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
