import Foundation
import PrefactorCore
import PrefactorTUI
import Testing

/// The queue pane as a real pane: select an operation, show it in full with every attempt, go to its span, retry it
/// now, discard a failed one; and where each span's data is.
@Suite("Queue pane")
struct QueuePaneTests {
    /// The rich model with the queue focused.
    func focusedQueue(readonly: Bool = false) -> AppModel {
        var model = richModel()
        model.readonly = readonly
        model.focus = .queue
        return model
    }

    @Test func theStripShowsBulkRequestsAndWhatTheLatestCarried() {
        var model = emptyModel()
        #expect(!lines(model.frame(160, 30)).joined().contains("batches"), "no bulk request yet: nothing shown")
        model.apply(
            at: 1,
            [
                .batchSent(operationIDs: Array(1...10)),
                .batchSent(operationIDs: [11, 12, 13, 14]),
                .queueChanged(QueueStats(inFlight: 4, delivered: 10, bulkRequests: 2, bulkOperations: 14)),
            ])
        #expect(lines(model.frame(160, 30)).joined().contains("batches 2, last 4 ops"))
        model.apply(at: 2, [.bulkUnavailable(reason: "the API has no bulk endpoint (HTTP 404)")])
        #expect(model.message?.text.contains("no bulk endpoint") == true)
    }

