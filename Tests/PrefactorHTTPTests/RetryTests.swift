import Foundation
import Logging
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Synchronization
import Testing

/// The retry loop against the real server: what is retried, how often, and that retries resend the identical body
/// (spec §5.3, §5.4, §1.5; conformance checks 22, 23, 25, 28).
@Suite(.timeLimit(.minutes(1)))
struct RetryTests {
    static let registerPath = "/api/v1/agent_instance/register"

    /// The attempts the client made on a path all carried the same body and the same idempotency key.
    static func expectIdenticalAttempts(_ attempts: [SentRequest], count: Int, key: String) throws {
        #expect(attempts.count == count)
        let first = try #require(attempts.first)
        for attempt in attempts {
            #expect(attempt.spec.body == first.spec.body, "every attempt resends the identical bytes")
            #expect(attempt.json?["idempotency_key"]?.stringValue == key)
            #expect(attempt.spec.headers.map(\.0) == first.spec.headers.map(\.0))
            #expect(attempt.spec.headers.map(\.1) == first.spec.headers.map(\.1))
        }
    }

    @Test(arguments: [429, 500, 502, 503, 504, 598])
    func retryableStatusIsRetriedUntilSuccess(status: Int) async throws {
        try await withHarness { h in
            let failures = 2
            h.faults.add(FaultRule(method: "POST", path: Self.registerPath, status: status, count: failures))
            let key = IdempotencyKey.generate()
            let instance = try await h.client.registerAgentInstance(Harness.registerRequest(idempotencyKey: key))
            #expect(instance.status == .pending)
            let received = h.received("POST", Self.registerPath)
            #expect(received.map(\.status) == Array(repeating: status, count: failures) + [200])
            try Self.expectIdenticalAttempts(h.transport.requests(path: Self.registerPath), count: failures + 1, key: key)
        }
    }

    @Test func droppedConnectionsAreRetriedWithTheSameKey() async throws {
        try await withHarness { h in
            let failures = 2
            let active = try await h.startedInstance()
            let created = try await h.client.createSpan(CreateSpanRequest(agentInstanceID: active.id, schemaName: "agent:llm"))
            let path = "/api/v1/agent_spans/\(created.span.id)/finish"
            h.faults.add(FaultRule(method: "POST", path: path, count: failures, dropConnection: true))
            let key = IdempotencyKey.generate()
            let finished = try await h.client.finishSpan(
                id: created.span.id, status: .complete, resultPayload: ["n": 1], idempotencyKey: key)
            #expect(finished.span.status == .complete)
            #expect(try await eventually { h.received("POST", path).count == failures + 1 })
            #expect(h.received("POST", path).map(\.status).sorted() == [0, 0, 200])
            try Self.expectIdenticalAttempts(h.transport.requests(path: path), count: failures + 1, key: key)
        }
    }

