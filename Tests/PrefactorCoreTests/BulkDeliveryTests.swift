import Foundation
import Logging
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Synchronization
import Testing

@testable import PrefactorCore

/// One request the client sent and the answer it got, as JSON.
struct Exchange: Sendable {
    var method: String
    var path: String
    var body: JSONValue?
    var status: Int
    var response: JSONValue?

    var isBulk: Bool { path == "/api/v1/bulk" }
    /// The keys of a bulk request's items, in order.
    var itemKeys: [String] { body?["items"]?.arrayValue?.compactMap { $0["idempotency_key"]?.stringValue } ?? [] }
    /// The outputs of a bulk response, by key.
    var outputs: [String: JSONValue] { response?["outputs"]?.objectValue ?? [:] }
}

/// The client's real transport, recording every exchange: the request log of the server keeps no bodies.
final class RecordingTransport: HTTPTransport {
    let inner: any HTTPTransport
    private let log = Mutex<[Exchange]>([])

    init(_ inner: any HTTPTransport) {
        self.inner = inner
    }

    var exchanges: [Exchange] { log.withLock { $0 } }
    var bulkRequests: [Exchange] { exchanges.filter(\.isBulk) }

    func send(_ request: HTTPRequestSpec, timeout: Duration) async throws(PrefactorHTTPError) -> HTTPResponseData {
        let path = URLComponents(string: request.url)?.path ?? request.url
        let body = request.body.flatMap { try? JSONParser.parse($0) }
        do {
            let response = try await inner.send(request, timeout: timeout)
            log.withLock {
                $0.append(
                    Exchange(
                        method: request.method, path: path, body: body, status: response.status,
                        response: try? JSONParser.parse(response.body)))
            }
            return response
        } catch {
            log.withLock { $0.append(Exchange(method: request.method, path: path, body: body, status: 0, response: nil)) }
            throw error
        }
    }

    func shutdown() async throws { try await inner.shutdown() }
}

/// Lines logged at info level and above.
final class LineRecorder: Sendable {
    let lines = Mutex<[String]>([])

    struct Handler: LogHandler {
        let recorder: LineRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.lines.withLock { $0.append(event.message.description) }
        }
    }

    var logger: Logger { Logger(label: "test", factory: { _ in Handler(recorder: self) }) }
}

/// Runs a client with bulk requests on (and a recording transport) until its body returns, then shuts it down.
func withBulkClient<T: Sendable>(
    _ server: TestServer, bulk: Int = 50, coalesce: Bool = true, logger: Logger? = nil,
    _ body: (PrefactorClient, RecordingTransport) async throws -> T
) async throws -> (value: T, report: DeliveryReport, transport: RecordingTransport, events: [ClientEvent]) {
    let configuration = coreConfiguration(server, coalesce: coalesce, bulkMaxItems: bulk)
    let transport = RecordingTransport(AsyncHTTPClientTransport(for: configuration.api))
    let client = try PrefactorClient(
        configuration: configuration, logger: logger ?? Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
        transport: transport, clock: SystemClientClock(), random: { UInt64.random(in: .min ... .max) })
    let recorder = EventRecorder(client.events())
    let (value, report) = try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(client, transport))
        } catch {
            result = .failure(error)
        }
        let report = await client.shutdown()
        try await group.waitForAll()
        return (try result.get(), report)
    }
    return (value, report, transport, await recorder.finished())
}

/// Starts an instance whose start the server answers only after `milliseconds`: span creates queued meanwhile wait
/// for it, then are all ready at once (a backlog).
func slowlyStartedInstance(
    _ client: PrefactorClient, _ server: TestServer, milliseconds: Int = 300
) async throws -> AgentInstanceHandle {
    let run = try await registerInstance(client)
    server.faults.add(
        FaultRule(method: "POST", path: instancePath(run.id, "start"), count: 1, latencyMilliseconds: milliseconds))
    try await run.start()
    return run
}

func drained(_ client: PrefactorClient) async throws {
    try await eventually("the queue drained") { client.snapshot().queue.depth == 0 }
}