    @Test func everyAttemptIsRecordedFromTheClientsEvents() {
        var model = emptyModel()
        model.apply(at: 0, [.instanceStarted(instance("inst"))])
        let create = createOperation(3, instance: "inst", span: "sp", schema: "tool:call", enqueued: 1)
        model.apply(at: 1, [.operationEnqueued(OperationSnapshot(operation: create, state: .pending))])
        model.apply(at: 2, [.operationSent(operationID: 3, attempt: 1)])
        model.apply(
            at: 3,
            [
                .operationRetrying(
                    operationID: 3, attempt: 1, nextAttemptAt: at(5), delay: .seconds(2), error: "HTTP 503: the whole error text")
            ])
        model.apply(at: 5, [.operationSent(operationID: 3, attempt: 2)])
        model.apply(at: 6, [.operationDelivered(operationID: 3, attempts: 2)])
        #expect(
            model.attempts[3] == [
                OperationAttempt(
                    number: 1, sentAt: at(2), settledAt: at(3),
                    status: .retrying(error: "HTTP 503: the whole error text", nextAttemptAt: at(5))),
                OperationAttempt(number: 2, sentAt: at(5), settledAt: at(6), status: .delivered),
            ])
        let failing = createOperation(4, instance: "inst", span: "sp2", schema: "tool:call", enqueued: 7)
        model.apply(
            at: 7,
            [
                .operationEnqueued(OperationSnapshot(operation: failing, state: .pending)),
                .operationSent(operationID: 4, attempt: 1),
            ])
        model.apply(
            at: 8, [.operationFailed(FailedOperation(operation: failing, reason: "HTTP 422: payload rejected", status: 422))])
        #expect(
            model.attempts[4] == [
                OperationAttempt(
                    number: 1, sentAt: at(7), settledAt: at(8), status: .failed(reason: "HTTP 422: payload rejected"))
            ])
    }

    @Test func theListHasQueuedOperationsThenFailedOnesAndArrowsSelect() {
        var model = focusedQueue()
        #expect(model.queueItems.map(\.id) == [44, 41, 42, 43, 7])
        #expect(model.selectedQueueIndex == 0)
        model.press(.down, .down)
        #expect(model.queueSelection == 42)
        model.press(.end)
        #expect(model.queueSelection == 7)
        model.press(.up)
        #expect(model.queueSelection == 43)
        #expect(model.selection == richModel().selection, "the tree's selection does not move")
    }

    @Test func enterShowsTheOperationInFullAndEscReturns() {
        var model = focusedQueue()
        model.press(.enter)
        #expect(model.operationDetail == 44)
        let text = lines(model.frame(140, 40)).joined(separator: "\n")
        #expect(text.contains("Operation #44 create_span"), "\(text)")
        #expect(text.contains("key      key-44"), "\(text)")
        #expect(text.contains("schema agent:step"), "\(text)")
        #expect(text.contains("span     sp-skip (agent:step)"), "\(text)")
        #expect(text.contains("retrying #3"), "\(text)")
        model.press(.escape)
        #expect(model.operationDetail == nil)
        #expect(!lines(model.frame(140, 40)).joined(separator: "\n").contains("Operation #44"))
    }

    @Test func theFullViewListsEveryAttemptWithItsCompleteError() {
        var model = focusedQueue()
        let long = "HTTP 503: Service Unavailable - the upstream database is in maintenance until 12:00 UTC; retry later"
        model.apply(at: 21, [.operationSent(operationID: 42, attempt: 1)])
        model.apply(
            at: 22, [.operationRetrying(operationID: 42, attempt: 1, nextAttemptAt: at(30), delay: .seconds(8), error: long)])
        model.queueSelection = 42
        model.press(.enter)
        let text = lines(model.frame(200, 50)).joined(separator: "\n")
        #expect(text.contains("#1 2026-01-01T00:00:21.000Z failed, retry at 2026-01-01T00:00:30.000Z"), "\(text)")
        #expect(text.contains(long), "\(text)")
    }

    @Test func rRetriesOnlyAnOperationWaitingOutABackoff() {
        var model = focusedQueue()
        #expect(model.press(.character("r")) == [.retryNow(44)])
        #expect(model.message?.text == "Retrying #44 now")
        model.press(.down)
        #expect(model.press(.character("r")) == [])
        #expect(model.message?.isError == true)
    }

    @Test func aFailedOperationIsDiscardedAfterConfirmation() {
        var model = focusedQueue()
        model.press(.end)
        #expect(model.press(.character("d")) == [])
        #expect(model.confirmation?.question.contains("Discard failed #7 start_instance") == true)
        #expect(model.press(.character("y")) == [.discardOperation(7)])
        model.operationDiscarded(7, fromFile: nil)
        #expect(model.queueItems.map(\.id) == [44, 41, 42, 43])
        #expect(model.message?.text.contains("removed from the list") == true)

        var onDisk = focusedQueue()
        onDisk.press(.end, .character("d"), .character("y"))
        onDisk.operationDiscarded(7, fromFile: "/state/q.sqlite")
        #expect(onDisk.message?.text.contains("removed from /state/q.sqlite") == true)
    }

    @Test func onlyFailedOperationsCanBeDiscardedAndNotReadOnly() {
        var model = focusedQueue()
        #expect(model.press(.character("d")) == [])
        #expect(model.confirmation == nil)
        #expect(model.message?.isError == true)
        var readonly = focusedQueue(readonly: true)
        readonly.press(.end)
        #expect(readonly.press(.character("d")) == [])
        #expect(readonly.confirmation == nil)
        #expect(readonly.message?.text.contains("Read-only") == true)
        var cancelled = focusedQueue()
        cancelled.press(.end, .character("d"), .character("n"))
        #expect(cancelled.queueItems.map(\.id).contains(7))
    }

    @Test func tGoesToTheOperationsSpanInTheTree() {
        var model = focusedQueue()
        model.collapsed.insert(.instance(IDs.alpha))
        model.press(.down)  // #41, the create of sp-search
        model.press(.character("t"))
        #expect(model.selection == .span("sp-search"))
        #expect(model.focus == .tree)
        #expect(model.rowIndex(of: .span("sp-search")) != nil, "its folded ancestors open")
    }

    @Test func eachSpanSaysWhereItsDataIs() {
        var model = richModel()
        #expect(model.dataLocation(of: .span("sp-search")) == .memory(operations: 1))
        model.selection = .span("sp-search")
        #expect(lines(model.frame(160, 40)).contains { $0.contains("data     in memory: 1 not sent") })
        model.queueFile = "/state/prefactor/queues/tui-1.sqlite"
        #expect(model.dataLocation(of: .span("sp-search")) == .disk(file: "/state/prefactor/queues/tui-1.sqlite", operations: 1))
        model.selection = .span("sp-search")
        let text = lines(model.frame(160, 40)).joined(separator: "\n")
        #expect(text.contains("on disk: 1 not sent, in"), "\(text)")
        #expect(text.contains("/state/prefactor/queues/tui-1.sqlite"), "\(text)")

        var delivered = spanWithOperations()
        delivered.apply(at: 3, [.operationSent(operationID: 9, attempt: 1), .operationDelivered(operationID: 9, attempts: 1)])
        #expect(delivered.dataLocation(of: .span("sp")) == .delivered)
        #expect(lines(delivered.frame(140, 40)).contains { $0.contains("data     delivered") })
    }
}
