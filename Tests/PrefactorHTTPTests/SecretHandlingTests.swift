import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// The API token never appears in an error's description or in the configuration's description.
@Suite(.timeLimit(.minutes(1)))
struct SecretHandlingTests {
    static let secret = "pf_SECRET_token_0123456789abcdef"

    static func expectNoSecret(_ error: PrefactorHTTPError?, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error else {
            Issue.record("expected an error", sourceLocation: sourceLocation)
            return
        }
        for text in [error.description, "\(error)", String(reflecting: error), error.message, error.shortDescription] {
            #expect(!text.contains(secret), "token leaked: \(text)", sourceLocation: sourceLocation)
            #expect(!text.contains("SECRET"), sourceLocation: sourceLocation)
        }
        if let last = error.lastError { expectNoSecret(last, sourceLocation: sourceLocation) }
    }

    @Test func configurationDescriptionRedactsTheToken() throws {
        let configuration = APIClient.Configuration(apiURL: "http://127.0.0.1:4000", apiToken: Self.secret)
        for text in [configuration.description, "\(configuration)", String(describing: configuration)] {
            #expect(!text.contains(Self.secret))
            #expect(text.contains("<redacted>"))
            #expect(text.contains("http://127.0.0.1:4000"))
        }
    }

    @Test func serverErrorsDoNotContainTheToken() async throws {
        try await withHarness(retryPolicy: .fast(maxRetries: 1), token: Self.secret) { h in
            // Wrong token (the server expects its own).
            Self.expectNoSecret(await httpError { try await h.client.ping() })
        }
        try await withTestServer(token: Self.secret) { server in
            let client = try APIClient(
                configuration: .init(apiURL: server.baseURL, apiToken: Self.secret, retryPolicy: .fast(maxRetries: 1)))
            Self.expectNoSecret(await httpError { try await client.agentInstance(id: "missing") })
            Self.expectNoSecret(await httpError { try await client.recordQuality(instanceID: "x", name: "", payload: nil) })
            server.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", status: 503))
            Self.expectNoSecret(await httpError { try await client.ping() })
            server.faults.removeAll()
            server.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", dropConnection: true))
            Self.expectNoSecret(await httpError { try await client.ping() })
            Self.expectNoSecret(
                await httpError {
                    try await client.registerAgentInstance(.init(idempotencyKey: String(repeating: "x", count: 65)))
                })
            try await client.shutdown()
        }
    }

    @Test func timeoutAndTransportErrorsDoNotContainTheToken() async throws {
        try await withTestServer(token: Self.secret) { server in
            let client = try APIClient(
                configuration: .init(
                    apiURL: server.baseURL, apiToken: Self.secret, requestTimeout: .milliseconds(200),
                    retryPolicy: .fast(maxRetries: 0)))
            server.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", latencyMilliseconds: 1000))
            Self.expectNoSecret(await httpError { try await client.ping() })
            try await client.shutdown()
        }
        let closedPort = try await withTestServer { server in server.port }
        let client = try APIClient(
            configuration: .init(
                apiURL: "http://127.0.0.1:\(closedPort)", apiToken: Self.secret, requestTimeout: .seconds(1),
                retryPolicy: .fast(maxRetries: 0)))
        Self.expectNoSecret(await httpError { try await client.ping() })
        try await client.shutdown()
    }

    @Test func configurationErrorsDoNotContainTheToken() {
        let environments: [[String: String]] = [
            ["PREFACTOR_API_TOKEN": Self.secret],
            ["PREFACTOR_API_URL": "ftp://x", "PREFACTOR_API_TOKEN": Self.secret],
            ["PREFACTOR_API_URL": "http://h:1", "PREFACTOR_API_TOKEN": Self.secret, "PREFACTOR_REQUEST_TIMEOUT": "x"],
            ["PREFACTOR_API_URL": "http://h:1", "PREFACTOR_API_TOKEN": Self.secret, "PREFACTOR_MAX_RETRIES": "-3"],
        ]
        for environment in environments {
            Self.expectNoSecret(
                #expect(throws: PrefactorHTTPError.self) { try APIClient.Configuration.fromEnvironment(environment) })
        }
        var configuration = APIClient.Configuration(apiURL: "http://h:1", apiToken: Self.secret)
        configuration.requestTimeout = .zero
        Self.expectNoSecret(#expect(throws: PrefactorHTTPError.self) { try configuration.validate() })
    }

    @Test func contractErrorsDoNotContainTheToken() async throws {
        let transport = ScriptedTransport([
            ScriptedTransport.reply(503, "<html>down</html>"), ScriptedTransport.reply(200, "<html>ok</html>"),
        ])
        let client = try APIClient(
            configuration: .init(apiURL: "http://127.0.0.1:9", apiToken: Self.secret, retryPolicy: .fast(maxRetries: 1)),
            transport: transport)
        Self.expectNoSecret(await httpError { try await client.ping() })
        try await client.shutdown()
        #expect(transport.requests.allSatisfy { $0.header("Authorization") == "Bearer \(Self.secret)" })
    }
}