/// Real server, real transport: what the client sends when creates are ready together, and how it settles what the
/// API answers to each item.
@Suite(.timeLimit(.minutes(1)))
struct BulkDeliveryTests {
    @Test func aBacklogGoesInOneBulkRequestAndALoneCreateAsItsOwnRequest() async throws {
        try await withTestServer { server in
            let (instanceID, report, transport, events) = try await withBulkClient(server) { client, _ in
                let run = try await slowlyStartedInstance(client, server)
                for index in 0..<5 {
                    let span = try await run.createSpan(schemaName: "agent:backlog-\(index)")
                    try await run.finishSpan(span, resultPayload: ["index": .int(Int64(index))])
                }
                try await drained(client)
                // A live span: its create is delivered before it finishes, as the official SDK sends it.
                let live = try await run.createSpan(schemaName: "agent:live")
                try await drained(client)
                try await run.finishSpan(live)
                return run.id
            }
            #expect(report.isComplete)
            // A loaded machine may time a request out: it is then sent again whole (same items, same keys).
            let bulks = transport.bulkRequests
            let itemKeys = Set(
                bulks.map { ($0.body?["items"]?.arrayValue ?? []).compactMap { $0["idempotency_key"]?.stringValue } })
            #expect(!bulks.isEmpty && itemKeys.count == 1, "one bulk request, possibly retried: \(itemKeys)")
            let items = bulks.first?.body?["items"]?.arrayValue ?? []
            #expect(items.count == 5)
            #expect(items.allSatisfy { $0["_type"]?.stringValue == "agent_spans/create" })
            #expect(items.allSatisfy { $0["status"]?.stringValue == "complete" }, "each finish travelled with its create")
            let singles = transport.exchanges.filter { $0.path == spansPath }
            #expect(singles.count == 1, "the lone create went as its own request")
            #expect(transport.exchanges.filter { $0.path.hasSuffix("/finish") && $0.path.hasPrefix(spansPath) }.count == 1)
            let stored = try await serverSpans(server, instanceID: instanceID)
            #expect(stored.count == 6)
            #expect(stored.allSatisfy { $0.status == .complete })
            let batches = events.compactMap { event -> Int? in
                if case .batchSent(let ids) = event { return ids.count }
                return nil
            }
            #expect(!batches.isEmpty && batches.allSatisfy { $0 == 10 }, "the event says how many operations the request carried")
        }
    }

    @Test func eachItemIsSettledAsItsOwnRequestAndUnansweredItemsGoAgainWithTheirKeys() async throws {
        try await withTestServer { server in
            let (instanceID, report, transport, _) = try await withBulkClient(server, coalesce: false) { client, _ in
                let run = try await slowlyStartedInstance(client, server)
                _ = try await run.createSpan(schemaName: "agent:first")
                // Its parent does not exist on the server: refused (422), a permanent failure.
                _ = try await run.createSpan(schemaName: "agent:orphan", parentSpanID: "sp_no_such_parent")
                _ = try await run.createSpan(schemaName: "agent:third")
                _ = try await run.createSpan(schemaName: "agent:fourth")
                try await drained(client)
                return run.id
            }
            let bulks = transport.bulkRequests
            try #require(bulks.count == 2)
            #expect(bulks[0].itemKeys.count == 4)
            let answered = bulks[0].outputs
            #expect(answered.count == 2, "the API stops at the first failing item, which is included")
            #expect(answered[bulks[0].itemKeys[0]]?["status"]?.stringValue == "success")
            #expect(answered[bulks[0].itemKeys[1]]?["status"]?.stringValue == "error")
            #expect(bulks[1].itemKeys == Array(bulks[0].itemKeys.suffix(2)), "the items not run, again, same keys")
            #expect(report.failed.count == 1)
            if case .createSpan(_, _, let schemaName, _, _, _)? = report.failed.first?.operation.body {
                #expect(schemaName == "agent:orphan", "the refused item failed, and only it")
            }
            #expect(report.undelivered.isEmpty)
            let names = Set(try await serverSpans(server, instanceID: instanceID).map(\.schemaName))
            #expect(names == ["agent:first", "agent:third", "agent:fourth"])
        }
    }

    @Test func aTransientItemIsRetriedAloneWithItsKey() async throws {
        try await withTestServer { server in
            let (instanceID, report, transport, _) = try await withBulkClient(server, coalesce: false) { client, _ in
                let run = try await slowlyStartedInstance(client, server)
                // The first span create the server runs (here: the first item) answers 503.
                server.faults.add(FaultRule(method: "POST", path: spansPath, status: 503, count: 1))
                for index in 0..<3 { _ = try await run.createSpan(schemaName: "agent:\(index)") }
                try await drained(client)
                return run.id
            }
            #expect(report.isComplete)
            let first = try #require(transport.bulkRequests.first)
            let failedKey = try #require(first.itemKeys.first)
            #expect(first.outputs[failedKey]?["code"]?.stringValue == "service_unavailable")
            let retry = transport.exchanges.filter { $0.path == spansPath }
            #expect(retry.count == 1)
            #expect(retry.first?.body?["details"]?["idempotency_key"]?.stringValue == failedKey, "the same key")
            #expect(transport.bulkRequests.dropFirst().flatMap(\.itemKeys) == Array(first.itemKeys.dropFirst()))
            #expect(try await serverSpans(server, instanceID: instanceID).count == 3)
        }
    }

