import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServerTesting
import PrefactorTUI
import PrefactorWire
import Testing

/// A failed wait.
struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Waits until `condition` holds. The limit only turns a hang into a clear failure; nothing relies on timing.
func eventually(
    _ what: String, limit: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while true {
        if try await condition() { return }
        guard ContinuousClock.now < deadline else {
            Issue.record("Timed out waiting until \(what)", sourceLocation: sourceLocation)
            throw TimedOut(description: what)
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// A core client configuration for the test server, with short delays.
func coreConfiguration(_ server: TestServer) -> PrefactorClient.Configuration {
    var api = APIClient.Configuration(apiURL: server.baseURL, apiToken: server.token)
    api.retryPolicy = RetryPolicy(maxRetries: 0, initialDelay: .milliseconds(2), maxDelay: .milliseconds(20))
    api.requestTimeout = .seconds(5)
    return PrefactorClient.Configuration(
        api: api, workers: 2, drainTimeout: .seconds(10), terminationPollInterval: .milliseconds(100),
        maintenanceInterval: .milliseconds(20))
}

/// Runs a core client and a controller on a memory backend against the test server while `body` drives them (the
/// UI's task is given, to await its exit); then shuts the client down.
func withRunningUI(
    _ server: TestServer, options: TUIOptions? = nil, width: Int = 100, height: Int = 30, queueFile: String? = nil,
    _ body: (PrefactorClient, MemoryBackend, TUIController, Task<TUIExit, Never>) async throws -> Void
) async throws {
    var configuration = coreConfiguration(server)
    configuration.queueFile = queueFile
    let client = try PrefactorClient(configuration: configuration)
    let backend = MemoryBackend(width: width, height: height)
    let controller = TUIController(client: client, backend: backend, options: options ?? TUIOptions(apiURL: server.baseURL))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        let ui = Task { await controller.run() }
        try await body(client, backend, controller, ui)
        await client.shutdown()
        try await group.waitForAll()
    }
}

@Suite("Controller")
struct ControllerTests {
    @Test func operatorCreatesStartsAndFinishesASpan() async throws {
        try await withTestServer { server in
            try await withRunningUI(server) { client, backend, controller, ui in
                func key(_ character: Character) { backend.send(.key(.character(character))) }

                // n: a new run, selected when created.
                try await eventually("the first frame") { backend.frameCount > 0 }
                #expect(backend.lastFrame?.plainText().contains("No agent runs yet") == true)
                key("n")
                var instanceID = ""
                try await eventually("the new run is selected") {
                    let model = await controller.currentModel
                    guard case .instance(let id) = model.selection, model.tree.instances[id]?.instance.phase == .active else {
                        return false
                    }
                    instanceID = id
                    return true
                }

                // a, Enter: a span with the default type under the run, selected.
                key("a")
                try await eventually("the prompt is open") { await controller.currentModel.prompt != nil }
                #expect(await controller.currentModel.prompt?.instanceID == instanceID)
                backend.send(.key(.enter))
                var spanID = ""
                try await eventually("the prepared span is selected") {
                    let model = await controller.currentModel
                    guard case .span(let id) = model.selection, let span = model.tree.spans[id]?.span else { return false }
                    spanID = id
                    return span.phase == .prepared && span.schemaName == AppModel.defaultSchemaName
                        && span.instanceID == instanceID
                        && span.parentID == nil
                }

                // s: started.
                key("s")
                try await eventually("the span is active") {
                    await controller.currentModel.tree.spans[spanID]?.span.phase == .active
                }

                // f: finished as complete.
                key("f")
                try await eventually("the span is complete") {
                    await controller.currentModel.tree.spans[spanID]?.span.phase == .complete
                }

                // The server has it, complete.
                let inspector = try APIClient(
                    configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
                try await eventually("the server holds the complete span") {
                    let spans = try await inspector.listSpans(instanceID: instanceID).items
                    return spans.count == 1 && spans[0].status == .complete && spans[0].schemaName == AppModel.defaultSchemaName
                }
                let apiID = try await inspector.listSpans(instanceID: instanceID).items[0].id
                try await eventually("the span is resolved in the UI") {
                    await controller.currentModel.tree.spans[spanID]?.span.apiID == apiID
                }

                // The frame shows it.
                try await eventually("the frame shows the complete span") {
                    guard let frame = backend.lastFrame?.plainText() else { return false }
                    return frame.contains("✓ agent:step") && frame.contains(apiID)
                }

                // q drains the queue and ends the session.
                key("q")
                let exit = await ui.value
                #expect(exit == .drained)
                #expect(await controller.currentModel.queue.depth == 0)
                #expect(client.isShutDown)
                try? await inspector.shutdown()
            }
        }
    }

    @Test func resizeAndInterrupt() async throws {
        try await withTestServer { server in
            let options = TUIOptions(apiURL: server.baseURL, readonly: true)
            try await withRunningUI(server, options: options, width: 80, height: 24) { _, backend, _, ui in
                try await eventually("the first frame") { backend.frameCount > 0 }
                backend.send(.resize(width: 50, height: 10))
                try await eventually("the too-small message") {
                    backend.lastFrame?.plainText()
                        == "Need 60x14 (now 50x10): terminal too small;\nenlarge it or press q to quit"
                        + String(repeating: "\n", count: 8)
                }
                backend.send(.resize(width: 120, height: 40))
                try await eventually("a full frame") {
                    guard let frame = backend.lastFrame else { return false }
                    return frame.width == 120 && frame.height == 40 && frame.plainText().contains("read-only")
                }
                backend.send(.key(.character("n")))
                try await eventually("the refusal") { backend.lastFrame?.plainText().contains("Read-only mode") == true }
                backend.send(.key(.interrupt))
                #expect(await ui.value == .interrupted(operationsLeft: 0), "Ctrl-C ends the UI as interrupted (exit status 130)")
            }
        }
    }
}
