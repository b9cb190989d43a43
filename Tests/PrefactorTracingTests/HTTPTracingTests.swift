import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PrefactorCore
import PrefactorServerTesting
import PrefactorWire
import Testing
import Tracing

@testable import PrefactorTracing

/// An agent step that calls a service over HTTP, all under the Prefactor tracer: AsyncHTTPClient's client spans,
/// the service's Hummingbird `TracingMiddleware` server spans and `withSpan` blocks on both sides must reach the real
/// API server as one tree of Prefactor spans with the right statuses.
@Suite(.timeLimit(.minutes(1)))
struct HTTPTracingTests {
    struct ParseError: Error {}

    @Test func anHTTPCallAndWithSpanBlocksBecomeNestedPrefactorSpansWithTheirStatuses() async throws {
        try await withTestServer { server in
            let (instanceID, received) = try await withTracedRun(server) { run in
                let tracer = PrefactorTracer(instance: run)
                return try await withTracer(tracer) {
                    try await withToolService { port in
                        try await withHTTPClient(tracer) { http in
                            try await tracer.withSpan("answer") { span in
                                span.attributes["prefactor.schema_name"] = "agent:llm"
                                span.attributes["gen_ai.request.model"] = "gpt-4o"
                                let received = try await get(http, "http://localhost:\(port)/lookup")
                                _ = try await get(http, "http://localhost:\(port)/broken")
                                _ = try? tracer.withSpan("parse") { _ -> Void in throw ParseError() }
                                return received
                            }
                        }
                    }
                }
            }
            let spans = try await storedSpans(server, instanceID: instanceID)
            #expect(spans.count == 7)
            let answer = try span(named: "answer", in: spans)
            #expect(answer.schemaName == "agent:llm")
            #expect(answer.parentSpanID == nil)
            #expect(answer.status == .complete)
            #expect(answer.payload["attributes"] == ["gen_ai.request.model": "gpt-4o"])

            let calls = spans.filter { $0.tracedName == "GET" }
            #expect(calls.count == 2)
            let lookup = try #require(calls.first { $0.payload["attributes"]?.objectValue?["url.path"] == "/lookup" })
            let broken = try #require(calls.first { $0.payload["attributes"]?.objectValue?["url.path"] == "/broken" })
            for call in [lookup, broken] {
                #expect(call.schemaName == "agent:span")
                #expect(call.parentSpanID == answer.id)
                #expect(call.payload["kind"] == "client")
            }
            #expect(lookup.status == .complete)
            #expect(lookup.resultPayload?["attributes"] == ["http.status_code": 200])
            #expect(broken.status == .failed)
            #expect(broken.resultPayload?["attributes"] == ["http.status_code": 500])

            // The service saw the client span's trace context, and its server span continues it, under the call.
            let traceID = try #require(answer.payload["trace"]?.objectValue?["trace_id"]?.stringValue)
            #expect(received == "00-\(traceID)-\(try #require(lookup.w3cSpanID))-01")
            let served = try span(named: "/lookup", in: spans)
            #expect(served.parentSpanID == lookup.id)
            #expect(served.payload["kind"] == "server")
            #expect(served.payload["trace"]?.objectValue?["trace_id"]?.stringValue == traceID)
            #expect(served.payload["trace"]?.objectValue?["parent_id"]?.stringValue == lookup.w3cSpanID)
            #expect(served.status == .complete)
            let query = try span(named: "query index", in: spans)
            #expect(query.parentSpanID == served.id)
            #expect(query.payload["attributes"] == ["rows": 3])
            #expect(query.status == .complete)

            let failedService = try span(named: "/broken", in: spans)
            #expect(failedService.parentSpanID == broken.id)
            #expect(failedService.status == .failed)
            #expect(failedService.resultPayload?["error_type"] == "HTTPError")

            let parse = try span(named: "parse", in: spans)
            #expect(parse.parentSpanID == answer.id)
            #expect(parse.status == .failed)
            #expect(parse.resultPayload?["error_type"] == "ParseError")
        }
    }
}

/// Runs a small Hummingbird service on loopback (HummingbirdTesting binds `localhost`, port 0) with `TracingMiddleware`: `/lookup` answers the `traceparent`
/// it received after a `withSpan` block, `/broken` fails with a 500.
private func withToolService<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
    let router = Router()
    router.middlewares.add(TracingMiddleware())
    router.get("lookup") { request, _ -> String in
        withSpan("query index") { span in span.attributes["rows"] = 3 }
        return request.headers[HTTPField.Name("traceparent")!] ?? ""
    }
    router.get("broken") { _, _ -> String in
        throw HTTPError(.internalServerError)
    }
    let app = Application(
        router: router,
        logger: Logger(label: "tool-service", factory: { _ in SwiftLogNoOpLogHandler() }))
    return try await app.test(.live) { client in try await body(try #require(client.port)) }
}

/// Runs an AsyncHTTPClient that traces its requests with `tracer`, and shuts it down.
private func withHTTPClient<T>(_ tracer: PrefactorTracer, _ body: (HTTPClient) async throws -> T) async throws -> T {
    var configuration = HTTPClient.Configuration()
    configuration.tracing.tracer = tracer
    let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    do {
        let value = try await body(http)
        try await http.shutdown()
        return value
    } catch {
        try? await http.shutdown()
        throw error
    }
}

/// The body of a GET, as text.
private func get(_ http: HTTPClient, _ url: String) async throws -> String {
    let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
    return String(buffer: try await response.body.collect(upTo: 4096))
}
