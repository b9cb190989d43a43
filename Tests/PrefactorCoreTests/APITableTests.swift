import Foundation
import Logging
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Synchronization
import Testing

/// Expects `body` to throw a ``PrefactorError`` with `code`.
func expectError(
    _ code: PrefactorError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("Expected PrefactorError.\(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as PrefactorError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("Expected PrefactorError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// `prepare` is not `async`: this compiles only while it stays synchronous.
func prepareSynchronously(_ manager: SpanManager, instanceID: String, schemaName: String) -> String {
    manager.prepare(instanceID: instanceID, schemaName: schemaName)
}

/// Every row of the public API table, and the typed errors, against the real server.
@Suite(.timeLimit(.minutes(1)))
struct APITableTests {
    // MARK: Client

    @Test func clientInitValidatesTheConfiguration() throws {
        let api = APIClient.Configuration(apiURL: "http://127.0.0.1:9", apiToken: "token")
        let logger = Logger(label: "test")
        let client = try PrefactorClient(configuration: .init(api: api), logger: logger)
        #expect(client.configuration.workers == 3)
        #expect(client.configuration.spanStartMode == .queued)
        #expect(!client.isShutDown)
        let invalid: [PrefactorClient.Configuration] = [
            .init(api: api, workers: 0), .init(api: api, workers: 21), .init(api: api, maxDeliveryAttempts: 0),
            .init(api: api, drainTimeout: .seconds(-1)), .init(api: api, terminationPollInterval: .zero),
            .init(api: api, maintenanceInterval: .zero),
            .init(api: APIClient.Configuration(apiURL: "http://127.0.0.1:9", apiToken: "")),
        ]
        for configuration in invalid {
            do {
                _ = try PrefactorClient(configuration: configuration)
                Issue.record("an invalid configuration was accepted")
            } catch {
                #expect(error.code == .invalidConfiguration)
            }
        }
    }

    @Test func withPrefactorClientReturnsTheBodysValueAndDrainsWhenTheBodyThrows() async throws {
        try await withTestServer { server in
            // A body that returns at once (before the client's task got to run) is fine too.
            for attempt in 0..<10 {
                let value = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                    #expect(!client.isShutDown)
                    return attempt
                }
                #expect(value == attempt)
            }

            let instanceID = UUID().uuidString.lowercased()
            await #expect(throws: Boom.self) {
                try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                    let run = try await client.createAgentInstance(
                        agentVersion: testAgentVersion, agentSchemaVersion: [:], instanceID: instanceID)
                    try await run.start()
                    let span = try await run.createSpan(schemaName: "agent:before-throw")
                    try await run.finishSpan(span)
                    throw Boom()
                }
            }
            // The queue was drained before the error was rethrown.
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.map(\.status) == [.complete])
            #expect(try await inspector(server).agentInstance(id: instanceID).status == .active)
        }
    }

    @Test func withPrefactorClientRejectsABadTokenBeforeRunningTheBody() async throws {
        try await withTestServer { server in
            var configuration = coreConfiguration(server)
            configuration.api.apiToken = "wrong-token"
            let ran = Mutex(false)
            await expectError(.api) {
                try await withPrefactorClient(configuration: configuration) { _ in ran.withLock { $0 = true } }
            }
            #expect(!ran.withLock { $0 })
        }
    }

    /// A caller that starts `run()` in a task and shuts down before the task began has nothing to race: `run()` then
    /// returns at once (once it ran, a second `run()` is still refused).
    @Test func runAfterAShutdownBeforeRunningReturnsAtOnce() async throws {
        let configuration = PrefactorClient.Configuration(api: .init(apiURL: "http://127.0.0.1:9", apiToken: "t"))
        let client = try PrefactorClient(configuration: configuration)
        let report = await client.shutdown()
        #expect(report.isComplete)
        try await client.run()
        #expect(client.isShutDown)
    }

    @Test func runAndShutdownLifecycle() async throws {
        try await withTestServer { server in
            let client = try PrefactorClient(configuration: coreConfiguration(server))
            let runners = [Task { try await client.run() }, Task { try await client.run() }]
            let run = try await registerInstance(client)
            try await run.start()
            // Delivery proves that one run() is running before the shutdown.
            try await eventually("the start is delivered") { client.snapshot().queue.delivered == 1 }
            let first = await client.shutdown()
            let second = await client.shutdown()
            var refused = 0
            for runner in runners {
                do {
                    try await runner.value
                } catch let error as PrefactorError {
                    #expect(error.code == .clientAlreadyRunning)
                    refused += 1
                }
            }
            #expect(refused == 1, "a second run() is refused")
            #expect(first == second, "shutdown is safe to call again and reports the same")
            #expect(first.isComplete)
            #expect(client.isShutDown)
        }
    }

    @Test func aClientThatNeverRanReportsItsQueueOnShutdown() async throws {
        try await withTestServer { server in
            let client = try PrefactorClient(configuration: coreConfiguration(server))
            let run = try await registerInstance(client)
            try await run.start()
            let span = try await run.createSpan(schemaName: "agent:never-sent")
            let report = await client.shutdown()
            #expect(report.undelivered.map(\.kind) == [.startInstance, .createSpan])
            #expect(report.undelivered.last?.spanID == span)
            #expect(report.deliveredCount == 0)
            #expect(server.posts(spansPath).isEmpty)
        }
    }

    // MARK: Instances

    @Test func instanceLifecycleThroughTheHandle() async throws {
        try await withTestServer { server in
            let api = try inspector(server)
            let chosenID = "ai-" + UUID().uuidString.lowercased()
            _ = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let run = try await client.createAgentInstance(
                    agentVersion: testAgentVersion, agentSchemaVersion: qualitySchemaVersion, instanceID: chosenID,
                    purpose: .eval)
                // Register is synchronous: the server has the instance when createAgentInstance returns.
                #expect(run.id == chosenID)
                let registered = try await api.agentInstance(id: run.id)
                #expect(registered.status == .pending)
                #expect(registered.purpose == .eval)
                #expect(server.posts("/api/v1/agent_instance/register").count == 1)
                #expect(run.snapshot?.phase == .registered)
                #expect(client.instance(withID: run.id) == run)
                #expect(client.instance(withID: "unknown") == nil)

                try await run.start()
                try await run.start()  // a no-op
                #expect(run.snapshot?.phase == .active)
                try await run.recordQuality(name: "accuracy", payload: ["score": 0.9])
                #expect(run.snapshot?.quality["accuracy"] == ["score": 0.9])
                try await eventually("start and quality are delivered") { client.snapshot().queue.depth == 0 }
                let active = try await api.agentInstance(id: run.id)
                #expect(active.status == .active)
                #expect(active.qualityPayloads?["accuracy"] == ["score": 0.9])

                try await run.recordQuality(name: "accuracy", payload: nil)
                try await run.finish(status: .failed)
                #expect(run.snapshot?.phase == .failed)
                return ()
            }
            let finished = try await api.agentInstance(id: chosenID)
            #expect(finished.status == .failed)
            #expect(finished.qualityPayloads?["accuracy"] == nil, "a nil payload removes the record")
            #expect(server.posts(instancePath(chosenID, "start")).count == 1, "starting twice sends one start")
        }
    }

    @Test func instanceManagerRows() async throws {
        try await withTestServer { server in
            let api = try inspector(server)
            let ids = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let manager = client.instanceManager
                let first = try await manager.register(
                    agentID: nil, agentVersion: testAgentVersion, agentSchemaVersion: qualitySchemaVersion)
                try await manager.start(first)
                try await manager.recordQuality(first, name: "accuracy", payload: ["score": 1])
                try await manager.finish(first)
                let second = try await manager.register(
                    agentID: nil, agentVersion: testAgentVersion, agentSchemaVersion: [:], environmentID: nil)
                try await manager.start(second, idempotencyKey: "start-key-\(second)")
                try await manager.finish(second, status: .cancelled, idempotencyKey: "finish-key-\(second)")
                return (first, second)
            }
            let first = try await api.agentInstance(id: ids.0)
            #expect(first.status == .complete, "finish defaults to complete")
            #expect(first.qualityPayloads?["accuracy"] == ["score": 1])
            #expect(try await api.agentInstance(id: ids.1).status == .cancelled)
        }
    }

    // MARK: Spans through the handle

    @Test func handleSpanRows() async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                let manual = try await run.createSpan(schemaName: "agent:manual", payload: ["input": "x"])
                try await run.finishSpan(manual, resultPayload: ["output": "y"], status: .failed)
                let defaults = try await run.createSpan(schemaName: "agent:defaults")
                try await run.finishSpan(defaults)
                let value = try await run.span("agent:closure", payload: ["p": 1]) { span -> String in
                    span.setResult(["a": 1, "b": 1])
                    span.setResult(["b": 2])
                    return "returned"
                }
                #expect(value == "returned", "span returns the body's value")
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            #expect(spans["agent:manual"]?.payload == ["input": "x"])
            #expect(spans["agent:manual"]?.resultPayload == ["output": "y"])
            #expect(spans["agent:manual"]?.status == .failed)
            #expect(spans["agent:defaults"]?.status == .complete)
            #expect(spans["agent:defaults"]?.resultPayload == nil, "no result is sent when none was given")
            let closure = try #require(spans["agent:closure"])
            #expect(closure.status == .complete, "a body that returns completes the span")
            #expect(closure.payload == ["p": 1], "an implicit start uses the span's payload")
            #expect(closure.resultPayload == ["a": 1, "b": 2], "setResult merges, later values win")
        }
    }

    // MARK: SpanContext

    @Test(arguments: [false, true])
    func spanContextRows(coalesce: Bool) async throws {
        try await withTestServer { server in
            let (instanceID, recorder) = try await withPrefactorClient(
                configuration: coreConfiguration(server, coalesce: coalesce)
            ) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                try await run.start()
                try await run.span("agent:explicit", payload: ["ignored": true]) { span in
                    #expect(client.spanManager.span(withID: span.id)?.phase == .prepared)
                    #expect(!span.isStarted)
                    try await span.start(payload: ["given": true])
                    try await span.start(payload: ["again": true])  // a no-op
                    #expect(span.isStarted)
                    #expect(client.spanManager.span(withID: span.id)?.phase == .active)
                    span.setResult(["kept": 1])
                    try await span.complete(["done": true])
                    #expect(span.isFinished)
                    try await span.fail(["too": "late"])  // a no-op: finishing is idempotent
                    try await span.cancel()  // a no-op
                }
                try await run.span("agent:failed") { span in
                    try await span.start()
                    try await span.fail(["reason": "bad input"])
                }
                try await run.span("agent:cancelled-after-start") { span in
                    try await span.start()
                    try await span.cancel()
                }
                try await run.span("agent:complete-unstarted", payload: ["implicit": true]) { span in
                    try await span.complete()
                }
                try await run.finish()
                return (run.id, recorder)
            }
            let travelling = SendingRecord(await recorder.finished()).finishesSentWithTheirCreate.count
            if !coalesce { #expect(travelling == 0) }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            let explicit = try #require(spans["agent:explicit"])
            #expect(explicit.payload == ["given": true])
            #expect(explicit.status == .complete)
            #expect(explicit.resultPayload == ["kept": 1, "done": true])
            #expect(spans["agent:failed"]?.status == .failed)
            #expect(spans["agent:failed"]?.resultPayload == ["reason": "bad input"])
            #expect(spans["agent:cancelled-after-start"]?.status == .cancelled)
            #expect(spans["agent:complete-unstarted"]?.status == .complete)
            #expect(spans["agent:complete-unstarted"]?.payload == ["implicit": true])
            // One create and one finish per span (or the finish sent with its create): the no-op calls sent nothing.
            #expect(server.posts(spansPath).filter(isSpanCreate).count == 4)
            #expect(server.posts(spansPath).filter { isSpanFinish($0) }.count == 4 - travelling)
        }
    }

    /// Guarantee 5: a throwing body fails the span (error in the result) and rethrows; unless already finished.
    @Test func aThrowingBodyFailsTheSpanAndRethrows() async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                await #expect(throws: Boom.self) {
                    try await run.span("agent:throws") { span in
                        try await span.start()
                        throw Boom()
                    }
                }
                await #expect(throws: Boom.self) {
                    try await run.span("agent:throws-unstarted") { _ in throw Boom() }
                }
                await #expect(throws: Boom.self) {
                    try await run.span("agent:completed-then-throws") { span in
                        try await span.complete(["ok": true])
                        throw Boom()
                    }
                }
                await #expect(throws: Boom.self) {
                    try await run.span("agent:cancelled-then-throws") { span in
                        try await span.cancel()
                        throw Boom()
                    }
                }
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            let failed = try #require(spans["agent:throws"])
            #expect(failed.status == .failed)
            #expect(failed.resultPayload?["error"] == "boom")
            #expect(failed.resultPayload?["error_type"] == "Boom")
            #expect(spans["agent:throws-unstarted"]?.status == .failed)
            #expect(spans["agent:throws-unstarted"]?.resultPayload?["error_type"] == "Boom")
            #expect(spans["agent:completed-then-throws"]?.status == .complete)
            #expect(spans["agent:completed-then-throws"]?.resultPayload == ["ok": true])
            #expect(spans["agent:cancelled-then-throws"]?.status == .cancelled)
        }
    }

    /// Guarantee 5: cancel before start creates the span `pending`, then finishes it `cancelled`, with two keys.
    @Test func cancelBeforeStartTakesTheCancelUnstartedPath() async throws {
        try await withTestServer { server in
            let (instanceID, recorder, localIDs) = try await withPrefactorClient(
                configuration: coreConfiguration(server)
            ) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                try await run.start()
                let viaContext = try await run.span("agent:context-cancel") { span in
                    try await span.cancel()
                    return span.id
                }
                let prepared = client.spanManager.prepare(instanceID: run.id, schemaName: "agent:manager-cancel")
                try await client.spanManager.cancelUnstarted(prepared)
                #expect(client.spanManager.span(withID: prepared)?.phase == .cancelled)
                try await run.finish()
                return (run.id, recorder, [viaContext, prepared])
            }
            let operations = await recorder.finished().compactMap { event -> TelemetryOperation? in
                if case .operationEnqueued(let snapshot) = event { return snapshot.operation }
                return nil
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            #expect(spans["agent:context-cancel"]?.status == .cancelled)
            #expect(spans["agent:manager-cancel"]?.status == .cancelled)
            for localID in localIDs {
                let own = operations.filter { $0.spanID == localID }
                #expect(own.map(\.kind) == [.createSpan, .finishSpan])
                guard own.count == 2 else { continue }
                if case .createSpan(_, _, _, let status, let payload, _) = own[0].body {
                    #expect(status == .pending)
                    #expect(payload.isEmpty)
                } else {
                    Issue.record("the first operation is not a create")
                }
                if case .finishSpan(_, let status, _, _) = own[1].body {
                    #expect(status == .cancelled)
                } else {
                    Issue.record("the second operation is not a finish")
                }
                #expect(own[0].idempotencyKey != own[1].idempotencyKey, "two different keys")
            }
        }
    }

    // MARK: SpanManager

    @Test func spanManagerRows() async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let manager = client.spanManager
                let run = try await registerInstance(client)
                try await run.start()
                try await eventually("the start is delivered") { client.snapshot().queue.depth == 0 }

                let prepared = prepareSynchronously(manager, instanceID: run.id, schemaName: "agent:prepared")
                let snapshot = try #require(manager.span(withID: prepared))
                #expect(snapshot.id == prepared)
                #expect(snapshot.phase == .prepared)
                #expect(snapshot.instanceID == run.id)
                #expect(snapshot.schemaName == "agent:prepared")
                #expect(client.snapshot().queue.depth == 0, "prepare queues nothing")

                let started = try await manager.start(prepared, payload: ["k": "v"])
                #expect(started == prepared, "queued start returns the local id")
                #expect(manager.span(withID: prepared)?.phase == .active)
                #expect(manager.span(withID: prepared)?.payload == ["k": "v"])
                try await manager.finish(prepared, resultPayload: ["r": 1], status: .complete)
                #expect(manager.span(withID: prepared)?.phase == .complete)
                #expect(manager.span(withID: prepared)?.resultPayload == ["r": 1])

                let created = try await manager.create(instanceID: run.id, schemaName: "agent:created", payload: ["c": 1])
                try await manager.finish(created, status: .cancelled)

                try await eventually("the spans are delivered") {
                    manager.span(withID: created)?.finishDelivered == true
                        && manager.span(withID: prepared)?.finishDelivered == true
                }
                let resolved = try apiID(client, prepared)
                #expect(resolved != prepared)
                #expect(manager.span(withID: resolved) == manager.span(withID: prepared), "API and local ids both work")
                #expect(manager.span(withID: resolved)?.createDelivered == true)
                #expect(manager.span(withID: "unknown") == nil)
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            #expect(spans["agent:prepared"]?.payload == ["k": "v"])
            #expect(spans["agent:prepared"]?.resultPayload == ["r": 1])
            #expect(spans["agent:created"]?.payload == ["c": 1])
            #expect(spans["agent:created"]?.status == .cancelled)
        }
    }

    // MARK: Typed errors

    @Test func typedErrors() async throws {
        try await withTestServer { server in
            _ = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let manager = client.spanManager
                let run = try await registerInstance(client)
                try await run.start()

                // Unknown span and instance ids.
                await expectError(.unknownSpan) { try await manager.finish("no-such-span") }
                await expectError(.unknownSpan) { try await manager.start("no-such-span") }
                await expectError(.unknownSpan) { try await manager.cancelUnstarted("no-such-span") }
                await expectError(.unknownSpan) { try await run.finishSpan("no-such-span") }
                await expectError(.unknownInstance) { try await client.instanceManager.start("no-such-instance") }
                await expectError(.unknownInstance) { try await client.instanceManager.finish("no-such-instance") }
                await expectError(.unknownInstance) {
                    try await client.instanceManager.recordQuality("no-such-instance", name: "accuracy", payload: [:])
                }

                // Wrong phase.
                let prepared = manager.prepare(instanceID: run.id, schemaName: "agent:prepared")
                await expectError(.notStarted) { try await manager.finish(prepared) }
                try await manager.start(prepared)
                await expectError(.alreadyStarted) { try await manager.start(prepared) }
                await expectError(.alreadyStarted) { try await manager.cancelUnstarted(prepared) }
                try await manager.finish(prepared)
                await expectError(.alreadyFinished) { try await manager.finish(prepared) }
                await expectError(.alreadyFinished) { try await run.finishSpan(prepared, status: .failed) }

                // Idempotency keys: at most 64 characters, not empty.
                let longest = String(repeating: "k", count: 64)
                let tooLong = longest + "k"
                let span = try await run.createSpan(schemaName: "agent:keys")
                await expectError(.invalidIdempotencyKey) { try await manager.finish(span, idempotencyKey: tooLong) }
                await expectError(.invalidIdempotencyKey) { try await manager.finish(span, idempotencyKey: "") }
                await expectError(.invalidIdempotencyKey) {
                    try await client.instanceManager.start(run.id, idempotencyKey: tooLong)
                }
                await expectError(.invalidIdempotencyKey) {
                    try await client.instanceManager.finish(run.id, idempotencyKey: tooLong)
                }
                #expect(manager.span(withID: span)?.phase == .active, "a rejected key changes nothing")
                try await manager.finish(span, idempotencyKey: longest)

                // Finishing an instance twice.
                try await run.finish()
                await expectError(.alreadyFinished) { try await run.finish() }
                await expectError(.alreadyFinished) { try await run.finish(status: .failed) }

                // No schema version and no registry.
                await expectError(.missingSchema) {
                    _ = try await client.createAgentInstance(agentVersion: testAgentVersion)
                }
                return ()
            }
        }
    }

    @Test func registerFailuresAreAPIErrorsWithTheHTTPError() async throws {
        try await withTestServer { server in
            _ = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_instance/register", status: 422, count: 1))
                do {
                    _ = try await registerInstance(client)
                    Issue.record("register should fail")
                } catch let error as PrefactorError {
                    #expect(error.code == .api)
                    #expect(error.underlying?.status == 422)
                }
                // A register failure does not affect the client.
                let run = try await registerInstance(client)
                try await run.start()
                return ()
            }
        }
    }

    @Test func aShutDownClientRefusesWork() async throws {
        try await withTestServer { server in
            let client = try PrefactorClient(configuration: coreConfiguration(server))
            let runner = Task { try await client.run() }
            let run = try await registerInstance(client)
            let open = try await run.createSpan(schemaName: "agent:open")
            let prepared = client.spanManager.prepare(instanceID: run.id, schemaName: "agent:prepared")
            await client.shutdown()
            try await runner.value
            #expect(client.isShutDown)
            await expectError(.clientShutDown) { _ = try await registerInstance(client) }
            await expectError(.clientShutDown) { try await run.start() }
            await expectError(.clientShutDown) { try await run.recordQuality(name: "accuracy", payload: [:]) }
            await expectError(.clientShutDown) { _ = try await run.createSpan(schemaName: "agent:late") }
            await expectError(.clientShutDown) { try await run.finishSpan(open) }
            await expectError(.clientShutDown) { try await client.spanManager.start(prepared) }
            await expectError(.clientShutDown) { try await client.spanManager.cancelUnstarted(prepared) }
            await expectError(.clientShutDown) { try await run.finish() }
            await expectError(.clientShutDown) { try await run.span("agent:late-closure") { _ in } }
        }
    }
}
