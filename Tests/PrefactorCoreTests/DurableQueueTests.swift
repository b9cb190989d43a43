import Foundation
import GRDB
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// A fresh path for a queue file, in a directory of its own.
func temporaryQueuePath(_ name: String = "queue.sqlite") -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-queue-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name).path
}

/// Every write route of the queue answers 503: the API is down for queued operations, register still works.
let queuedRoutesDown: [FaultRule] = [
    FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 503),
    FaultRule(method: "POST", path: "/api/v1/agent_spans/*/finish", status: 503),
    FaultRule(method: "POST", path: "/api/v1/agent_instance/*/start", status: 503),
    FaultRule(method: "POST", path: "/api/v1/agent_instance/*/finish", status: 503),
    FaultRule(method: "POST", path: "/api/v1/agent_instance/*/record_quality", status: 503),
]

@Suite(.timeLimit(.minutes(2)))
struct DurableQueueTests {
    func configuration(_ server: TestServer, file: String, drain: Duration = .seconds(60)) -> PrefactorClient.Configuration {
        var configuration = coreConfiguration(server, drainTimeout: drain)
        configuration.queueFile = file
        return configuration
    }

    /// An agent queues every kind of operation while the API is down (children and finishes queued before their
    /// parent's create was delivered, a cancel-unstarted, a quality record, the instance finish) and stops; a new
    /// client on the same file delivers all of it, each once, with the right statuses and parents (with bulk requests
    /// for the restored creates, or without).
    @Test(arguments: [true, false], [0, 50])
    func aNewClientOnTheFileDeliversWhatAnEarlierOneLeft(coalesce: Bool, bulk: Int) async throws {
        let file = temporaryQueuePath()
        try await withTestServer { server in
            for rule in queuedRoutesDown { server.faults.add(rule) }
            var first = configuration(server, file: file, drain: .milliseconds(100))
            first.coalesceSpanFinishes = coalesce
            let (instanceID, report) = try await withRunningClient(first) { client in
                let run = try await client.createAgentInstance(
                    agentVersion: testAgentVersion, agentSchemaVersion: qualitySchemaVersion)
                try await run.start()
                try await run.span("agent:plan", payload: ["step": 1]) { plan in
                    let child = try await run.createSpan(schemaName: "llm:chat", payload: ["model": "m"])
                    try await run.finishSpan(child, resultPayload: ["answer": 42], status: .failed)
                    try await plan.complete(["done": true])
                }
                let never = client.spanManager.prepare(instanceID: run.id, schemaName: "tool:call")
                try await client.spanManager.cancelUnstarted(never)
                try await run.recordQuality(name: "accuracy", payload: ["score": 0.5])
                try await run.finish(status: .complete)
                try await eventually("an attempt failed and waits to retry") { client.snapshot().queue.retrying > 0 }
                return run.id
            }
            #expect(report.undelivered.count >= 8, "everything but register waited: \(report.undelivered.count)")
            #expect(report.failed.isEmpty)
            let inFile = try SQLiteTelemetryQueueStore.inspect(path: file).entries()
            #expect(inFile.count == report.undelivered.count, "the file holds exactly what was not delivered")
            #expect(Set(inFile.map(\.idempotencyKey)) == Set(report.undelivered.map(\.idempotencyKey)))
            #expect(
                inFile.contains { $0.attempts > 0 && $0.lastError?.contains("503") == true },
                "failed attempts are recorded for inspection: \(inFile.map { "\($0.attempts) \($0.lastError ?? "-")" })")

            server.faults.removeAll()
            var restarted = configuration(server, file: file)
            restarted.bulkMaxItems = bulk
            // No attempt may time out on a loaded machine: one that did would be answered twice (the second time from
            // the idempotency record, under the same key), and the count of accepted writes below would not hold.
            restarted.api.requestTimeout = .seconds(60)
            let (notices, second) = try await withRunningClient(restarted) { client in
                try await eventually("the recovered backlog drains") { client.snapshot().queue.depth == 0 }
                return client.queueNotices
            }
            #expect(notices.contains(.recovered(path: file, count: report.undelivered.count)))
            #expect(second.isComplete, "\(second)")
            #expect(second.deliveredCount <= report.undelivered.count)

            let spans = try await serverSpans(server, instanceID: instanceID)
            let bySchema = Dictionary(grouping: spans, by: \.schemaName)
            #expect(spans.count == 3, "each span created once")
            #expect(bySchema["agent:plan"]?.first?.status == .complete)
            #expect(bySchema["llm:chat"]?.first?.status == .failed)
            #expect(bySchema["llm:chat"]?.first?.parentSpanID == bySchema["agent:plan"]?.first?.id)
            #expect(bySchema["tool:call"]?.first?.status == .cancelled)
            let instance = try await inspector(server).agentInstance(id: instanceID)
            #expect(instance.status == .complete)
            #expect(instance.qualityPayloads?["accuracy"] != nil)
            // Every successful write went out under one of the operations' original keys: no new key, no duplicate.
            let accepted = server.posts().filter { $0.status == 200 && !$0.path.hasSuffix("/register") }
            #expect(accepted.count <= report.undelivered.count, "no operation went out twice")
            #expect(!accepted.isEmpty)
            #expect(try SQLiteTelemetryQueueStore.inspect(path: file).entries().isEmpty, "the file is empty once delivered")
            let keys = report.undelivered.map(\.idempotencyKey)
            #expect(Set(keys).count == keys.count)
        }
    }

    /// The API id of a delivered parent is recorded with its settlement, so a child and a finish queued after it
    /// are delivered by the next client, which never saw the parent's create.
    @Test func recordedAPIIdsResolveAfterARestart() async throws {
        let file = temporaryQueuePath()
        try await withTestServer { server in
            let (ids, report) = try await withRunningClient(configuration(server, file: file, drain: .milliseconds(100))) {
                client in
                let run = try await registerInstance(client)
                try await run.start()
                let parent = try await run.createSpan(schemaName: "agent:plan")
                try await eventually("the parent is created") { client.spanManager.span(withID: parent)?.apiID != nil }
                for rule in queuedRoutesDown { server.faults.add(rule) }
                let child = try await client.spanManager.create(instanceID: run.id, schemaName: "llm:chat", parentSpanID: parent)
                try await run.finishSpan(child)
                try await run.finishSpan(parent)
                return (run.id, client.spanManager.span(withID: parent)?.apiID)
            }
            #expect(report.undelivered.count == 3)
            server.faults.removeAll()
            let (_, second) = try await withRunningClient(configuration(server, file: file)) { client in
                try await eventually("the recovered backlog drains") { client.snapshot().queue.depth == 0 }
            }
            #expect(second.isComplete)
            let spans = try await serverSpans(server, instanceID: ids.0)
            #expect(spans.count == 2)
            #expect(spans.allSatisfy { $0.status == .complete })
            #expect(spans.first { $0.schemaName == "llm:chat" }?.parentSpanID == ids.1)
        }
    }

    @Test func aSecondOwnerIsRefusedWithAClearErrorAndInspectionStillWorks() throws {
        let file = temporaryQueuePath()
        let owner = try SQLiteTelemetryQueueStore(path: file)
        owner.apply(StoreChanges(persist: [sampleOperation(1)]))
        do {
            _ = try SQLiteTelemetryQueueStore(path: file)
            Issue.record("a second owner was accepted")
        } catch {
            #expect(error.code == .queueFileInUse)
            #expect(error.message.contains("\(getpid())"), "names the owner: \(error.message)")
            #expect(error.message.contains("prefactor queue show"))
        }
        #expect(SQLiteTelemetryQueueStore.isOwned(path: file))
        let reader = try SQLiteTelemetryQueueStore.inspect(path: file)
        #expect(try reader.entries().map(\.id) == [1])
        #expect(reader.owner()?.pid == getpid())
        #expect(throws: PrefactorError.self) { try reader.drop([1], reason: "read-only") }
        _ = owner
    }

    @Test func aDamagedFileIsMovedAsideAndANewOneStarted() throws {
        let file = temporaryQueuePath()
        try Data("this is not a database, just some bytes that happen to be here".utf8).write(to: URL(fileURLWithPath: file))
        let store = try SQLiteTelemetryQueueStore(path: file)
        guard case .fileReplaced(let path, let movedTo, _) = try #require(store.openingNotices.first) else {
            Issue.record("no notice: \(store.openingNotices)")
            return
        }
        #expect(path == file)
        #expect(FileManager.default.fileExists(atPath: movedTo), "the damaged file is kept, never deleted")
        store.apply(StoreChanges(persist: [sampleOperation(7)]))
        #expect(store.count == 1)
    }

    @Test func unreadableRecordsAreSkippedAndCounted() throws {
        let file = temporaryQueuePath()
        do {
            let store = try SQLiteTelemetryQueueStore(path: file)
            store.apply(StoreChanges(persist: [sampleOperation(1), sampleOperation(2), sampleOperation(3)]))
        }
        // A record torn in the middle of its body.
        try damageBody(of: 2, in: file)
        let store = try SQLiteTelemetryQueueStore(path: file)
        let recovered = store.recover()
        #expect(recovered.operations.map(\.id) == [1, 3])
        #expect(recovered.skipped == 1)
    }

    @Test func aFullQueueRefusesNewOperationsWithAnErrorAndAnEvent() async throws {
        try await withTestServer { server in
            for rule in queuedRoutesDown { server.faults.add(rule) }
            var configuration = coreConfiguration(server, drainTimeout: .milliseconds(50))
            configuration.maxQueuedOperations = 3
            _ = try await withRunningClient(configuration) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                try await run.start()
                _ = try await run.createSpan(schemaName: "a")
                _ = try await run.createSpan(schemaName: "b")
                do {
                    _ = try await run.createSpan(schemaName: "c")
                    Issue.record("a fourth operation was accepted")
                } catch let error as PrefactorError {
                    #expect(error.code == .queueFull)
                    #expect(error.message.contains("3 operations"))
                }
                try await eventually("the refusal is published") {
                    recorder.events.contains(.queueNotice(.full(limit: 3)))
                }
                #expect(client.snapshot().queue.depth == 3, "nothing queued was dropped")
            }
        }
    }

    @Test func aQueueFullOfBytesRefusesNewOperationsWithAnErrorAndAnEvent() async throws {
        let file = temporaryQueuePath()
        try await withTestServer { server in
            for rule in queuedRoutesDown { server.faults.add(rule) }
            var configuration = configuration(server, file: file, drain: .milliseconds(50))
            configuration.maxQueuedBytes = 64 << 10
            _ = try await withRunningClient(configuration) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                try await run.start()
                let prompt: JSONValue = .string(String(repeating: "p", count: 20_000))
                var accepted = 0
                do {
                    for _ in 0..<10 {
                        _ = try await run.createSpan(schemaName: "agent:llm", payload: ["prompt": prompt])
                        accepted += 1
                    }
                    Issue.record("ten 20 KB spans fitted in 64 KiB")
                } catch let error as PrefactorError {
                    #expect(error.code == .queueFull)
                    #expect(error.message.contains("64 KiB"), "\(error.message)")
                }
                #expect(accepted == 3)
                try await eventually("the refusal is published") {
                    recorder.events.contains(.queueNotice(.fullOfBytes(limit: 64 << 10)))
                }
                #expect(client.snapshot().queue.depth == 4, "nothing queued was dropped")
                #expect(try SQLiteTelemetryQueueStore.inspect(path: file).entries().count == 4)
            }
        }
    }

    /// Each item of a bulk request is settled in the file as its own request would be: the delivered ones leave it,
    /// the refused one stays with its reason (after a failed attempt of the whole request, retried).
    @Test func theFileKeepsEachItemOfABulkRequestRight() async throws {
        let file = temporaryQueuePath()
        try await withTestServer { server in
            var settings = configuration(server, file: file)
            settings.bulkMaxItems = 50
            let (_, report) = try await withRunningClient(settings) { client in
                let run = try await slowlyStartedInstance(client, server)
                server.faults.add(FaultRule(method: "POST", path: "/api/v1/bulk", status: 503, count: 1))
                _ = try await run.createSpan(schemaName: "agent:first")
                _ = try await run.createSpan(schemaName: "agent:orphan", parentSpanID: "sp_no_such_parent")
                _ = try await run.createSpan(schemaName: "agent:third")
                try await drained(client)
            }
            #expect(report.failed.count == 1)
            let entries = try SQLiteTelemetryQueueStore.inspect(path: file).entries()
            #expect(entries.count == 1, "the delivered items left the file")
            #expect(entries.first?.failedReason?.contains("parent_span_id") == true, "\(entries)")
        }
    }

    @Test func failedOperationsStayInTheFileUntilDropped() async throws {
        let file = temporaryQueuePath()
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 422))
            let (_, report) = try await withRunningClient(configuration(server, file: file)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                _ = try await run.createSpan(schemaName: "rejected")
            }
            #expect(report.failed.count == 1)
            let store = try SQLiteTelemetryQueueStore(path: file)
            let entries = try store.entries()
            #expect(entries.count == 1)
            #expect(entries.first?.failedReason?.contains("422") == true)
            #expect(store.recover().operations.isEmpty, "a failed operation is not sent again")
            let dropped = try store.drop(entries.map(\.id), reason: "operator")
            #expect(dropped == entries.map(\.id))
            #expect(try store.entries().isEmpty)
            #expect(store.droppedCount() == 1)
        }
    }

    @Test func aRunningClientDiscardsOnlyFailedOperationsFromItsFile() async throws {
        let file = temporaryQueuePath()
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 422))
            let (_, report) = try await withRunningClient(configuration(server, file: file)) { client in
                #expect(client.queueFilePath == file)
                let run = try await registerInstance(client)
                try await run.start()
                _ = try await run.createSpan(schemaName: "rejected")
                try await eventually("the create failed for good") { client.snapshot().queue.failed > 0 }
                let failed = try SQLiteTelemetryQueueStore.inspect(path: file).entries().filter { $0.failedReason != nil }.map(
                    \.id)
                #expect(failed.count == 1)
                #expect(try client.discardFailed(operationIDs: failed + [999_999], reason: "operator") == failed)
                #expect(try SQLiteTelemetryQueueStore.inspect(path: file).entries().allSatisfy { $0.failedReason == nil })
            }
            #expect(report.failed.count == 1)
            let store = try SQLiteTelemetryQueueStore(path: file)
            #expect(try store.entries().isEmpty)
            #expect(store.droppedCount() == 1)
        }
    }

    @Test func aClientWithItsQueueInMemoryHasNoFileToDiscardFrom() throws {
        let client = try PrefactorClient(
            configuration: PrefactorClient.Configuration(
                api: APIClient.Configuration(apiURL: "http://127.0.0.1:9", apiToken: "t")))
        #expect(client.queueFilePath == nil)
        #expect(try client.discardFailed(operationIDs: [1], reason: "operator").isEmpty)
    }

    @Test func aFailedWriteToTheFileIsPublishedAndTheOperationStillDelivered() async throws {
        let file = temporaryQueuePath()
        try await withTestServer { server in
            let (events, report) = try await withRunningClient(configuration(server, file: file)) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                // Another connection breaks the file under the client, and the start waits (the API refuses it),
                // so the log's copy of it has to be applied to the broken file.
                try await DatabaseQueue(path: file).write { db in try db.execute(sql: "DROP TABLE operations") }
                for rule in queuedRoutesDown { server.faults.add(rule) }
                try await run.start()
                try await eventually("the failed write is published") {
                    recorder.events.contains { if case .queueNotice(.writeFailed(path: file, _)) = $0 { true } else { false } }
                }
                server.faults.removeAll()
                try await eventually("the start is delivered from memory") { client.snapshot().queue.delivered == 1 }
                return recorder.events
            }
            #expect(report.isComplete)
            #expect(!events.isEmpty)
        }
    }

    @Test func theEnvironmentChoosesTheQueueFile() throws {
        let environment = [
            "PREFACTOR_API_URL": "http://127.0.0.1:1", "PREFACTOR_API_TOKEN": "t", "PREFACTOR_QUEUE_FILE": "/tmp/q.sqlite",
            "PREFACTOR_QUEUE_SYNC": "full", "PREFACTOR_QUEUE_MAX_OPERATIONS": "500", "PREFACTOR_QUEUE_PAYLOAD_MEMORY": "4MiB",
        ]
        let configuration = try PrefactorClient.Configuration.fromEnvironment(environment)
        #expect(configuration.queuePayloadMemory == 4 << 20)
        var noPayloads = environment
        noPayloads["PREFACTOR_QUEUE_PAYLOAD_MEMORY"] = "0"
        #expect(try PrefactorClient.Configuration.fromEnvironment(noPayloads).queuePayloadMemory == 0)
        noPayloads["PREFACTOR_QUEUE_PAYLOAD_MEMORY"] = "lots"
        #expect(throws: PrefactorError.self) { try PrefactorClient.Configuration.fromEnvironment(noPayloads) }
        #expect(configuration.queueFile == "/tmp/q.sqlite")
        #expect(configuration.queueDurability == .powerLoss)
        #expect(configuration.maxQueuedOperations == 500)
        var bad = environment
        bad["PREFACTOR_QUEUE_SYNC"] = "sometimes"
        #expect(throws: PrefactorError.self) { try PrefactorClient.Configuration.fromEnvironment(bad) }
        let defaults = PrefactorClient.Configuration(api: .init(apiURL: "http://127.0.0.1:1", apiToken: "t"))
        #expect(defaults.queueFile == nil)
        #expect(defaults.queuePayloadMemory == 1 << 20)
    }
}

func sampleOperation(_ id: UInt64) -> TelemetryOperation {
    TelemetryOperation(
        id: id, instanceID: "inst", body: .recordQuality(name: "q", payload: ["n": .int(Int64(id))]),
        idempotencyKey: "key-\(id)", enqueuedAt: Date(timeIntervalSince1970: 1_700_000_000))
}

/// Cuts an operation's body in half, as a torn write would leave it.
func damageBody(of id: UInt64, in file: String) throws {
    try DatabaseQueue(path: file).write { db in
        try db.execute(sql: "UPDATE operations SET body = substr(body, 1, length(body) / 2) WHERE id = ?", arguments: [Int64(id)])
    }
}
