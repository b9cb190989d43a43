import Foundation
import Testing

/// Runs the built `prefactor` executable.
struct Executable {
    static var url: URL {
        let directory =
            Bundle.main.executableURL?.deletingLastPathComponent()
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return directory.appendingPathComponent("prefactor")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// A state directory of the test process's own, so that queue files and logs never land in the user's.
    static let stateHome: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-cli-tests-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// The test process's environment without the API and queue settings, the state directory a temporary one, plus
    /// `additions`.
    static func environment(_ additions: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["PREFACTOR_API_URL"] = nil
        environment["PREFACTOR_API_TOKEN"] = nil
        environment["PREFACTOR_QUEUE_FILE"] = nil
        environment["XDG_STATE_HOME"] = stateHome
        // No config file of the user's: every setting at its default unless a test gives one.
        environment["XDG_CONFIG_HOME"] = stateHome + "/config"
        environment["PREFACTOR_CONFIG"] = nil
        environment.merge(additions) { _, new in new }
        return environment
    }

    /// Runs to completion with the given arguments and environment additions.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        try runProgram(url.path, arguments, environment: Self.environment(environment))
    }

    /// Runs any program to completion and collects its output.
    static func runProgram(_ path: String, _ arguments: [String], environment: [String: String]) throws -> Result {
        let child = try Spawned.launch(path, arguments, environment: environment)
        // Standard error on another thread, so that neither pipe can fill up and block the child.
        let errors = ErrorCollector(child.stderr)
        let stdout = child.stdout.readDataToEndOfFile()
        let status = child.wait()
        return Result(
            status: status, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: errors.data(), as: UTF8.self))
    }

    /// Reads a pipe to its end on a thread of its own.
    final class ErrorCollector: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var collected = Data()

        init(_ handle: FileHandle) {
            Thread.detachNewThread { [self] in
                collected = handle.readDataToEndOfFile()
                done.signal()
            }
        }

        func data() -> Data {
            done.wait()
            return collected
        }
    }

    /// A running `prefactor serve`, stopped with SIGTERM by `stop()`.
    final class Server: @unchecked Sendable {
        let child: Spawned
        private let errors: ErrorCollector
        private(set) var url = ""
        private(set) var lines: [String] = []
        private var status: Int32?

        init(_ arguments: [String]) throws {
            child = try Spawned.launch(Executable.url.path, ["serve"] + arguments, environment: Executable.environment())
            errors = ErrorCollector(child.stderr)
            var buffer = Data()
            let handle = child.stdout
            let deadline = Date().addingTimeInterval(30)
            while url.isEmpty, Date() < deadline {
                let chunk = handle.availableData
                if chunk.isEmpty { break }  // the server ended
                buffer += chunk
                lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
                if let line = lines.first(where: { $0.hasPrefix("PREFACTOR_API_URL=") }) {
                    url = String(line.dropFirst("PREFACTOR_API_URL=".count))
                }
            }
        }

        func stop() -> Int32 {
            if let status { return status }
            child.terminate()
            let result = child.wait()
            status = result
            return result
        }

        var stderrText: String { String(decoding: errors.data(), as: UTF8.self) }
    }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct CommandLineTests {
    @Test func helpListsTheSubcommands() throws {
        let result = try Executable.run(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("serve"))
        #expect(result.stdout.contains("ping"))
    }

    @Test func tuiHelpGivesTheExitStatusOfCtrlCAndSignals() throws {
        let result = try Executable.run(["help", "tui"])
        #expect(result.status == 0)
        // The help is rewrapped to the terminal's width.
        let text = result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("Ctrl-C quits at once (exit status 130)"), "\(result.stdout)")
        #expect(text.contains("SIGTERM and SIGHUP deliver the queue first"), "\(result.stdout)")
        #expect(text.contains("exit with 143 and 129"), "\(result.stdout)")
    }

    @Test func serveHelpExplainsFaultsAndTheTokenLine() throws {
        let result = try Executable.run(["serve", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("--fault"))
        #expect(result.stdout.contains("PREFACTOR_API_TOKEN"))
        #expect(result.stdout.contains("--in-memory"))
    }

    @Test(arguments: [
        ["serve", "--port", "70000"],
        ["serve", "--in-memory", "--db", "/tmp/x.sqlite"],
        ["serve", "--fault", "nonsense"],
        ["serve", "--log-level", "loud"],
        ["ping"],
        ["ping", "--api-url", "not a url", "--token", "t"],
        ["no-such-command"],
        ["tui", "--render", "--watch", "--no-watch"],
        ["tui", "--render", "--watch", "--poll-interval", "0"],
        ["tui", "--render", "--watch", "--age-out", "-1"],
        ["tui", "--render", "--watch", "--max-finished", "0"],
    ])
    func badArgumentsExitWithUsageErrorAndNoStackTrace(arguments: [String]) throws {
        let result = try Executable.run(arguments)
        #expect(result.status != 0)
        #expect(result.stderr.contains("Error") || result.stderr.contains("error"))
        #expect(!result.stderr.contains("Fatal error"))
        #expect(!result.stderr.contains("Stack dump"))
    }

    @Test func serveOnPortZeroPrintsTheURLAndTheGeneratedTokenAndAnswersPing() throws {
        let server = try Executable.Server(["--port", "0", "--in-memory"])
        defer { _ = server.stop() }
        #expect(server.url.hasPrefix("http://127.0.0.1:"))
        #expect(!server.url.hasSuffix(":0"))
        let tokenLine = try #require(server.lines.first { $0.hasPrefix("PREFACTOR_API_TOKEN=") })
        let token = String(tokenLine.dropFirst("PREFACTOR_API_TOKEN=".count))
        #expect(token.count > 16)
        let ok = try Executable.run(["ping", "--api-url", server.url, "--token", token])
        #expect(ok.status == 0)
        #expect(ok.stdout.contains("OK"))
        let bad = try Executable.run(["ping", "--api-url", server.url, "--token", "wrong"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("token was rejected"))
        #expect(!bad.stderr.contains("wrong"))
    }

    @Test func pingReadsTheEnvironment() throws {
        let server = try Executable.Server(["--port", "0", "--in-memory", "--token", "env-token"])
        defer { _ = server.stop() }
        #expect(!server.lines.contains { $0.hasPrefix("PREFACTOR_API_TOKEN=") })
        let ok = try Executable.run(["ping"], environment: ["PREFACTOR_API_URL": server.url, "PREFACTOR_API_TOKEN": "env-token"])
        #expect(ok.status == 0)
    }

    @Test func pingOfAnUnreachableServerFailsClearly() throws {
        let result = try Executable.run(["ping", "--api-url", "http://127.0.0.1:1", "--token", "t", "--timeout", "2"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("could not be reached"))
    }

    @Test func aPortInUseIsReportedWithAHint() throws {
        let first = try Executable.Server(["--port", "0", "--in-memory", "--token", "t"])
        defer { _ = first.stop() }
        let port = try #require(first.url.split(separator: ":").last.map(String.init))
        let second = try Executable.run(["serve", "--port", port, "--in-memory", "--token", "t"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("already in use"))
    }

    @Test func sigtermStopsTheServerCleanly() throws {
        let server = try Executable.Server(["--port", "0", "--in-memory", "--token", "t"])
        #expect(!server.url.isEmpty)
        let status = server.stop()
        #expect(status == 0)
    }

    @Test func dataSurvivesARestartOnTheSameFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("data.sqlite").path
        let first = try Executable.Server(["--port", "0", "--db", path, "--token", "t"])
        let register = try curl(
            ["-X", "POST", first.url + "/api/v1/agent_instance/register", "-d", #"{"agent_version":{}}"#], token: "t")
        _ = first.stop()
        let id =
            try #require(try JSONSerialization.jsonObject(with: Data(register.utf8)) as? [String: Any])["details"]
            .flatMap { $0 as? [String: Any] }?["id"] as? String
        let second = try Executable.Server(["--port", "0", "--db", path, "--token", "t"])
        defer { _ = second.stop() }
        let fetched = try curl([second.url + "/api/v1/agent_instance/" + (id ?? "missing")], token: "t")
        #expect(id != nil)
        #expect(fetched.contains("\"id\":\"\(id ?? "missing")\""))
        #expect(second.lines.contains { $0.contains(path) })
    }

    @Test func watchShowsTheRunsOfAnotherProcessAndOnlyWithWatch() throws {
        let server = try Executable.Server(["--port", "0", "--in-memory", "--token", "t"])
        defer { _ = server.stop() }
        let register = try curl(
            ["-X", "POST", server.url + "/api/v1/agent_instance/register", "-d", #"{"agent_version":{"name":"elsewhere"}}"#],
            token: "t")
        let id = try #require(
            (try JSONSerialization.jsonObject(with: Data(register.utf8)) as? [String: Any])?["details"]
                .flatMap { $0 as? [String: Any] }?["id"] as? String)
        _ = try curl(["-X", "POST", server.url + "/api/v1/agent_instance/\(id)/start", "-d", "{}"], token: "t")
        _ = try curl(
            [
                "-X", "POST", server.url + "/api/v1/agent_spans",
                "-d", #"{"details":{"agent_instance_id":"\#(id)","schema_name":"agent:far-away","status":"active"}}"#,
            ],
            token: "t")
        let arguments = [
            "tui", "--render", "--api-url", server.url, "--token", "t", "--after", "0.3", "--width", "140", "--height", "20",
        ]
        let watched = try Executable.run(arguments + ["--watch"])
        #expect(watched.status == 0)
        #expect(watched.stdout.contains("agent:far-away"))
        #expect(watched.stdout.contains("watch 0s ago"))
        #expect(watched.stdout.contains("● agent:far-away"))
        let unwatched = try Executable.run(arguments)
        #expect(unwatched.status == 0)
        #expect(!unwatched.stdout.contains("agent:far-away"))
        #expect(!unwatched.stdout.contains("watch "))
    }

    // MARK: Issue 13: fault injection, network warning, files, token files, the demo's exit status

    @Test func faultInjectionIsOffUnlessAFaultFlagTurnsItOn() throws {
        let plain = try Executable.Server(["--port", "0", "--in-memory", "--token", "t"])
        defer { _ = plain.stop() }
        #expect(try curlStatus([plain.url + "/__prefactor/faults"], token: "t") == "404")
        let enabled = try Executable.Server(["--port", "0", "--in-memory", "--token", "t", "--enable-fault-injection"])
        defer { _ = enabled.stop() }
        #expect(try curlStatus([enabled.url + "/__prefactor/faults"], token: "t") == "200")
        let faulted = try Executable.Server([
            "--port", "0", "--in-memory", "--token", "t", "--fault", "GET /api/v1/ping:status=503",
        ])
        defer { _ = faulted.stop() }
        #expect(try curlStatus([faulted.url + "/api/v1/ping"], token: "t") == "503")
    }

    /// Under a descriptor limit too low for the connection limit the server serves fewer connections, says so, and
    /// still answers.
    @Test func aLowDescriptorLimitLowersTheConnectionLimit() throws {
        let script =
            "ulimit -S -n 100 && ulimit -H -n 100 && exec \"$0\" serve --port 0 --in-memory --token t --max-connections 1000"
        let child = try Spawned.launch("/bin/sh", ["-c", script, Executable.url.path], environment: Executable.environment())
        let errors = Executable.ErrorCollector(child.stderr)
        var output = Data()
        while !String(decoding: output, as: UTF8.self).contains("PREFACTOR_API_URL=") {
            let chunk = child.stdout.availableData
            if chunk.isEmpty { break }
            output += chunk
        }
        let url = String(decoding: output, as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix("PREFACTOR_API_URL=") }.map { String($0.dropFirst("PREFACTOR_API_URL=".count)) }
        let status = try curlStatus([(url ?? "http://127.0.0.1:1") + "/api/v1/ping"], token: "t")
        child.terminate()
        _ = child.wait()
        #expect(status == "200")
        let stderr = String(decoding: errors.data(), as: UTF8.self)
        #expect(stderr.contains("leaves room for 36 connections, not 1000"), "\(stderr)")
    }

    @Test func aNonLoopbackHostIsWarnedAbout() throws {
        let open = try Executable.Server(["--host", "0.0.0.0", "--port", "0", "--in-memory", "--token", "t"])
        _ = open.stop()
        #expect(open.stderrText.contains("reachable from the network over plain HTTP"), "\(open.stderrText)")
        let loopback = try Executable.Server(["--port", "0", "--in-memory", "--token", "t"])
        _ = loopback.stop()
        #expect(!loopback.stderrText.contains("reachable from the network"), "\(loopback.stderrText)")
    }

    @Test func theDatabaseFileIsCreatedReadableByItsOwnerOnly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("data.sqlite").path
        let server = try Executable.Server(["--port", "0", "--db", path, "--token", "t"])
        _ = try curl(["-X", "POST", server.url + "/api/v1/agent_instance/register", "-d", #"{"agent_version":{}}"#], token: "t")
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue ?? -1
            #expect(mode & 0o077 == 0, "\(file): \(String(mode, radix: 8))")
        }
        _ = server.stop()
    }

    @Test func theUILogFileIsCreatedReadableByItsOwnerOnly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("tui.log").path
        let result = try Executable.run(["tui", "--render", "--no-demo", "--after", "0", "--log-file", log])
        #expect(result.status == 0, "\(result.stderr)")
        let mode = (try FileManager.default.attributesOfItem(atPath: log)[.posixPermissions] as? NSNumber)?.intValue ?? -1
        #expect(mode & 0o077 == 0, "\(String(mode, radix: 8))")
    }

    @Test func everyCommandTakesATokenFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("token").path
        try "from-a-file\n".write(toFile: file, atomically: true, encoding: .utf8)

        let server = try Executable.Server(["--port", "0", "--in-memory", "--token-file", file])
        defer { _ = server.stop() }
        #expect(!server.lines.contains { $0.hasPrefix("PREFACTOR_API_TOKEN=") }, "the token was given, not generated")
        #expect(try curlStatus([server.url + "/api/v1/ping"], token: "from-a-file") == "200")

        let ping = try Executable.run(["ping", "--api-url", server.url, "--token-file", file])
        #expect(ping.status == 0, "\(ping.stderr)")
        let render = try Executable.run(["tui", "--render", "--api-url", server.url, "--token-file", file, "--after", "0"])
        #expect(render.status == 0, "\(render.stderr)")
        let demo = try Executable.run([
            "demo", "--api-url", server.url, "--token-file", file, "--duration", "0.5", "--speed", "20",
        ])
        #expect(demo.status == 0, "\(demo.stdout)\n\(demo.stderr)")

        let both = try Executable.run(["ping", "--api-url", server.url, "--token-file", file, "--token", "x"])
        #expect(both.status != 0)
        #expect(both.stderr.contains("cannot be used together"))
        let missing = try Executable.run(["ping", "--api-url", server.url, "--token-file", file + "-missing"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot read the token file"))
    }

    @Test func theDemoStopsAtOnceWhenTheTokenIsRejected() throws {
        let server = try Executable.Server(["--port", "0", "--in-memory", "--token", "t"])
        defer { _ = server.stop() }
        let start = Date()
        let demo = try Executable.run(["demo", "--api-url", server.url, "--token", "wrong", "--duration", "60"])
        #expect(demo.status == 1)
        #expect(demo.stderr.contains("rejected the token"), "\(demo.stderr)")
        #expect(!demo.stderr.contains("wrong"))
        #expect(Date().timeIntervalSince(start) < 30, "it did not run its duration")
    }

    @Test func theDemoExitsNonZeroWhenOperationsAreLeftUndelivered() throws {
        // Every span create fails for good (422 is permanent), so the demo's report has failures.
        let server = try Executable.Server(
            ["--port", "0", "--in-memory", "--token", "t", "--fault", "POST /api/v1/agent_spans:status=422"])
        defer { _ = server.stop() }
        let demo = try Executable.run(["demo", "--api-url", server.url, "--token", "t", "--duration", "1", "--speed", "20"])
        #expect(demo.status == 1, "\(demo.stdout)\n\(demo.stderr)")
        #expect(demo.stderr.contains("did not deliver everything"), "\(demo.stderr)")
    }

    private func curlStatus(_ arguments: [String], token: String) throws -> String {
        try Executable.runProgram(
            "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(token)"] + arguments,
            environment: Executable.environment()
        ).stdout
    }

    private func curl(_ arguments: [String], token: String) throws -> String {
        try Executable.runProgram(
            "/usr/bin/curl", ["-s", "-H", "Authorization: Bearer \(token)"] + arguments, environment: Executable.environment()
        ).stdout
    }
}
