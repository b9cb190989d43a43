import Foundation
import Logging
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorTUI
import PrefactorWire
import Synchronization
import Testing

/// Log lines kept in memory.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: LogLines
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let details = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                separator: " ")
            sink.lines.withLock { $0.append("\(event.level) \(event.message) \(details)") }
        }
    }
}

/// Runs a controller like ``withRunningUI``, with the options these tests need.
func withUI(
    _ server: TestServer, token: String? = nil, probe: Bool = false, tickInterval: Duration = .milliseconds(250),
    noConfirm: Bool = false, logger: Logger? = nil, width: Int = 100, height: Int = 30,
    _ body: (PrefactorClient, MemoryBackend, TUIController, Task<TUIExit, Never>) async throws -> Void
) async throws {
    var configuration = coreConfiguration(server)
    if let token { configuration.api.apiToken = token }
    let client = try PrefactorClient(configuration: configuration)
    let backend = MemoryBackend(width: width, height: height)
    var probeConfiguration = configuration.api
    probeConfiguration.retryPolicy = .none
    let controller = TUIController(
        client: client, backend: backend, options: TUIOptions(apiURL: server.baseURL, noConfirm: noConfirm), demo: nil,
        watcher: nil, probe: probe ? try APIClient(configuration: probeConfiguration) : nil, tickInterval: tickInterval,
        logger: logger ?? Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        let ui = Task { await controller.run() }
        try await body(client, backend, controller, ui)
        await client.shutdown()
        try await group.waitForAll()
    }
}

@Suite("Controller: a screen you can trust")
struct ControllerTrustTests {
    @Test func aWrongTokenShowsInTheFirstFrame() async throws {
        try await withTestServer { server in
            let lines = LogLines()
            try await withUI(server, token: "wrong-token", probe: true, logger: lines.logger) { _, backend, _, ui in
                try await eventually("the first frame") { backend.frameCount > 0 }
                let first = backend.lastFrame!.plainText().split(separator: "\n", omittingEmptySubsequences: false).map(
                    String.init)
                #expect(first[0].contains("[auth failed]"), "\(first[0])")
                #expect(first[29].contains("API check failed: the API rejected the token"), "\(first[29])")
                #expect(lines.contains("API check failed"))
                #expect(lines.contains("API health: auth failed"))
                backend.send(.key(.interrupt))
                _ = await ui.value
            }
        }
    }

