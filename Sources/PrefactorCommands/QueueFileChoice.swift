import ArgumentParser
import Foundation
import PrefactorCore

/// How `prefactor tui` and `prefactor demo` choose their queue file: `--queue-file PATH`, else
/// `PREFACTOR_QUEUE_FILE`, else a new file of this process under `$XDG_STATE_HOME/prefactor/queues`; `--memory-queue`
/// keeps the queue in memory as the SDK does by default.
struct QueueFileOptions: ParsableArguments {
    @Option(
        name: .customLong("queue-file"),
        help: "The queue file (default: $PREFACTOR_QUEUE_FILE, else a new file per process in $XDG_STATE_HOME/prefactor/queues).")
    var queueFile: String?

    @Flag(name: .customLong("memory-queue"), help: "Keep the queue in memory only: a crash loses what is not delivered.")
    var memoryQueue = false

    func validate() throws {
        if memoryQueue && queueFile != nil { throw ValidationError("--queue-file and --memory-queue cannot be used together") }
    }

    /// Sets the configuration's queue file for `command`, and says which file it is and whether this process made it.
    @discardableResult
    func apply(
        to configuration: inout PrefactorClient.Configuration, command: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> QueueFileChoice? {
        if memoryQueue {
            configuration.queueFile = nil
            return nil
        }
        if let chosen = queueFile ?? environment["PREFACTOR_QUEUE_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            configuration.queueFile = chosen
            return QueueFileChoice(path: chosen, ownFile: false)
        }
        let path = QueueFiles.newPath(command: command, environment: environment)
        configuration.queueFile = path
        return QueueFileChoice(path: path, ownFile: true)
    }
}

/// The queue file a command runs on.
struct QueueFileChoice: Equatable {
    /// The file.
    var path: String
    /// Whether this process made it (a new file per process), so it may remove it when it leaves it empty.
    var ownFile: Bool

    /// After the client has shut down: removes the process's own file when nothing is left in it (its companions
    /// too) and returns nil; otherwise returns the line that names the kept file and what to
    /// do with it. A file chosen with `--queue-file` or `PREFACTOR_QUEUE_FILE` is never removed.
    func settle() -> String? {
        let left: Int
        do { left = try SQLiteTelemetryQueueStore.inspect(path: path).entries().count } catch {
            let reason = (error as? PrefactorError)?.message ?? "\(error)"
            return "The queue file \(path) could not be read back (\(reason)); see `prefactor queue show \(path)`."
        }
        if left == 0 {
            if ownFile {
                for suffix in [""] + SQLiteTelemetryQueueStore.companionSuffixes {
                    try? FileManager.default.removeItem(atPath: path + suffix)
                }
            }
            return nil
        }
        return "\(left) operation(s) are kept in the queue file \(path): deliver them with `prefactor queue deliver \(path)`"
            + " (with --api-url and --token), or look inside with `prefactor queue show \(path)`."
    }
}
