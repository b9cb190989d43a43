import Foundation
import PrefactorTUI
import Testing

@testable import PrefactorCommands
@testable import PrefactorCore

/// What the UI prints when it ends, and the exit status: 0 only when everything was delivered.
struct SessionSummaryTests {
    let failure = FailedOperation(
        operation: TelemetryOperation(
            id: 3, instanceID: "ai_1", body: .startInstance(timestamp: Date()), idempotencyKey: "k", enqueuedAt: Date()),
        reason: "HTTP 400", status: 400)

    @Test func quittingWithFailedOperationsExitsNonZero() {
        let summary = SessionSummary(
            exit: .drained, report: DeliveryReport(undelivered: [], failed: [failure], deliveredCount: 7), logPath: "/tmp/tui.log"
        )
        #expect(summary.status == 1)
        #expect(summary.text == "prefactor: 0 operations were not delivered and 1 failed (see /tmp/tui.log).")
    }

    @Test func everythingDeliveredExitsZero() {
        let summary = SessionSummary(
            exit: .drained, report: DeliveryReport(undelivered: [], failed: [], deliveredCount: 7), logPath: "/tmp/tui.log")
        #expect(summary.status == 0)
        #expect(summary.text == "prefactor: 7 operations delivered; nothing left in the queue.")
    }

    @Test func quittingAtOnceWithOperationsLeftExitsNonZero() {
        let summary = SessionSummary(
            exit: .abandoned(operationsLeft: 2), report: DeliveryReport(undelivered: [], failed: [], deliveredCount: 0),
            logPath: "/tmp/tui.log")
        #expect(summary.status == 1)
        #expect(summary.text == "prefactor: quit at once with 2 operations still queued (not delivered).")
    }

    @Test func aSignalSaysWhatItLeavesBehind() {
        #expect(
            TUICommand.leftBehind(operations: 4, openRuns: 2, signal: SIGTERM)
                == "prefactor: stopped by signal 15 with 4 operations still queued (not delivered) and 2 runs left open (they stay active on the API)."
        )
        #expect(
            TUICommand.leftBehind(operations: 0, openRuns: 0, signal: SIGINT)
                == "prefactor: interrupted with 0 operations still queued (not delivered).")
    }
}