    @Test func aDeadPortShowsUnreachableInTheFirstFrame() async throws {
        // A port that was free a moment ago: nothing listens there.
        let port = try await withTestServer { server in server.port }
        var api = APIClient.Configuration(apiURL: "http://127.0.0.1:\(port)", apiToken: "t")
        api.retryPolicy = .none
        let probe = try APIClient(configuration: api)
        let client = try PrefactorClient(configuration: PrefactorClient.Configuration(api: api))
        let backend = MemoryBackend(width: 100, height: 30)
        let controller = TUIController(client: client, backend: backend, options: TUIOptions(apiURL: api.apiURL), probe: probe)
        let ui = Task { await controller.run() }
        try await eventually("the first frame") { backend.frameCount > 0 }
        let text = backend.lastFrame!.plainText()
        #expect(text.split(separator: "\n")[0].contains("[unreachable]"), "\(text)")
        // What the transport reports varies (refused, reset): the line names the address and what to do.
        let last = text.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("API check failed: ") && last.contains("127.0.0.1:\(port) - "), "\(text)")
        backend.send(.key(.interrupt))
        #expect(await ui.value == .interrupted(operationsLeft: 0))
        await client.shutdown()
    }

    @Test func effectsReachTheQueueInKeypressOrder() async throws {
        try await withTestServer { server in
            try await withUI(server, noConfirm: true, height: 40) { client, backend, controller, ui in
                let run = try await client.createAgentInstance(agentVersion: ["name": "order"], agentSchemaVersion: [:])
                try await run.start()
                var ids: [String] = []
                for index in 0..<16 {
                    let id = client.spanManager.prepare(instanceID: run.id, schemaName: "step:\(index)", parentSpanID: nil)
                    try await client.spanManager.start(id, payload: [:])
                    ids.append(id)
                }
                try await eventually("every span is delivered and shown") {
                    let model = await controller.currentModel
                    return ids.allSatisfy { model.tree.spans[$0]?.span.apiID != nil } && model.rows.count == 17
                }
                // f on each span, top to bottom, as fast as the keys come.
                backend.send(.key(.character("g")))
                for _ in ids {
                    backend.send(.key(.down))
                    backend.send(.key(.character("f")))
                }
                try await eventually("every finish is delivered") {
                    let model = await controller.currentModel
                    return ids.allSatisfy { id in model.settledOperations[.span(id)]?.contains { $0.kind == .finishSpan } == true
                    }
                }
                let model = await controller.currentModel
                let finishIDs = ids.map { id in
                    model.settledOperations[.span(id)]?.first { $0.kind == .finishSpan }?.id ?? 0
                }
                #expect(!finishIDs.contains(0))
                #expect(finishIDs == finishIDs.sorted(), "the finishes were queued in the order of the keys: \(finishIDs)")
                backend.send(.key(.character("q")))
                #expect(await ui.value == .drained)
            }
        }
    }

    @Test func aBurstOfKeysIsDrawnWithoutWaitingForATick() async throws {
        try await withTestServer { server in
            // Durations tick once an hour here: a frame that waited for the tick would never come.
            try await withUI(server, tickInterval: .seconds(3600)) { client, backend, controller, ui in
                let run = try await client.createAgentInstance(agentVersion: ["name": "burst"], agentSchemaVersion: [:])
                try await run.start()
                try await eventually("the run is shown") { await controller.currentModel.rows.count == 1 }
                backend.send(.key(.character("a")))
                for character in "agent:step:two" { backend.send(.key(.character(character))) }
                for _ in 0..<12 { backend.send(.key(.backspace)) }
                try await eventually("the last frame shows where the burst ended", limit: .seconds(10)) {
                    guard let frame = backend.lastFrame else { return false }
                    return frame.plainText().split(separator: "\n").last?.hasPrefix("New span type: ag ") == true
                }
                #expect(await controller.currentModel.prompt?.text == "ag")
                backend.send(.key(.escape))
                backend.send(.key(.interrupt))
                _ = await ui.value
            }
        }
    }

    @Test func healthChangesAndPermanentFailuresAreLogged() async throws {
        try await withTestServer { server in
            let lines = LogLines()
            try await withUI(server, logger: lines.logger) { client, backend, controller, ui in
                let run = try await client.createAgentInstance(agentVersion: ["name": "logs"], agentSchemaVersion: [:])
                try await run.start()
                server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 503, count: 2))
                let first = client.spanManager.prepare(instanceID: run.id, schemaName: "flaky", parentSpanID: nil)
                try await client.spanManager.start(first, payload: [:])
                try await eventually("the span is delivered after the outage") {
                    await controller.currentModel.tree.spans[first]?.span.apiID != nil
                }
                server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 400, count: 1))
                let second = client.spanManager.prepare(instanceID: run.id, schemaName: "rejected", parentSpanID: nil)
                try await client.spanManager.start(second, payload: [:])
                try await eventually("the failure is logged") { lines.contains("Operation failed permanently") }
                #expect(lines.contains("Delivery health: retrying"), "\(lines.all)")
                #expect(lines.contains("API health: retrying"), "\(lines.all)")
                #expect(lines.contains("API health: ok"), "\(lines.all)")
                #expect(
                    lines.all.contains { $0.contains("Operation failed permanently") && $0.contains("status=400") },
                    "\(lines.all)")
                backend.send(.key(.interrupt))
                _ = await ui.value
            }
        }
    }

    @Test func whatTheDemoSaysIsShownAndLogged() async throws {
        try await withTestServer { server in
            let client = try PrefactorClient(configuration: coreConfiguration(server))
            let backend = MemoryBackend(width: 100, height: 30)
            let (notices, tell) = AsyncStream<String>.makeStream()
            let lines = LogLines()
            let controller = TUIController(
                client: client, backend: backend, options: TUIOptions(apiURL: server.baseURL),
                demo: DemoControl(togglePause: { false }, notices: notices), logger: lines.logger)
            let ui = Task { await controller.run() }
            tell.yield("run ai_1 was terminated by an operator; stopped it (open spans cancelled)")
            try await eventually("the notice is on the message line") {
                backend.lastFrame?.plainText().split(separator: "\n").last
                    == "Demo: run ai_1 was terminated by an operator; stopped it (open spans cancelled)"
            }
            #expect(lines.contains("Demo: run ai_1 was terminated by an operator"))
            backend.send(.key(.interrupt))
            _ = await ui.value
            await client.shutdown()
        }
    }

    @Test func aCleanQuitCancelsWhatIsStillOpen() async throws {
        try await withTestServer { server in
            try await withUI(server) { client, backend, controller, ui in
                let run = try await client.createAgentInstance(agentVersion: ["name": "left-open"], agentSchemaVersion: [:])
                try await run.start()
                let span = client.spanManager.prepare(instanceID: run.id, schemaName: "long", parentSpanID: nil)
                try await client.spanManager.start(span, payload: [:])
                try await eventually("the span is shown") { await controller.currentModel.tree.spans[span] != nil }
                backend.send(.key(.character("q")))
                #expect(await ui.value == .drained)
                let inspector = try APIClient(
                    configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
                let spans = try await inspector.listSpans(instanceID: run.id).items
                #expect(spans.count == 1)
                #expect(spans.first?.status == .cancelled)
                #expect(spans.first?.resultPayload?["cancelled_because"] == .string("the terminal UI quit"))
                let instance = try await inspector.agentInstance(id: run.id)
                #expect(instance.status == .cancelled)
                try? await inspector.shutdown()
            }
        }
    }
}
