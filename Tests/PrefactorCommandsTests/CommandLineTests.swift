import Foundation
import Testing

/// Foundation's `Process.run()` is not safe to call from several threads at once on Linux (it crashed in CI when
/// parameterized cases launched in parallel), so every launch in these tests goes through this lock.
let launchLock = NSLock()

/// Runs the built `prefactor` executable.
struct Executable {
    static var url: URL {
        let directory = Bundle.main.executableURL?.deletingLastPathComponent()
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return directory.appendingPathComponent("prefactor")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs to completion with the given arguments and environment additions.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PREFACTOR_API_URL"] = nil
        env["PREFACTOR_API_TOKEN"] = nil
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try launchLock.withLock { try process.run() }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// A running `prefactor serve`, stopped with SIGTERM by `stop()`.
    final class Server: @unchecked Sendable {
        let process = Process()
        let output = Pipe()
        let errors = Pipe()
        private(set) var url = ""
        private(set) var lines: [String] = []

        init(_ arguments: [String]) throws {
            process.executableURL = Executable.url
            process.arguments = ["serve"] + arguments
            process.standardOutput = output
            process.standardError = errors
            try launchLock.withLock { try process.run() }
            var buffer = Data()
            let handle = output.fileHandleForReading
            let deadline = Date().addingTimeInterval(30)
            while url.isEmpty, Date() < deadline, process.isRunning {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer += chunk
                lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
                if let line = lines.first(where: { $0.hasPrefix("PREFACTOR_API_URL=") }) {
                    url = String(line.dropFirst("PREFACTOR_API_URL=".count))
                }
            }
        }

        func stop() -> Int32 {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            return process.terminationStatus
        }

        var stderrText: String { String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
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
        let register = try curl(["-X", "POST", first.url + "/api/v1/agent_instance/register", "-d", "{}"], token: "t")
        _ = first.stop()
        let id = try #require(try JSONSerialization.jsonObject(with: Data(register.utf8)) as? [String: Any])["details"]
            .flatMap { $0 as? [String: Any] }?["id"] as? String
        let second = try Executable.Server(["--port", "0", "--db", path, "--token", "t"])
        defer { _ = second.stop() }
        let fetched = try curl([second.url + "/api/v1/agent_instance/" + (id ?? "missing")], token: "t")
        #expect(id != nil)
        #expect(fetched.contains("\"id\":\"\(id ?? "missing")\""))
        #expect(second.lines.contains { $0.contains(path) })
    }

    private func curl(_ arguments: [String], token: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-H", "Authorization: Bearer \(token)"] + arguments
        let out = Pipe()
        process.standardOutput = out
        try launchLock.withLock { try process.run() }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
