import Foundation
import PrefactorCore
import PrefactorServer
import PrefactorServerTesting
import PrefactorTUI
import PrefactorWire
import Testing

/// Another process's queue file in the UI: listed read-only, taken over only when its owner is dead, picked from the
/// files found.
@Suite("Queue file view")
struct QueueFileViewTests {
    static let path = "/state/prefactor/queues/demo-42-1.sqlite"

    func entry(_ id: UInt64, failed: String? = nil, attempts: Int = 0, lastError: String? = nil) -> QueueFileEntry {
        let operation = createOperation(id, instance: "inst-x", span: "sp-\(id)", schema: "tool:call", enqueued: 1)
        var entry = QueueFileEntry(
            id: id, kind: operation.kind.rawValue, instanceID: "inst-x", spanID: "sp-\(id)",
            idempotencyKey: operation.idempotencyKey,
            enqueuedAt: at(1), operation: operation, failedReason: failed)
        entry.attempts = attempts
        entry.lastError = lastError
        return entry
    }

    func viewing(alive: Bool) -> AppModel {
        var model = richModel()
        model.focus = .queue
        model.applyQueueFile(
            QueueFileView(
                path: Self.path, owner: .init(pid: 42, command: "demo", startedAt: at(0)), ownerAlive: alive,
                entries: [entry(1, attempts: 2, lastError: "HTTP 503: down"), entry(2, failed: "HTTP 422: rejected")],
                readAt: at(20)))
        return model
    }

    @Test func theFilesOperationsAreListedInsteadOfThisProcesssAndShownInFull() {
        var model = viewing(alive: true)
        #expect(model.queueItems.map(\.id) == [1, 2])
        let frame = lines(model.frame(140, 40)).joined(separator: "\n")
        #expect(frame.contains("file pid 42 demo running: read-only; 2 operation(s), 1 failed; \(Self.path)"), "\(frame)")
        #expect(frame.contains("#1 create_span run inst-x span sp-1  waiting (2 failed attempt(s): HTTP 503: down)"), "\(frame)")
        model.press(.enter)
        let detail = lines(model.frame(140, 40)).joined(separator: "\n")
        #expect(detail.contains("Operation #1 create_span"), "\(detail)")
        #expect(detail.contains("last error: HTTP 503: down"), "\(detail)")
    }

    @Test func escGoesBackToThisProcesssQueue() {
        var model = viewing(alive: true)
        model.press(.enter)
        #expect(model.press(.escape) == [], "first Esc closes the operation shown")
        #expect(model.fileView != nil)
        #expect(model.press(.escape) == [.closeQueueFile])
        #expect(model.fileView == nil)
        #expect(model.queueItems.map(\.id) == [44, 41, 42, 43, 7])
    }

    @Test func whileItsOwnerLivesItIsReadOnly() {
        var model = viewing(alive: true)
        #expect(lines(model.frame(140, 40)).last?.contains("take over") == false, "the hint offers no take-over")
        #expect(lines(viewing(alive: false).frame(140, 40)).last?.contains("D take over") == true)
        #expect(model.press(.character("D")) == [])
        #expect(model.confirmation == nil)
        #expect(model.message?.text.contains("which is running: read-only") == true)
        model.press(.down)
        #expect(model.press(.character("d")) == [])
        #expect(model.confirmation == nil)
        #expect(model.press(.character("r")) == [])
    }

    @Test func aDeadOwnersFileIsTakenOverAfterConfirmation() {
        var model = viewing(alive: false)
        #expect(lines(model.frame(140, 40)).contains { $0.contains("pid 42 demo dead: D takes it over and delivers it") })
        #expect(model.press(.character("D")) == [])
        #expect(model.confirmation?.question.contains("Take over \(Self.path) and deliver its 2 operation(s)") == true)
        #expect(model.press(.character("y")) == [.takeOverQueueFile(Self.path)])
        model.queueFileTakenOver(Self.path)
        #expect(model.fileView?.takingOver == true)
        #expect(model.press(.character("D")) == [], "not twice")

        var declined = viewing(alive: false)
        declined.press(.character("D"), .character("n"))
        #expect(declined.fileView?.takingOver == false)
        var readonly = viewing(alive: false)
        readonly.readonly = true
        #expect(readonly.press(.character("D")) == [])
        #expect(readonly.confirmation == nil)
    }

    @Test func thePickerListsTheFilesFoundAndOpensOne() {
        var model = richModel()
        #expect(model.press(.character("O")) == [.listQueueFiles])
        model.queuePicker = QueueFilePicker(files: [
            QueueFiles.Summary(
                path: "/q/a.sqlite", owner: nil, ownerAlive: true, depth: 3, failed: 0, oldest: nil, bytes: 10, problem: nil),
            QueueFiles.Summary(
                path: "/q/b.sqlite", owner: nil, ownerAlive: false, depth: 5, failed: 1, oldest: nil, bytes: 10, problem: nil),
        ])
        let frame = lines(model.frame(140, 40)).joined(separator: "\n")
        #expect(frame.contains("> live unknown owner: 3 queued, 0 failed"), "\(frame)")
        #expect(frame.contains("  dead unknown owner: 5 queued, 1 failed"), "\(frame)")
        model.press(.down)
        #expect(model.selection == richModel().selection, "the picker has the arrows")
        #expect(model.press(.enter) == [.openQueueFile("/q/b.sqlite")])
        #expect(model.queuePicker == nil)
        #expect(model.focus == .queue)
        model.press(.character("O"))
        model.queuePicker = QueueFilePicker(files: [])
        model.press(.escape)
        #expect(model.queuePicker == nil)
    }
}
