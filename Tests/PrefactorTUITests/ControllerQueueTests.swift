import Foundation
import PrefactorCore
import PrefactorServer
import PrefactorServerTesting
import PrefactorTUI
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
