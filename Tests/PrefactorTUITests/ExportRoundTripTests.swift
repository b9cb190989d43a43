import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServerTesting
import PrefactorTUI
import PrefactorWire
import Testing

/// A run of `count` spans (every tenth under the one before it, some finished) on a server; returns the run's id.
func seedRun(on server: TestServer, spans count: Int) async throws -> String {
    let api = try APIClient(configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
    let instance = try await api.registerAgentInstance(
        RegisterAgentInstanceRequest(agentVersion: ["name": "export-test"], agentSchemaVersion: [:]))
    _ = try await api.startAgentInstance(id: instance.id)
    var previous: String?
    for index in 0..<count {
        let created = try await api.createSpan(
            CreateSpanRequest(
                agentInstanceID: instance.id, schemaName: index % 2 == 0 ? "llm:chat" : "tool:call",
                payload: ["n": .int(Int64(index)), "text": .string("日本語 \(index)")],
                parentSpanID: index % 10 == 9 ? previous : nil,
                startedAt: Date(timeIntervalSince1970: 1_767_225_600 + Double(index))))
        if index % 20 == 0 { _ = try await api.finishSpan(id: created.span.id, status: .complete, resultPayload: ["ok": true]) }
        previous = created.span.id
    }
    try await api.shutdown()
    return instance.id
}

/// Every span the server lists of a run, read page by page.
func listedSpans(on server: TestServer, run: String) async throws -> [AgentSpan] {
    let api = try APIClient(configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
    var spans: [AgentSpan] = []
    var offset = 0
    while true {
        let page = try await api.listSpans(instanceID: run, page: PageRequest(offset: offset, pageSize: 100))
        spans += page.items
        guard let next = page.pagination?.nextPageOffset else { break }
        offset = next
    }
    try await api.shutdown()
    return spans
}

/// `E` against the real server: the file holds every span the server lists, over several pages.
@Suite("Export round trip", .timeLimit(.minutes(2)))
struct ExportRoundTripTests {
    @Test func theFileHoldsEverySpanTheServerLists() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withTestServer { server in
            let count = 2 * RunExport.pageSize + 1
            let run = try await seedRun(on: server, spans: count)
            let listed = try await listedSpans(on: server, run: run)
            #expect(listed.count == count)
            let api = APIClient.Configuration(apiURL: server.baseURL, apiToken: server.token)
            let message = await ExportJob.run(instanceID: run, api: api, directory: directory, now: t0)
            let path = directory + "/" + RunExport.fileName(instanceID: run, at: t0)
            #expect(message == Message(text: "Exported run \(run) with \(count) spans to \(path)", isError: false))
            let data = try #require(FileManager.default.contents(atPath: path))
            let export = try RunExport.decode(data)
            #expect(export.format == RunExport.formatName)
            #expect(export.instance.id == run)
            #expect(export.apiURL == server.baseURL)
            #expect(export.exportedAt == t0)
            #expect(Set(export.spans) == Set(listed), "every span as the server lists it, payloads and results included")
            #expect(export.spans.count == count, "none twice")
            #expect(
                export.spans.map(\.startedAt)
                    == export.spans.map(\.startedAt).sorted { ($0 ?? .distantFuture) < ($1 ?? .distantFuture) })
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            #expect(object?["span_count"] as? Int == count)
            #expect(
                (object?["spans"] as? [[String: Any]])?.first?["agent_instance_id"] as? String == run, "the API's field names")
        }
    }

    @Test func anUnknownRunOrABadTokenSaysSo() async throws {
        try await withTestServer { server in
            let good = APIClient.Configuration(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none)
            let missing = await ExportJob.run(instanceID: "no-such-run", api: good, directory: "/nonexistent", now: t0)
            #expect(missing == Message(text: "Export failed: the API has no run no-such-run (not delivered yet?)", isError: true))
            let bad = APIClient.Configuration(apiURL: server.baseURL, apiToken: "wrong", retryPolicy: .none)
            let rejected = await ExportJob.run(instanceID: "no-such-run", api: bad, directory: "/nonexistent", now: t0)
            #expect(rejected.isError)
            #expect(rejected.text.hasPrefix("Export failed: "))
            #expect(rejected.text.contains("401") || rejected.text.lowercased().contains("token"), "\(rejected.text)")
        }
    }
}
