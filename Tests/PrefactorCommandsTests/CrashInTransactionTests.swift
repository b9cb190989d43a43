import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServerTesting
import PrefactorWire
import Testing

/// A process killed inside a queue file transaction: the settlement of a delivered create and the API id it produced
/// are written together or not at all (the SQLite transaction is rolled back whole, and the log that holds both is
/// applied by the next owner), and the next client neither loses the span nor duplicates it.
@Suite(.timeLimit(.minutes(2)))
struct CrashInTransactionTests {
    static var tool: String { Executable.url.deletingLastPathComponent().appendingPathComponent("prefactor-core-benchmark").path }

    @Test func aKillInsideTheTransactionLosesNeitherHalfAndTheRestartDuplicatesNothing() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("crash-txn-\(UUID().uuidString).sqlite").path
        defer {
            for suffix in [""] + SQLiteTelemetryQueueStore.companionSuffixes {
                try? FileManager.default.removeItem(atPath: file + suffix)
            }
        }
        try await withTestServer { server in
            let api = try APIClient(configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
            let instance = try await api.registerAgentInstance(
                RegisterAgentInstanceRequest(agentVersion: ["name": "crash-test"], agentSchemaVersion: [:]))
            _ = try await api.startAgentInstance(id: instance.id)
            // The create went out and the API answered before the crash, as a worker's delivery would.
            let startedAt = Date(timeIntervalSince1970: 1_764_000_000)
            let createKey = "crash-create-\(UUID().uuidString.prefix(8))"
            let delivered = try await api.createSpan(
                CreateSpanRequest(
                    agentInstanceID: instance.id, schemaName: "agent:step", status: .active, payload: ["n": 1],
                    startedAt: startedAt, idempotencyKey: createKey))
            try await api.shutdown()

            let child = try await Self.runDetached(
                Self.tool,
                [
                    "crash-in-transaction", "--queue-file", file, "--instance", instance.id, "--create-key", createKey,
                    "--finish-key", "crash-finish-\(UUID().uuidString.prefix(8))", "--api-id", delivered.span.id,
                    "--started-at", "\(startedAt.timeIntervalSince1970)",
                ])
            #expect(child.status == 128 + 9, "killed by SIGKILL: \(child.status) \(child.stdout)\(child.stderr)")
            #expect(!child.stdout.contains("not killed"))

            // The SQLite file alone holds neither half: the transaction was rolled back whole.
            let sqliteOnly = file + "-sqlite-only.sqlite"
            defer {
                for suffix in [""] + SQLiteTelemetryQueueStore.companionSuffixes {
                    try? FileManager.default.removeItem(atPath: sqliteOnly + suffix)
                }
            }
            for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: file + suffix) {
                try FileManager.default.copyItem(atPath: file + suffix, toPath: sqliteOnly + suffix)
            }
            let rolledBack = try SQLiteTelemetryQueueStore.inspect(path: sqliteOnly)
            #expect(try rolledBack.entries().map(\.id) == [1, 2])
            #expect(rolledBack.resolvedSpans().isEmpty)

            // The log holds both halves in one frame: the create is settled and its API id recorded, together.
            let inspected = try SQLiteTelemetryQueueStore.inspect(path: file)
            #expect(try inspected.entries().map(\.id) == [2])
            #expect(inspected.resolvedSpans() == ["span-1": delivered.span.id])

            var configuration = PrefactorClient.Configuration(
                api: .init(apiURL: server.baseURL, apiToken: server.token), drainTimeout: .seconds(30))
            configuration.queueFile = file
            let client = try PrefactorClient(configuration: configuration)
            #expect(client.snapshot().queue.depth == 1)
            let report = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                let deadline = ContinuousClock.now + .seconds(30)
                while client.snapshot().queue.depth > 0, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                let report = await client.shutdown()
                try await group.waitForAll()
                return report
            }
            #expect(report.isComplete, "\(report)")
            #expect(try SQLiteTelemetryQueueStore.inspect(path: file).entries().isEmpty)

            let check = try APIClient(configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
            let spans = try await check.listSpans(instanceID: instance.id, page: PageRequest(offset: 0, pageSize: 100)).items
            try await check.shutdown()
            // The finish went to the span the recorded id names: one span, finished.
            #expect(spans.map(\.id) == [delivered.span.id])
            #expect(spans.first?.status == .complete)
        }
    }

    /// Runs a program on a thread of its own, so that waiting for it holds none of the threads the test server needs.
    static func runDetached(_ path: String, _ arguments: [String]) async throws -> Executable.Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Swift.Result { try Executable.runProgram(path, arguments, environment: Executable.environment()) })
            }
        }
    }
}
