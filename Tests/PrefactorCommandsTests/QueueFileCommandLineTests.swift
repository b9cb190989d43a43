import Foundation
import PrefactorServer
import PrefactorServerTesting
import Testing

/// `prefactor tui` and `prefactor demo` keep their queue in a file of their own, remove it when they leave it empty,
/// and name it when they leave something in it.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct QueueFileCommandLineTests {
    /// A new, empty state directory.
    static func stateHome() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-queue-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs the executable on a thread of its own, so that waiting for it holds none of the threads the in-process
    /// test servers of other suites need.
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Executable.Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Swift.Result { try Executable.run(arguments, environment: environment) })
            }
        }
    }

    static func queueFiles(in state: String) -> [String] {
        let directory = state + "/prefactor/queues"
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// The path after `prefix` on the line that has it.
    static func path(after prefix: String, in text: String) -> String? {
        guard let range = text.range(of: prefix) else { return nil }
        return text[range.upperBound...].prefix { !$0.isWhitespace && $0 != ":" && $0 != "`" }.description
    }

    /// Every instance start refused for good: a run is registered and started at once, so an operation fails however
    /// slowly the machine runs (a refused span create needs the demo to get as far as a span within its duration).
    static let startsRefused = FaultRule(method: "POST", path: "/api/v1/agent_instance/*/start", status: 400)

    @Test func theDemoUsesAFileOfItsOwnAndRemovesItWhenItLeavesItEmpty() async throws {
        let state = try Self.stateHome()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try await withTestServer { server in
            let result = try await Self.run(
                [
                    "demo", "--api-url", server.baseURL, "--token", server.token, "--duration", "1", "--speed", "20",
                    "--drain-timeout", "60",
                ],
                environment: ["XDG_STATE_HOME": state])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            let file = try #require(Self.path(after: "demo: queue file ", in: result.stdout), "\(result.stdout)")
            #expect(file.hasPrefix(state + "/prefactor/queues/demo-"), "\(file)")
            #expect(!FileManager.default.fileExists(atPath: file))
            #expect(Self.queueFiles(in: state).isEmpty, "\(Self.queueFiles(in: state))")
            #expect(!result.stdout.contains("prefactor queue deliver"), "\(result.stdout)")
        }
    }

    @Test func theDemoKeepsAFileWithFailedOperationsAndSaysWhatToDoWithIt() async throws {
        let state = try Self.stateHome()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try await withTestServer { server in
            server.faults.add(Self.startsRefused)
            let result = try await Self.run(
                ["demo", "--api-url", server.baseURL, "--token", server.token, "--duration", "1", "--speed", "20"],
                environment: ["XDG_STATE_HOME": state])
            #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
            let file = try #require(Self.path(after: "demo: queue file ", in: result.stdout), "\(result.stdout)")
            #expect(FileManager.default.fileExists(atPath: file))
            #expect(result.stdout.contains("`prefactor queue deliver \(file)`"), "\(result.stdout)")
            #expect(result.stdout.contains("`prefactor queue show \(file)`"), "\(result.stdout)")
            let show = try await Self.run(["queue", "show", file])
            #expect(show.status == 0, "\(show.stderr)")
            #expect(show.stdout.contains("start_instance"), "\(show.stdout)")
        }
    }

    @Test func theDemoWithMemoryQueueWritesNoFile() async throws {
        let state = try Self.stateHome()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try await withTestServer { server in
            server.faults.add(Self.startsRefused)
            let result = try await Self.run(
                [
                    "demo", "--api-url", server.baseURL, "--token", server.token, "--duration", "1", "--speed", "20",
                    "--memory-queue",
                ],
                environment: ["XDG_STATE_HOME": state])
            #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("demo: queue in memory"), "\(result.stdout)")
            #expect(Self.queueFiles(in: state).isEmpty, "\(Self.queueFiles(in: state))")
        }
    }

    @Test func theUIKeepsAFileWithFailedOperationsAndNamesIt() async throws {
        let state = try Self.stateHome()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try await withTestServer { server in
            server.faults.add(Self.startsRefused)
            let result = try await Self.run(
                [
                    "tui", "--render", "--api-url", server.baseURL, "--token", server.token, "--demo", "--demo-speed", "20",
                    "--after", "1",
                ],
                environment: ["XDG_STATE_HOME": state])
            let file = try #require(Self.path(after: "prefactor queue deliver ", in: result.stderr), "\(result.stderr)")
            #expect(file.hasPrefix(state + "/prefactor/queues/tui-"), "\(file)")
            #expect(FileManager.default.fileExists(atPath: file))
            #expect(result.stderr.contains("`prefactor queue show \(file)`"), "\(result.stderr)")
        }
    }

    @Test func theUIRemovesItsOwnEmptyFile() async throws {
        let state = try Self.stateHome()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let result = try await Self.run(["tui", "--render", "--after", "0.5"], environment: ["XDG_STATE_HOME": state])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("prefactor queue deliver"), "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: state + "/prefactor/queues"), "a queue file was made")
        #expect(Self.queueFiles(in: state).isEmpty, "\(Self.queueFiles(in: state))")
    }

    @Test func aChosenQueueFileIsKeptEvenWhenEmpty() async throws {
        let state = try Self.stateHome()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let file = state + "/chosen.sqlite"
        let result = try await Self.run(
            ["tui", "--render", "--no-demo", "--after", "0", "--queue-file", file], environment: ["XDG_STATE_HOME": state])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: file))
    }

    @Test func deliveringAnEmptyFileSucceedsAtOnce() async throws {
        let state = try Self.stateHome()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let file = state + "/empty.sqlite"
        let made = try await Self.run(
            ["tui", "--render", "--no-demo", "--after", "0", "--queue-file", file], environment: ["XDG_STATE_HOME": state])
        #expect(made.status == 0, "\(made.stderr)")
        try await withTestServer { server in
            // Repeated: the command once shut its client down before `run()` began, and failed only sometimes.
            for _ in 0..<5 {
                let result = try await Self.run(["queue", "deliver", file, "--api-url", server.baseURL, "--token", server.token])
                #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
                #expect(result.stdout.contains("Delivering 0 operation(s)"), "\(result.stdout)")
                #expect(result.stdout.contains("0 left in the file"), "\(result.stdout)")
            }
        }
    }

    @Test func theDemoSaysHowLongItDeliversAndRefusesANegativeTime() async throws {
        let help = try await Self.run(["help", "demo"], environment: ["COLUMNS": "250"])
        #expect(help.stdout.contains("--drain-timeout"), "\(help.stdout)")
        let negative = try await Self.run(["demo", "--drain-timeout=-1"])
        #expect(negative.status == 64, "\(negative.stderr)")
        #expect(negative.stderr.contains("--drain-timeout must be 0 or more"), "\(negative.stderr)")
    }

    @Test func theQueueOptionsAreDocumentedAndCheckedTogether() async throws {
        for command in ["tui", "demo"] {
            let help = try await Self.run(["help", command], environment: ["COLUMNS": "250"])
            #expect(help.stdout.contains("--queue-file"), "\(help.stdout)")
            #expect(help.stdout.contains("--memory-queue"), "\(help.stdout)")
            #expect(help.stdout.contains("On a clean exit with nothing left in it"), "\(help.stdout)")
        }
        let both = try await Self.run(["tui", "--render", "--memory-queue", "--queue-file", "/tmp/x.sqlite"])
        #expect(both.status == 64, "\(both.stderr)")
        #expect(both.stderr.contains("cannot be used together"), "\(both.stderr)")
        let stray = try await Self.run(["tui", "--render", "some.sqlite"])
        #expect(stray.status == 64, "\(stray.stderr)")
        #expect(stray.stderr.contains("a FILE argument goes with --queue"), "\(stray.stderr)")
        let help = try await Self.run(["help", "tui"], environment: ["COLUMNS": "250"])
        #expect(help.stdout.contains("--queue FILE shows another process's queue file"), "\(help.stdout)")
    }
}
