import Foundation
import PrefactorCore
import PrefactorServer
import PrefactorServerTesting
import PrefactorTUI
import PrefactorWire
import Testing

@Suite("Controller: the queue pane", .timeLimit(.minutes(2)))
struct ControllerQueueTests {
    /// n, a Enter, s: a run with a started span, whose create the API rejects; returns the span's local id.
    func startRejectedSpan(_ backend: MemoryBackend, _ controller: TUIController) async throws -> String {
        try await eventually("the first frame") { backend.frameCount > 0 }
        backend.send(.key(.character("n")))
        try await eventually("the new run is selected") {
            guard case .instance = await controller.currentModel.selection else { return false }
            return true
        }
        backend.send(.key(.character("a")))
        try await eventually("the prompt is open") { await controller.currentModel.prompt != nil }
        backend.send(.key(.enter))
        var spanID = ""
        try await eventually("the prepared span is selected") {
            guard case .span(let id) = await controller.currentModel.selection else { return false }
            spanID = id
            return true
        }
        backend.send(.key(.character("s")))
        try await eventually("its create failed for good") { await !controller.currentModel.failures.isEmpty }
        return spanID
    }

    @Test func aFailedOperationIsDiscardedFromTheQueueFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-ui-queue-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("ui.sqlite").path
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 422))
            try await withRunningUI(server, width: 120, height: 40, queueFile: file) { _, backend, controller, _ in
                let spanID = try await startRejectedSpan(backend, controller)
                #expect(await controller.currentModel.queueFile == file)
                let failed = try SQLiteTelemetryQueueStore.inspect(path: file).entries().filter { $0.failedReason != nil }
                #expect(failed.count == 1)
                #expect(await controller.currentModel.dataLocation(of: .span(spanID)) == .disk(file: file, operations: 1))

                // Tab Tab: the queue; End selects the failed create; Enter shows its attempt and the whole error.
                for key: Key in [.tab, .tab, .end, .enter] { backend.send(.key(key)) }
                try await eventually("the operation is shown in full") {
                    guard let frame = backend.lastFrame?.plainText() else { return false }
                    return frame.contains("Operation #") && frame.contains("failed for good") && frame.contains("422")
                }
                // d y: discarded from the file, recorded as dropped.
                for key: Key in [.character("d"), .character("y")] { backend.send(.key(key)) }
                try await eventually("the message says where it was removed") {
                    await controller.currentModel.message?.text.contains("removed from \(file)") == true
                }
                let store = try SQLiteTelemetryQueueStore.inspect(path: file)
                #expect(try store.entries().filter { $0.failedReason != nil }.isEmpty)
                #expect(store.droppedCount() == 1)
                #expect(await controller.currentModel.queueItems.isEmpty)
                backend.send(.key(.character("q")))
            }
        }
    }

    @Test func inMemoryAFailedOperationLeavesTheList() async throws {
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 422))
            try await withRunningUI(server, width: 120, height: 40) { _, backend, controller, _ in
                let spanID = try await startRejectedSpan(backend, controller)
                #expect(await controller.currentModel.dataLocation(of: .span(spanID)) == .memory(operations: 1))
                for key: Key in [.tab, .tab, .end, .character("d"), .character("y")] { backend.send(.key(key)) }
                try await eventually("the message says it left the list") {
                    await controller.currentModel.message?.text.contains("removed from the list") == true
                }
                #expect(await controller.currentModel.queueItems.isEmpty)
                backend.send(.key(.character("q")))
            }
        }
    }
}

@Suite("Controller: another process's queue file", .timeLimit(.minutes(2)))
struct ControllerQueueFileTests {
    /// Delivers a file with a client on it, as `prefactor tui` does when it takes one over.
    static func takeOver(_ server: TestServer) -> @Sendable (String) async -> String {
        { path in
            var configuration = coreConfiguration(server)
            configuration.queueFile = path
            guard let client = try? PrefactorClient(configuration: configuration) else { return "cannot open \(path)" }
            let report = await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await client.run() }
                while client.snapshot().queue.depth > 0 { try? await Task.sleep(for: .milliseconds(20)) }
                let report = await client.shutdown()
                await group.waitForAll()
                return report
            }
            return "Took over \(path): \(report.deliveredCount) delivered"
        }
    }

    @Test func aLiveOwnersFileIsReadOnlyAndADeadOnesIsTakenOverAndDelivered() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-ui-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("agent.sqlite").path
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_instance/*/start", status: 503))
            // Another "process": a client on the file whose start cannot be delivered. It holds the file until it is
            // gone.
            do {
                var configuration = coreConfiguration(server)
                configuration.queueFile = file
                configuration.drainTimeout = .milliseconds(100)
                var owner: PrefactorClient? = try PrefactorClient(configuration: configuration)
                var running: Task<Void, any Error>? = Task { [owner] in try await owner?.run() }
                var run: AgentInstanceHandle? = try await owner?.createAgentInstance(
                    agentVersion: ["name": "other"], agentSchemaVersion: [:])
                try await run?.start()
                try await eventually("the start waits in the file") {
                    try SQLiteTelemetryQueueStore.inspect(path: file).entries().count == 1
                }

                let control = QueueFileControl(
                    directory: directory.path, interval: .milliseconds(50), initial: file, takeOver: Self.takeOver(server))
                let client = try PrefactorClient(configuration: coreConfiguration(server))
                let backend = MemoryBackend(width: 140, height: 40)
                let controller = TUIController(
                    client: client, backend: backend, options: TUIOptions(apiURL: server.baseURL), queueFiles: control)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await client.run() }
                    let ui = Task { await controller.run() }
                    do {
                        try await eventually("the file is shown, read-only", limit: .seconds(5)) {
                            backend.lastFrame?.plainText().contains("running: read-only") == true
                        }
                    } catch {
                        Issue.record("the last frame: \(backend.lastFrame?.plainText() ?? "none")")
                        throw error
                    }
                    backend.send(.key(.character("D")))
                    try await eventually("D is refused") {
                        await controller.currentModel.message?.text.contains("read-only") == true
                    }
                    #expect(await controller.currentModel.confirmation == nil)

                    // The owner stops with its start undelivered: the view, read again, says so.
                    _ = await owner?.shutdown()
                    _ = try? await running?.value
                    (owner, running, run) = (nil, nil, nil)
                    try await eventually("the owner is seen dead") {
                        backend.lastFrame?.plainText().contains("dead: D takes it over") == true
                    }
                    server.faults.removeAll()
                    backend.send(.key(.character("D")))
                    try await eventually("asked first") { await controller.currentModel.confirmation != nil }
                    backend.send(.key(.character("y")))
                    try await eventually("taken over and delivered") {
                        let model = await controller.currentModel
                        return model.message?.text.contains("Took over \(file): 1 delivered") == true
                            && model.fileView?.entries.isEmpty == true
                    }
                    backend.send(.key(.character("q")))
                    _ = await ui.value
                    await client.shutdown()
                    try await group.waitForAll()
                }
            }
            #expect(try SQLiteTelemetryQueueStore.inspect(path: file).entries().isEmpty)
        }
    }
}
