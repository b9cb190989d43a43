import Foundation
import Instrumentation
import PrefactorCore
import PrefactorHTTP
import PrefactorServerTesting
import PrefactorWire
import Testing

@testable import PrefactorTracing

/// Runs a client against the test server with one started instance, finishes the instance and drains the queue:
/// everything `body` recorded is on the server when this returns, with the instance's id.
func withTracedRun<T: Sendable>(
    _ server: TestServer, _ body: (AgentInstanceHandle) async throws -> T
) async throws -> (instanceID: String, value: T) {
    var api = APIClient.Configuration(apiURL: server.baseURL, apiToken: server.token)
    api.retryPolicy = RetryPolicy(maxRetries: 0, initialDelay: .milliseconds(2), maxDelay: .milliseconds(20))
    let configuration = PrefactorClient.Configuration(api: api, drainTimeout: .seconds(60))
    return try await withPrefactorClient(configuration: configuration) { client in
        let run = try await client.createAgentInstance(
            agentVersion: ["name": "traced-agent", "external_identifier": "traced-agent-1"], agentSchemaVersion: [:])
        try await run.start()
        let value = try await body(run)
        try await run.finish()
        return (run.id, value)
    }
}

/// The spans the server holds for an instance (the tests make fewer than a page).
func storedSpans(_ server: TestServer, instanceID: String) async throws -> [AgentSpan] {
    let api = try APIClient(configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
    return try await api.listSpans(instanceID: instanceID, page: PageRequest(offset: 0, pageSize: 100)).items
}

extension AgentSpan {
    /// The tracing span's name, from the payload (or the result, when it was renamed after its create).
    var tracedName: String? { resultPayload?["name"]?.stringValue ?? payload["name"]?.stringValue }
    /// The tracing span's W3C span ID.
    var w3cSpanID: String? { payload["trace"]?.objectValue?["span_id"]?.stringValue }
}

/// The one stored span with this traced name, failing the test otherwise.
func span(
    named name: String, in spans: [AgentSpan], sourceLocation: SourceLocation = #_sourceLocation
) throws -> AgentSpan {
    let found = spans.filter { $0.tracedName == name }
    #expect(found.count == 1, "spans named \(name): \(found.count)", sourceLocation: sourceLocation)
    return try #require(found.first, sourceLocation: sourceLocation)
}

/// The client's view of the spans of a tracer, by traced name.
func localSpans(_ run: AgentInstanceHandle) -> [String: SpanSnapshot] {
    let spans = run.client.snapshot().spans.filter { $0.instanceID == run.id }
    return Dictionary(
        spans.compactMap { span in (span.resultPayload?["name"] ?? span.payload["name"])?.stringValue.map { ($0, span) } },
        uniquingKeysWith: { first, _ in first })
}

/// A carrier of headers as a dictionary.
struct Headers: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }

    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}