    @Test func aFailedRequestIsSentAgainWithTheSameKeysAndBody() async throws {
        try await withTestServer { server in
            let (instanceID, report, transport, _) = try await withBulkClient(server) { client, _ in
                let run = try await slowlyStartedInstance(client, server)
                server.faults.add(FaultRule(method: "POST", path: "/api/v1/bulk", status: 503, count: 1))
                server.faults.add(FaultRule(method: "POST", path: "/api/v1/bulk", count: 1, dropConnection: true))
                server.faults.add(FaultRule(method: "POST", path: "/api/v1/bulk", status: 429, count: 1))
                for index in 0..<4 {
                    let span = try await run.createSpan(schemaName: "agent:\(index)")
                    try await run.finishSpan(span)
                }
                try await drained(client)
                return run.id
            }
            #expect(report.isComplete)
            let bulks = transport.bulkRequests
            #expect(bulks.map(\.status) == [503, 0, 429, 200])
            #expect(Set(bulks.map(\.itemKeys)).count == 1, "every attempt carries the same keys")
            #expect(Set(bulks.compactMap(\.body)).count == 1, "and the same body")
            let stored = try await serverSpans(server, instanceID: instanceID)
            #expect(stored.count == 4 && stored.allSatisfy { $0.status == .complete })
        }
    }

    @Test func aRefusedRequestIsSplitInsteadOfFailingItsItems() async throws {
        try await withTestServer { server in
            let (instanceID, report, transport, _) = try await withBulkClient(server, coalesce: false) { client, _ in
                let run = try await slowlyStartedInstance(client, server)
                server.faults.add(FaultRule(method: "POST", path: "/api/v1/bulk", status: 422, count: 1))
                for index in 0..<4 { _ = try await run.createSpan(schemaName: "agent:\(index)") }
                try await drained(client)
                return run.id
            }
            #expect(report.isComplete)
            let bulks = transport.bulkRequests
            #expect(bulks.map(\.itemKeys.count) == [4, 2, 2])
            #expect(bulks.dropFirst().flatMap(\.itemKeys).sorted() == bulks[0].itemKeys.sorted())
            #expect(try await serverSpans(server, instanceID: instanceID).count == 4)
        }
    }

    @Test(arguments: [404, 405])
    func anAPIWithoutTheBulkEndpointGetsSingleRequestsForTheClientsLife(status: Int) async throws {
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/bulk", status: status))
            let lines = LineRecorder()
            let (instanceID, report, transport, events) = try await withBulkClient(server, logger: lines.logger) {
                client, _ in
                let run = try await slowlyStartedInstance(client, server)
                for index in 0..<3 { _ = try await run.createSpan(schemaName: "agent:a\(index)") }
                try await drained(client)
                // A second backlog: no bulk request any more.
                server.faults.add(FaultRule(method: "POST", path: spansPath, count: 1, latencyMilliseconds: 300))
                for index in 0..<3 { _ = try await run.createSpan(schemaName: "agent:b\(index)") }
                try await drained(client)
                return run.id
            }
            #expect(report.isComplete)
            #expect(transport.bulkRequests.count == 1)
            #expect(transport.exchanges.filter { $0.path == spansPath }.count == 6)
            #expect(events.contains { if case .bulkUnavailable = $0 { return true } else { return false } })
            #expect(lines.lines.withLock { $0 }.contains { $0.contains("single requests") })
            #expect(try await serverSpans(server, instanceID: instanceID).count == 6)
        }
    }

    @Test(arguments: [true, false])
    func causalOrderHoldsWithBulkRequests(coalesce: Bool) async throws {
        try await withTestServer { server in
            let (instanceID, report, transport, events) = try await withBulkClient(server, coalesce: coalesce) { client, _ in
                let run = try await slowlyStartedInstance(client, server)
                for root in 0..<3 {
                    let parent = try await run.createSpan(schemaName: "agent:root\(root)")
                    for child in 0..<3 {
                        let span = try await run.createSpan(schemaName: "agent:r\(root)c\(child)", parentSpanID: parent)
                        try await run.finishSpan(span)
                    }
                    try await run.finishSpan(parent)
                }
                try await drained(client)
                return run.id
            }
            #expect(report.isComplete)
            #expect(!transport.bulkRequests.isEmpty)
            // Every parent id and every finished span id a request names was answered to the client before it.
            var known: Set<String> = []
            for exchange in transport.exchanges {
                let named: [String]
                if exchange.isBulk {
                    named = (exchange.body?["items"]?.arrayValue ?? []).compactMap { $0["parent_span_id"]?.stringValue }
                } else if exchange.path.hasPrefix(spansPath + "/") {
                    named = [String(exchange.path.dropFirst(spansPath.count + 1).prefix { $0 != "/" })]
                } else {
                    named = (exchange.body?["details"]?["parent_span_id"]?.stringValue).map { [$0] } ?? []
                }
                for id in named { #expect(known.contains(id), "\(exchange.path) names \(id) before it was created") }
                if let id = exchange.response?["details"]?["id"]?.stringValue { known.insert(id) }
                for output in exchange.outputs.values {
                    if let id = output["details"]?["id"]?.stringValue { known.insert(id) }
                }
            }
            expectCausalSending(events)
            let stored = try await serverSpans(server, instanceID: instanceID)
            #expect(stored.count == 12 && stored.allSatisfy { $0.status == .complete })
        }
    }
}
