import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// `coalesceSpanFinishes`: a span finished before its create was sent goes out as one create with the final status.
@Suite(.timeLimit(.minutes(1)))
struct CoalescingTests {
    static let startPath = "/api/v1/agent_instance/*/start"

    func configuration(_ server: TestServer, coalesce: Bool) -> PrefactorClient.Configuration {
        var configuration = coreConfiguration(server)
        configuration.coalesceSpanFinishes = coalesce
        return configuration
    }

    /// Starts a run whose start request is slow, then starts and finishes a span while the start is in flight: the
    /// span's create waits for the start, and its finish is queued before the create can be sent.
    func spanFinishedWhileItsCreateWaits(
        _ client: PrefactorClient, _ server: TestServer, status: FinishStatus = .failed
    ) async throws -> (instance: String, span: String) {
        server.faults.add(FaultRule(method: "POST", path: Self.startPath, count: 1, latencyMilliseconds: 300))
        let run = try await registerInstance(client)
        try await run.start()
        let span = try await run.createSpan(schemaName: "agent:llm", payload: ["model": "gpt-4"])
        try await run.finishSpan(span, resultPayload: ["answer": 42], status: status)
        return (run.id, span)
    }

    @Test func aSpanFinishedBeforeItsCreateWentOutIsSentAsOneCreate() async throws {
        try await withTestServer { server in
            let ((instanceID, recorder), report) = try await withRunningClient(configuration(server, coalesce: true)) { client in
                let recorder = EventRecorder(client.events())
                let (instance, span) = try await spanFinishedWhileItsCreateWaits(client, server)
                try await eventually("the span is delivered") { client.spanManager.span(withID: span)?.finishDelivered == true }
                return (instance, recorder)
            }
            #expect(report.isComplete)
            #expect(report.deliveredCount == 3, "start, create and finish all count as delivered")
            #expect(server.posts(spansPath).filter(isSpanCreate).count == 1)
            #expect(server.posts(spansPath).filter { isSpanFinish($0) }.isEmpty)
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.count == 1)
            #expect(spans.first?.status == .failed)
            #expect(spans.first?.resultPayload == ["answer": 42])
            #expect(spans.first?.finishedAt != nil)
            let delivered = await recorder.finished().filter { if case .operationDelivered = $0 { true } else { false } }
            #expect(delivered.count == 3)
        }
    }

    @Test func onByDefault() throws {
        let api = APIClient.Configuration(apiURL: "http://127.0.0.1:9", apiToken: "token")
        #expect(PrefactorClient.Configuration(api: api).coalesceSpanFinishes)
    }

    /// A finish whose idempotency key the caller chose goes out as its own request, under that key.
    @Test func aFinishWithTheCallersKeyIsNeverCombined() async throws {
        try await withTestServer { server in
            let key = "caller-finish-" + UUID().uuidString.prefix(8)
            let (instanceID, report) = try await withRunningClient(configuration(server, coalesce: true)) { client in
                server.faults.add(FaultRule(method: "POST", path: Self.startPath, count: 1, latencyMilliseconds: 300))
                let run = try await registerInstance(client)
                try await run.start()
                let span = try await run.createSpan(schemaName: "agent:llm")
                try await client.spanManager.finish(span, resultPayload: ["answer": 1], status: .complete, idempotencyKey: key)
                let queued = client.snapshot().operations.map(\.operation)
                #expect(queued.first { $0.kind == .finishSpan }?.idempotencyKeyGiven == true)
                #expect(queued.first { $0.kind == .createSpan }?.idempotencyKeyGiven == false)
                try await eventually("the span is delivered") { client.spanManager.span(withID: span)?.finishDelivered == true }
                return run.id
            }
            #expect(report.isComplete)
            #expect(server.posts(spansPath).filter(isSpanCreate).count == 1)
            #expect(server.posts(spansPath).filter { isSpanFinish($0) }.count == 1)
            let stored = try #require(try await serverSpans(server, instanceID: instanceID).first)
            #expect(stored.status == .complete)
            // The API remembers the caller's key: finishing again under it replays the stored answer, not a 409.
            let again = try await inspector(server).finishSpan(
                id: stored.id, status: .complete, resultPayload: ["answer": 1], idempotencyKey: key)
            #expect(again.span.status == .complete)
        }
    }

    @Test func switchedOffTheSameSpanTakesACreateAndAFinish() async throws {
        try await withTestServer { server in
            let (instanceID, report) = try await withRunningClient(configuration(server, coalesce: false)) { client in
                let (instance, span) = try await spanFinishedWhileItsCreateWaits(client, server)
                try await eventually("the span is delivered") { client.spanManager.span(withID: span)?.finishDelivered == true }
                return instance
            }
            #expect(report.isComplete)
            #expect(server.posts(spansPath).filter(isSpanCreate).count == 1)
            #expect(server.posts(spansPath).filter { isSpanFinish($0) }.count == 1)
            #expect(try await serverSpans(server, instanceID: instanceID).map(\.status) == [.failed])
        }
    }

    @Test func aCreateAlreadyAttemptedIsNeverCombined() async throws {
        try await withTestServer { server in
            var config = configuration(server, coalesce: true)
            config.api.retryPolicy = RetryPolicy(maxRetries: 0, initialDelay: .milliseconds(300), maxDelay: .milliseconds(300))
            let (instanceID, report) = try await withRunningClient(config) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                server.faults.add(FaultRule(method: "POST", path: spansPath, status: 503, count: 1))
                let span = try await run.createSpan(schemaName: "agent:llm")
                try await eventually("the create waits to retry") {
                    recorder.events.contains { if case .operationRetrying = $0 { true } else { false } }
                }
                try await run.finishSpan(span)
                try await eventually("the span is delivered") { client.spanManager.span(withID: span)?.finishDelivered == true }
                return run.id
            }
            #expect(report.isComplete)
            #expect(server.posts(spansPath).filter(isSpanCreate).map(\.status) == [503, 200])
            #expect(server.posts(spansPath).filter { isSpanFinish($0) }.count == 1)
            #expect(try await serverSpans(server, instanceID: instanceID).map(\.status) == [.complete])
        }
    }

    @Test func cancelBeforeStartStillTakesTheCancelUnstartedPath() async throws {
        try await withTestServer { server in
            let (instanceID, report) = try await withRunningClient(configuration(server, coalesce: true)) { client in
                server.faults.add(FaultRule(method: "POST", path: Self.startPath, count: 1, latencyMilliseconds: 300))
                let run = try await registerInstance(client)
                try await run.start()
                let span = client.spanManager.prepare(instanceID: run.id, schemaName: "agent:never")
                try await client.spanManager.cancelUnstarted(span)
                try await eventually("the cancel is delivered") { client.spanManager.span(withID: span)?.finishDelivered == true }
                return run.id
            }
            #expect(report.isComplete)
            #expect(server.posts(spansPath).filter(isSpanCreate).count == 1)
            #expect(server.posts(spansPath).filter { isSpanFinish($0) }.count == 1)
            #expect(try await serverSpans(server, instanceID: instanceID).map(\.status) == [.cancelled])
        }
    }
}
