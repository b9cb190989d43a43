import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Backoffs are cut short when the API answers again or an operator asks: dependents are not held for a minute.
@Suite(.timeLimit(.minutes(1)))
struct PromptRetryTests {
    /// Starts a run whose start fails once and then waits out a 120 s backoff; `cutShort` must get it delivered
    /// within 20 s.
    func startWaitingOutABackoff(cutShort: @escaping @Sendable (PrefactorClient) async throws -> Void) async throws {
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_instance/*/start", status: 503, count: 1))
            var configuration = coreConfiguration(server)
            configuration.api.retryPolicy = RetryPolicy(maxRetries: 0, initialDelay: .seconds(120), maxDelay: .seconds(120))
            _ = try await withRunningClient(configuration) { client in
                let run = try await registerInstance(client)
                try await run.start()
                try await eventually("the start waits out a 120 s backoff") { client.snapshot().queue.retrying == 1 }
                try await cutShort(client)
                try await eventually("the start is delivered long before its backoff ends", limit: .seconds(20)) {
                    client.snapshot().queue.delivered == 1
                }
            }
        }
    }

    @Test func aSuccessfulRequestBringsWaitingRetriesForward() async throws {
        try await startWaitingOutABackoff { client in
            _ = try await registerInstance(client)  // the API answers again
        }
    }

    @Test func retryNowSendsAnOperationAtOnce() async throws {
        try await startWaitingOutABackoff { client in
            let id = try #require(client.snapshot().operations.first?.id)
            client.retryNow(operationID: id)
        }
    }
}
