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
    func slowBackoff(_ server: TestServer) -> PrefactorClient.Configuration {
        var configuration = coreConfiguration(server)
        configuration.api.retryPolicy = RetryPolicy(maxRetries: 0, initialDelay: .seconds(120), maxDelay: .seconds(120))
        return configuration
    }

    @Test func aSuccessfulRequestBringsWaitingRetriesForward() async throws {
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_instance/*/start", status: 503, count: 1))
            _ = try await withRunningClient(slowBackoff(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                try await eventually("the start waits out a 120 s backoff") { client.snapshot().queue.retrying == 1 }
                _ = try await registerInstance(client)  // the API answers again
                try await eventually("the start is delivered long before its backoff ends", limit: .seconds(20)) {
                    client.snapshot().queue.delivered == 1
                }
            }
        }
    }

    @Test func retryNowSendsAnOperationAtOnce() async throws {
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_instance/*/start", status: 503, count: 1))
            _ = try await withRunningClient(slowBackoff(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                try await eventually("the start waits out a 120 s backoff") { client.snapshot().queue.retrying == 1 }
                let id = try #require(client.snapshot().operations.first?.id)
                client.retryNow(operationID: id)
                try await eventually("the start is delivered at once", limit: .seconds(20)) {
                    client.snapshot().queue.delivered == 1
                }
            }
        }
    }
}
