import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization
import Testing

@testable import PrefactorCore

/// A transport that answers from a script and records what it was sent: no network.
final class ScriptedTransport: HTTPTransport {
    private let state = Mutex<(sent: [HTTPRequestSpec], startFailures: Int)>(([], 0))

    init(startFailures: Int) {
        state.withLock { $0.startFailures = startFailures }
    }

    var sent: [HTTPRequestSpec] { state.withLock { $0.sent } }

    func send(_ request: HTTPRequestSpec, timeout: Duration) async throws(PrefactorHTTPError) -> HTTPResponseData {
        let failStart = state.withLock { state -> Bool in
            state.sent.append(request)
            guard request.url.hasSuffix("/start"), state.startFailures > 0 else { return false }
            state.startFailures -= 1
            return true
        }
        if failStart { return HTTPResponseData(status: 503, body: Array(#"{"status":"error","code":"unavailable"}"#.utf8)) }
        let status = request.url.hasSuffix("/register") ? "pending" : "active"
        let instance = """
            {"status":"success","details":{"type":"agent_instance","id":"ai_seam","account_id":"acc","agent_id":"agent",
            "agent_version_id":"v","environment_id":"env","agent_deployment_id":"dep","status":"\(status)",
            "inserted_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}}
            """
        return HTTPResponseData(status: 200, body: Array(instance.utf8))
    }

    func shutdown() async throws {}
}

/// A clock that never waits: it records each wait and moves its time forward by it. Waits of an hour or more (the
/// housekeeping tick, here) park until cancelled instead, so they do not spin.
final class ManualClock: ClientClock {
    private let state = Mutex<(now: Date, waits: [Duration])>((Date(timeIntervalSince1970: 1_800_000_000), []))

    var waits: [Duration] { state.withLock { $0.waits } }

    func now() -> Date { state.withLock { $0.now } }

    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        if duration >= .seconds(3600) {
            try await Task.sleep(for: .seconds(86_400))
            return
        }
        state.withLock {
            $0.waits.append(duration)
            $0.now = $0.now.addingTimeInterval(duration.seconds)
        }
        await Task.yield()
    }
}

/// The client's seams: a transport, a clock and a random source given to it, so a delivery rule can be checked with
/// no server and no waiting.
@Suite(.timeLimit(.minutes(1)))
struct SeamTests {
    @Test func aRetryWaitsThePolicysBackoffOnTheGivenClockAndKeepsItsKey() async throws {
        let transport = ScriptedTransport(startFailures: 2)
        let clock = ManualClock()
        var configuration = PrefactorClient.Configuration(
            api: .init(apiURL: "http://127.0.0.1:9", apiToken: "t"), maintenanceInterval: .seconds(3600))
        configuration.api.retryPolicy = RetryPolicy(maxRetries: 0, initialDelay: .seconds(60), maxDelay: .seconds(600))
        configuration.validateTokenOnStart = false
        let client = try PrefactorClient(
            configuration: configuration, logger: Logger(label: "seam"), transport: transport, clock: clock,
            random: { 1 << 63 })  // jitter 0.5 every time: the policy's base delay exactly
        let runner = Task { try await client.run() }
        let run = try await client.createAgentInstance(agentVersion: ["name": "seam"], agentSchemaVersion: [:])
        try await run.start()
        for _ in 0..<10_000 where client.snapshot().queue.delivered < 1 { await Task.yield() }
        #expect(client.snapshot().queue.delivered == 1)
        let starts = transport.sent.filter { $0.url.hasSuffix("/start") }
        #expect(starts.count == 3, "two 503s, then delivered")
        #expect(
            Set(starts.map { $0.body ?? [] }).count == 1,
            "the same body, and so the same key, on every attempt: \(starts.map { String(decoding: $0.body ?? [], as: UTF8.self) })"
        )
        let policy = configuration.api.retryPolicy
        let backoffs = clock.waits.filter { $0 >= .seconds(1) && $0 < .seconds(3600) }
        #expect(backoffs == [policy.delay(beforeRetry: 0, unit: 0.5), policy.delay(beforeRetry: 1, unit: 0.5)])
        let report = await client.shutdown()
        try await runner.value
        #expect(report.isComplete)
    }
}
