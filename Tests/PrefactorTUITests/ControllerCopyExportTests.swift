import Foundation
import PrefactorCore
import PrefactorServerTesting
import PrefactorTUI
import PrefactorWire
import Testing

/// `y`, `E` and the mouse through the controller, against the real server: the backend gets the copy, the file is
/// written where the options say, a click reaches the reducer.
@Suite("Controller: copy, export, mouse", .timeLimit(.minutes(2)))
struct ControllerCopyExportTests {
    @Test func copyExportAndClickReachTheBackendTheAPIAndTheModel() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ui-export-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withTestServer { server in
            let options = TUIOptions(apiURL: server.baseURL, exportDirectory: directory)
            try await withRunningUI(server, options: options) { client, backend, controller, ui in
                try await eventually("the first frame") { backend.frameCount > 0 }
                backend.send(.key(.character("n")))
                var run = ""
                try await eventually("the new run is selected and delivered") {
                    let model = await controller.currentModel
                    guard case .instance(let id) = model.selection, model.queue.depth == 0,
                        model.tree.instances[id]?.instance.phase == .active
                    else { return false }
                    run = id
                    return true
                }
                backend.send(.key(.character("y")))
                try await eventually("the run id is copied") { backend.copied == [run] }
                backend.send(.key(.character("E")))
                try await eventually("the export is written") {
                    await controller.currentModel.message?.text.hasPrefix("Exported run \(run) with 0 spans to \(directory)/")
                        == true
                }
                let files = try FileManager.default.contentsOfDirectory(atPath: directory)
                #expect(files.count == 1)
                let export = try RunExport.decode(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + files[0])))
                #expect(export.instance.id == run)
                // A click on the detail pane gives it the focus.
                backend.send(.mouse(MouseEvent(.press, row: 5, column: 80)))
                try await eventually("the detail pane has the focus") { await controller.currentModel.focus == .detail }
                backend.send(.key(.character("q")))
                #expect(await ui.value == .drained)
            }
        }
    }
}
