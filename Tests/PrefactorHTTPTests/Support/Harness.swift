import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

extension RetryPolicy {
    /// Real retries with tiny delays, so tests never wait on backoff.
    static func fast(maxRetries: Int = 3, retryableStatuses: Set<Int> = RetryPolicy.defaultRetryableStatuses) -> RetryPolicy {
        RetryPolicy(
            maxRetries: maxRetries, initialDelay: .milliseconds(1), maxDelay: .milliseconds(5),
            retryableStatuses: retryableStatuses)
    }
}

/// A running test server and a client talking to it through a ``RecordingTransport``.
struct Harness: Sendable {
    let server: TestServer
    let client: APIClient
    let transport: RecordingTransport

    var faults: FaultInjector { server.faults }
    var log: RequestLog { server.requests }

    /// Requests the server received on one exact path.
    func received(_ method: String, _ path: String) -> [RecordedRequest] {
        log.requests(method: method).filter { $0.path == path }
    }

    /// Registers and starts an instance whose schema knows the `accuracy` quality schema and an `agent:llm` span type.
    func startedInstance() async throws -> AgentInstance {
        let instance = try await client.registerAgentInstance(Harness.registerRequest())
        return try await client.startAgentInstance(id: instance.id)
    }

    static func registerRequest(idempotencyKey: String? = nil) -> RegisterAgentInstanceRequest {
        RegisterAgentInstanceRequest(
            agentVersion: ["name": "test-agent", "external_identifier": "test-agent-1.0.0"],
            agentSchemaVersion: [
                "external_identifier": "test-schema-1",
                "span_type_schemas": [
                    [
                        "name": "agent:llm", "title": "LLM Call", "template": "{{model}}",
                        "params_schema": ["type": "object"], "result_schema": ["type": "object"],
                    ]
                ],
                "quality_schemas": [["name": "accuracy", "schema": ["type": "object"], "template": "{{score}}"]],
            ],
            idempotencyKey: idempotencyKey)
    }
}

/// Runs `body` against a fresh test server with a client that is always shut down afterwards.
func withHarness(
    retryPolicy: RetryPolicy = .fast(), requestTimeout: Duration = .seconds(20), sdkEntries: [String] = [],
    token: String? = nil, apiURLSuffix: String = "", _ body: (Harness) async throws -> Void
) async throws {
    try await withTestServer { server in
        let transport = RecordingTransport()
        let configuration = APIClient.Configuration(
            apiURL: server.baseURL + apiURLSuffix, apiToken: token ?? server.token, requestTimeout: requestTimeout,
            retryPolicy: retryPolicy, sdkEntries: sdkEntries)
        let client: APIClient
        do {
            client = try APIClient(configuration: configuration, transport: transport)
        } catch {
            try await transport.shutdown()
            throw error
        }
        do {
            try await body(Harness(server: server, client: client, transport: transport))
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}

/// Runs `body` with a client on a scripted transport (no network); the client is shut down afterwards.
func withScriptedClient(
    _ transport: ScriptedTransport, retryPolicy: RetryPolicy = .fast(), _ body: (APIClient) async throws -> Void
) async throws {
    let client = try APIClient(
        configuration: .init(apiURL: "http://127.0.0.1:9", apiToken: "scripted-token", retryPolicy: retryPolicy),
        transport: transport)
    do {
        try await body(client)
    } catch {
        try? await client.shutdown()
        throw error
    }
    try await client.shutdown()
    #expect(transport.isShutDown, "APIClient.shutdown shuts its transport down")
}

/// The error a call throws, or `nil` (with an issue recorded) when it succeeds.
func httpError<T>(
    sourceLocation: SourceLocation = #_sourceLocation, _ operation: () async throws -> T
) async -> PrefactorHTTPError? {
    do {
        let value = try await operation()
        Issue.record("Expected a PrefactorHTTPError, got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as PrefactorHTTPError {
        return error
    } catch {
        Issue.record("Expected a PrefactorHTTPError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Waits (briefly) until a condition about the server's log holds: a dropped connection is logged by the server
/// just after it closes the socket, so the client can observe the drop first.
func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<500 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
