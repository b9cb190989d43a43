import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Guarantee 4: every operation keeps one idempotency key across all its retries, so a retry whose first attempt
/// did reach the server is replayed there rather than applied twice.
///
/// The request log does not keep bodies, so keys are checked through the server: an attempt that times out on the
/// client while the server still processes it (a latency fault longer than the request timeout) is followed by a
/// retry; with the same key the server replays its answer, with another key it would apply the call twice.
@Suite(.timeLimit(.minutes(2)))
struct IdempotencyTests {
    /// Attempts time out after 4 s on the client; the slow attempts of the tests take 10 s.
    func impatientConfiguration(_ server: TestServer) -> PrefactorClient.Configuration {
        var configuration = coreConfiguration(server)
        configuration.api.requestTimeout = .seconds(4)  // generous: a loaded 2-core machine must still answer in time
        // Register is a direct call: let it retry, so a slow moment of a loaded machine does not fail the test setup.
        configuration.api.retryPolicy.maxRetries = 3
        return configuration
    }

    @Test func aRetriedCreateWhoseFirstAttemptWasProcessedCreatesOneSpan() async throws {
        try await withTestServer { server in
            let (instanceID, report) = try await withRunningClient(impatientConfiguration(server)) { client in
                let run = try await registerInstance(client)
                // The first create is processed only after the client gave up on it.
                server.faults.add(FaultRule(method: "POST", path: spansPath, count: 1, latencyMilliseconds: 10_000))
                let span = try await run.createSpan(schemaName: "agent:once")
                try await run.finishSpan(span)
                // Both attempts were processed by the server (the slow one after the retry).
                try await eventually("the server answered both attempts") {
                    server.posts(spansPath).filter(isSpanCreate).count == 2
                }
                try await eventually("the span is finished") { client.snapshot().queue.depth == 0 }
                return run.id
            }
            #expect(report.isComplete)
            // Under load more attempts may time out; however many the server processed, they were one call.
            let creates = server.posts(spansPath).filter(isSpanCreate).map(\.status)
            #expect(creates.count >= 2 && creates.allSatisfy { $0 == 200 }, "\(creates)")
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.count == 1, "the retry was replayed, not applied again")
            #expect(spans.first?.status == .complete)
        }
    }

    @Test func aRetriedInstanceStartIsReplayedNotRejected() async throws {
        try await withTestServer { server in
            let (instanceID, report) = try await withRunningClient(impatientConfiguration(server)) { client in
                let run = try await registerInstance(client)
                server.faults.add(
                    FaultRule(method: "POST", path: instancePath(run.id, "start"), count: 1, latencyMilliseconds: 10_000))
                try await run.start()
                try await eventually("the server answered both attempts") {
                    server.posts(instancePath(run.id, "start")).count == 2
                }
                try await eventually("the start settled") { client.snapshot().queue.depth == 0 }
                return run.id
            }
            // A second start with a new key would get 409 (the instance is already active) and fail.
            #expect(report.isComplete, "\(report.failed.map(\.reason))")
            let starts = server.posts(instancePath(instanceID, "start")).map(\.status)
            #expect(starts.count >= 2 && starts.allSatisfy { $0 == 200 }, "\(starts)")
        }
    }

    @Test func droppedConnectionsNeverDuplicateSpans() async throws {
        try await withTestServer { server in
            let (instanceID, report) = try await withRunningClient(coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                server.faults.add(FaultRule(method: "POST", path: spansPath, count: 4, dropConnection: true))
                for index in 0..<4 {
                    let span = try await run.createSpan(schemaName: "agent:s\(index)")
                    try await run.finishSpan(span)
                }
                try await run.finish()
                return run.id
            }
            #expect(report.isComplete)
            #expect(server.posts(spansPath).filter(isSpanCreate).filter { $0.status == 0 }.count == 4)
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            #expect(spans.count == 4)
        }
    }

    @Test func explicitKeysAreSentOnEveryAttempt() async throws {
        try await withTestServer { server in
            let api = try inspector(server)
            let startKey = "start-" + UUID().uuidString
            let finishKey = "finish-" + UUID().uuidString
            let spanFinishKey = "span-finish-" + UUID().uuidString
            let ((instanceID, spanAPIID), report) = try await withRunningClient(coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                // Each call fails twice before it gets through.
                server.faults.add(FaultRule(method: "POST", path: instancePath(run.id, "*"), status: 503, count: 2))
                server.faults.add(FaultRule(method: "POST", path: spansPath + "/*/finish", status: 502, count: 2))
                try await client.instanceManager.start(run.id, idempotencyKey: startKey)
                let span = try await run.createSpan(schemaName: "agent:keyed")
                try await client.spanManager.finish(span, status: .failed, idempotencyKey: spanFinishKey)
                try await eventually("the span is finished") { client.snapshot().queue.depth == 0 }
                server.faults.add(FaultRule(method: "POST", path: instancePath(run.id, "finish"), status: 503, count: 2))
                try await client.instanceManager.finish(run.id, status: .cancelled, idempotencyKey: finishKey)
                try await eventually("the instance is finished") { client.snapshot().queue.depth == 0 }
                return (run.id, try apiID(client, span))
            }
            #expect(report.isComplete)
            #expect(server.posts(instancePath(instanceID, "start")).map(\.status) == [503, 503, 200])
            #expect(server.posts(instancePath(instanceID, "finish")).map(\.status) == [503, 503, 200])
            // The server replays a key it has seen (same answer, no 409); a new key is a new (conflicting) call.
            #expect(try await api.startAgentInstance(id: instanceID, idempotencyKey: startKey).status == .active)
            let replayedFinish = try await api.finishAgentInstance(id: instanceID, status: .cancelled, idempotencyKey: finishKey)
            #expect(replayedFinish.status == .cancelled)
            let replayedSpan = try await api.finishSpan(id: spanAPIID, status: .failed, idempotencyKey: spanFinishKey)
            #expect(replayedSpan.span.status == .failed)
            await #expect(throws: PrefactorHTTPError.self) {
                try await api.finishAgentInstance(id: instanceID, status: .cancelled, idempotencyKey: "another-key")
            }
            await #expect(throws: PrefactorHTTPError.self) {
                try await api.finishSpan(id: spanAPIID, status: .failed, idempotencyKey: "another-key")
            }
        }
    }

    @Test func everyOperationHasItsOwnKeyAndKeepsItWhileRetrying() async throws {
        try await withTestServer { server in
            let ((recorder, retrying), report) = try await withRunningClient(coreConfiguration(server)) { client in
                let recorder = EventRecorder(client.events())
                let run = try await client.createAgentInstance(
                    agentVersion: testAgentVersion, agentSchemaVersion: qualitySchemaVersion)
                server.faults.add(FaultRule(method: "POST", path: instancePath(run.id, "start"), status: 503))
                try await run.start()
                try await run.recordQuality(name: "accuracy", payload: ["score": 1])
                try await run.span("agent:a") { _ in
                    try await run.span("agent:b") { span in try await span.cancel() }
                }
                try await run.finish()
                // While the start is retrying, it is the very operation it was enqueued as, key included.
                try await eventually("the start is retrying") { client.snapshot().queue.retrying > 0 }
                let retrying = client.snapshot().operations.filter {
                    if case .retrying = $0.state { true } else { false }
                }
                try await eventually("the start was retried") { server.posts(instancePath(run.id, "start")).count >= 3 }
                server.faults.removeAll()
                return (recorder, retrying.map(\.operation))
            }
            #expect(report.isComplete)
            let events = await recorder.finished()
            let enqueued = events.compactMap { event -> TelemetryOperation? in
                if case .operationEnqueued(let snapshot) = event { return snapshot.operation }
                return nil
            }
            // start, quality, create a, create b (pending), finish b (cancelled), finish a, finish instance
            #expect(
                enqueued.map(\.kind) == [
                    .startInstance, .recordQuality, .createSpan, .createSpan, .finishSpan, .finishSpan, .finishInstance,
                ])
            #expect(Set(enqueued.map(\.idempotencyKey)).count == enqueued.count, "one key per operation")
            #expect(enqueued.allSatisfy { !$0.idempotencyKey.isEmpty && $0.idempotencyKey.count <= 64 })
            let byID = Dictionary(uniqueKeysWithValues: enqueued.map { ($0.id, $0) })
            #expect(retrying.map(\.kind) == [.startInstance])
            for operation in retrying {
                #expect(byID[operation.id] == operation)
            }
        }
    }
}
