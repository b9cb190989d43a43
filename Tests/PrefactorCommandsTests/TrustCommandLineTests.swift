import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// The commands reject what they cannot use, say what happened in one line, and exit with a status that tells.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct TrustCommandLineTests {
    @Test(arguments: [
        ["ping", "--api-url", "http://127.0.0.1:99999", "--token", "t"],
        ["demo", "--api-url", "http://127.0.0.1:99999", "--token", "t", "--duration", "1"],
        ["tui", "--render", "--api-url", "http://127.0.0.1:99999", "--token", "t"],
        ["ping", "--api-url", "http://127.0.0.1:4000/api/v1", "--token", "t"],
    ])
    func aBadAPIURLIsAUsageErrorNotACrash(arguments: [String]) throws {
        let result = try Executable.run(arguments)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(
            result.stderr.contains("port out of range (99999)") || result.stderr.contains("has a path (/api/v1)"),
            "\(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
    }

    @Test func aBadAPIURLFromTheEnvironmentIsAUsageErrorToo() throws {
        let result = try Executable.run(
            ["tui", "--render"], environment: ["PREFACTOR_API_URL": "http://127.0.0.1:70000", "PREFACTOR_API_TOKEN": "t"])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("port out of range (70000)"), "\(result.stderr)")
    }

    @Test func pingSaysWhatHappenedInOneLine() throws {
        let port = try Self.freePort()
        let result = try Executable.run(["ping", "--api-url", "http://127.0.0.1:\(port)", "--token", "t", "--timeout", "2"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("connection refused at 127.0.0.1:\(port) - is the API running?"), "\(result.stderr)")
        #expect(!result.stderr.contains("PrefactorHTTPError"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func theRenderedHeaderTellsTheTruthFromTheStart() async throws {
        try await withTestServer { server in
            let wrongToken = try Executable.run([
                "tui", "--render", "--api-url", server.baseURL, "--token", "wrong", "--after", "0",
            ])
            #expect(wrongToken.stdout.split(separator: "\n").first?.contains("[auth failed]") == true, "\(wrongToken.stdout)")
            server.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", status: 404))
            let notAPI = try Executable.run([
                "tui", "--render", "--api-url", server.baseURL, "--token", server.token, "--after", "0",
            ])
            #expect(notAPI.stdout.split(separator: "\n").first?.contains("[not a Prefactor API]") == true, "\(notAPI.stdout)")
        }
        let port = try Self.freePort()
        let dead = try Executable.run([
            "tui", "--render", "--api-url", "http://127.0.0.1:\(port)", "--token", "t", "--after", "0",
        ])
        #expect(dead.stdout.split(separator: "\n").first?.contains("[unreachable]") == true, "\(dead.stdout)")
        #expect(dead.stdout.contains("connection refused"), "\(dead.stdout)")
    }

    @Test func renderRejectsSizesItCannotDraw() throws {
        let result = try Executable.run(["tui", "--render", "--width", "20", "--height", "5"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("60x14"), "\(result.stderr)")
    }

    @Test func demoSpeedZeroIsRejectedWithATrueMessage() throws {
        let result = try Executable.run(["tui", "--render", "--demo-speed", "0"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("greater than 0"), "\(result.stderr)")
    }

    @Test func helpParagraphsAreWrappedByTheParser() throws {
        let result = try Executable.run(["help", "tui"], environment: ["COLUMNS": "250"])
        #expect(result.status == 0)
        #expect(
            result.stdout.contains(
                "it starts an embedded local API server in memory with a demo agent, so live runs appear at once."),
            "\(result.stdout)")
        let serve = try Executable.run(["serve", "--help"], environment: ["COLUMNS": "250"])
        #expect(
            serve.stdout.contains(
                "Data is kept in a SQLite file (default: $XDG_DATA_HOME/prefactor/prefactor.sqlite) and survives restarts"))
        #expect(serve.stdout.contains("\"latency_ms\""), "the fault endpoint's body is documented")
    }

    @Test func theDemoExitsNonZeroWhenSomethingFailedAndSaysSo() async throws {
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 400))
            let result = try Executable.run([
                "demo", "--api-url", server.baseURL, "--token", server.token, "--duration", "1", "--speed", "20",
            ])
            #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("failed"), "\(result.stdout)")
            #expect(!result.stdout.contains(" 0 failed"), "\(result.stdout)")
        }
    }

    @Test func theDemoStoppedBySIGTERMCancelsItsRunsAndReports() async throws {
        try await withTestServer { server in
            let child = try Spawned.launch(
                Executable.url.path, ["demo", "--api-url", server.baseURL, "--token", server.token, "--speed", "5"],
                environment: Executable.environment())
            let errors = Executable.ErrorCollector(child.stderr)
            // Wait until a run is active on the server.
            let inspector = try PrefactorHTTPInspector(server: server)
            try await inspector.waitForActiveRun()
            child.terminate()
            let output = String(decoding: child.stdout.readDataToEndOfFile(), as: UTF8.self)
            let status = child.wait()
            _ = errors.data()
            #expect(status == 0, "\(output)")
            #expect(output.contains("demo: stopping"), "\(output)")
            #expect(output.contains("cancelled: the demo agent stopped"), "\(output)")
            #expect(output.contains("operations delivered"), "\(output)")
            #expect(try await inspector.activeRuns() == 0, "nothing is left active on the API")
        }
    }

    /// A loopback port nothing listens on (bound, then released).
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw Spawned.Failure(description: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Reads the test server through the API.
struct PrefactorHTTPInspector {
    let api: APIClient

    init(server: TestServer) throws {
        api = try APIClient(configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
    }

    /// Active instances on the server (the local server filters by status).
    func activeRuns() async throws -> Int {
        try await api.listAgentInstances(status: .active).items.count
    }

    /// Waits until some instance is active; the limit only turns a hang into a failure.
    func waitForActiveRun() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while try await activeRuns() == 0 {
            guard ContinuousClock.now < deadline else { throw Spawned.Failure(description: "no run became active") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