    @Test func spanCreateRetriesKeepTheKeyInsideDetails() async throws {
        try await withHarness { h in
            let active = try await h.startedInstance()
            h.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 503, count: 1))
            let key = IdempotencyKey.generate()
            _ = try await h.client.createSpan(
                CreateSpanRequest(agentInstanceID: active.id, schemaName: "agent:llm", idempotencyKey: key))
            let attempts = h.transport.requests(path: "/api/v1/agent_spans")
            #expect(attempts.count == 2)
            #expect(attempts.allSatisfy { $0.json?["details"]?["idempotency_key"]?.stringValue == key })
            #expect(attempts.allSatisfy { $0.spec.body == attempts[0].spec.body })
            let spans = try await h.client.listSpans(instanceID: active.id)
            #expect(spans.items.count == 1, "one span, not two")
        }
    }

    @Test func timeoutIsRetried() async throws {
        // Generous margins: the retry must beat the 5 s timeout even on a heavily loaded 2-core machine.
        try await withHarness(requestTimeout: .seconds(5)) { h in
            h.faults.add(FaultRule(method: "POST", path: Self.registerPath, count: 1, latencyMilliseconds: 10_000))
            let key = IdempotencyKey.generate()
            let instance = try await h.client.registerAgentInstance(Harness.registerRequest(idempotencyKey: key))
            #expect(instance.status == .pending)
            try Self.expectIdenticalAttempts(h.transport.requests(path: Self.registerPath), count: 2, key: key)
        }
    }

    @Test(arguments: [400, 401, 403, 404, 409, 422])
    func nonRetryableStatusIsSentOnce(status: Int) async throws {
        try await withHarness(retryPolicy: .fast(maxRetries: 5)) { h in
            h.faults.add(FaultRule(method: "POST", path: Self.registerPath, status: status, count: 1))
            let error = try #require(await httpError { try await h.client.registerAgentInstance(RegisterAgentInstanceRequest()) })
            #expect(error.status == status)
            #expect(error.code != .retriesExhausted)
            #expect(error.attempts == 1)
            #expect(h.received("POST", Self.registerPath).count == 1)
            #expect(h.transport.requests.count == 1)
        }
    }

    @Test func realServerErrorsAreNotRetried() async throws {
        try await withHarness(retryPolicy: .fast(maxRetries: 5)) { h in
            _ = await httpError { try await h.client.agentInstance(id: "ai_missing") }
            let a = try await h.startedInstance()
            _ = try await h.client.finishAgentInstance(id: a.id)
            _ = await httpError { try await h.client.finishAgentInstance(id: a.id) }
            _ = await httpError { try await h.client.recordQuality(instanceID: a.id, name: "nope", payload: nil) }
            #expect(h.received("GET", "/api/v1/agent_instance/ai_missing").count == 1)
            #expect(h.received("POST", "/api/v1/agent_instance/\(a.id)/finish").count == 2)
            #expect(h.received("POST", "/api/v1/agent_instance/\(a.id)/record_quality").count == 1)
        }
    }

    @Test func maxRetriesZeroRaisesTheOriginalErrorUnwrapped() async throws {
        try await withHarness(retryPolicy: .fast(maxRetries: 0)) { h in
            h.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", status: 503, count: 1))
            let error = try #require(await httpError { try await h.client.ping() })
            #expect(error.code == .api)
            #expect(error.status == 503)
            #expect(error.lastError == nil)
            #expect(error.attempts == 1)
            #expect(h.received("GET", "/api/v1/ping").count == 1)

            h.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", count: 1, dropConnection: true))
            let dropped = try #require(await httpError { try await h.client.ping() })
            #expect(dropped.code == .transport)
            #expect(dropped.lastError == nil)
        }
    }

    @Test func nonRetryableErrorAfterRetriesIsRaisedUnwrapped() async throws {
        try await withHarness { h in
            h.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", status: 503, count: 1))
            h.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", status: 404, count: 1))
            let error = try #require(await httpError { try await h.client.ping() })
            #expect(error.code == .notFound)
            #expect(error.attempts == 2)
            #expect(error.lastError == nil)
            #expect(h.received("GET", "/api/v1/ping").map(\.status) == [503, 404])
        }
    }

    @Test func retryableStatusesOverrideIsHonoured() async throws {
        try await withHarness(retryPolicy: .fast(retryableStatuses: [418])) { h in
            h.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", status: 418, count: 2))
            try await h.client.ping()
            #expect(h.received("GET", "/api/v1/ping").map(\.status) == [418, 418, 200])

            h.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", status: 503, count: 1))
            let error = try #require(await httpError { try await h.client.ping() })
            #expect(error.code == .api)
            #expect(error.status == 503)
            #expect(h.received("GET", "/api/v1/ping").count == 4, "503 is not in the override, so it is not retried")
        }
    }

    @Test func retryLoopSleepsThePolicyDelays() async throws {
        // Spec §5.4 with the jitter unit fixed: delays 0.75 × initial × multiplier^n, capped at max.
        let sleeps = Mutex<[Duration]>([])
        let transport = ScriptedTransport(status: 503, body: #"{"status":"error","code":"unavailable","message":"m"}"#)
        let policy = RetryPolicy(maxRetries: 4, initialDelay: .milliseconds(100), maxDelay: .milliseconds(500), multiplier: 2)
        let client = try APIClient(
            configuration: .init(apiURL: "http://127.0.0.1:9", apiToken: "t", retryPolicy: policy), transport: transport,
            logger: .init(label: "test"), sleep: { duration in sleeps.withLock { $0.append(duration) } }, random: { 0 })
        let error = await httpError { try await client.ping() }
        try await client.shutdown()
        #expect(error?.code == .retriesExhausted)
        #expect(error?.attempts == 5)
        #expect(transport.requests.count == 5)
        let recorded = sleeps.withLock { $0 }.map { ($0 / .microseconds(1)).rounded() }
        #expect(recorded == [75_000, 150_000, 300_000, 500_000])
    }

    @Test func cancellationDuringBackoffStopsRetrying() async throws {
        let transport = ScriptedTransport(status: 503, body: #"{"status":"error","code":"unavailable","message":"m"}"#)
        let client = try APIClient(
            configuration: .init(apiURL: "http://127.0.0.1:9", apiToken: "t", retryPolicy: .fast()), transport: transport,
            logger: .init(label: "test"), sleep: { _ in throw CancellationError() }, random: { 0.5 })
        let error = try #require(await httpError { try await client.ping() })
        try await client.shutdown()
        #expect(error.code == .transport)
        #expect(error.lastError?.status == 503)
        #expect(transport.requests.count == 1)
    }
}
