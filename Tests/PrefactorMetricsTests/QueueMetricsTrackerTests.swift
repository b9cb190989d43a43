import Foundation
import MetricsTestKit
import PrefactorCore
import Synchronization
import Testing

@testable import PrefactorMetrics

/// The rules that turn the client's snapshot and events into measurements, with explicit times.
@Suite struct QueueMetricsTrackerTests {
    let start = Date(timeIntervalSince1970: 1_000)

    private func operation(_ id: UInt64, queuedAt: Date) -> OperationSnapshot {
        OperationSnapshot(
            operation: TelemetryOperation(
                id: id, instanceID: "instance", body: .startInstance(timestamp: queuedAt), idempotencyKey: "key-\(id)",
                enqueuedAt: queuedAt),
            state: .pending)
    }

    @Test func aSnapshotSetsTheGaugesAndCountsWhatWasSettledBefore() {
        var tracker = QueueMetricsTracker()
        let stats = QueueStats(pending: 2, blocked: 1, inFlight: 3, retrying: 1, delivered: 10, failed: 2)
        let measurements = tracker.resynchronize(with: ClientSnapshot(queue: stats))
        #expect(measurements == [.gauges(QueueGauges(stats)), .delivered(10), .failed(2)])
        #expect(QueueGauges(stats).depth == 7)
    }

    @Test func countersRiseByTheIncreaseOfTheRunningTotalsAndGaugesOnlyWhenTheyChange() {
        var tracker = QueueMetricsTracker()
        _ = tracker.resynchronize(with: ClientSnapshot(queue: QueueStats(pending: 1, delivered: 4)))
        #expect(tracker.apply(.queueChanged(QueueStats(pending: 1, delivered: 4)), at: start).isEmpty)
        let stats = QueueStats(inFlight: 1, delivered: 7, failed: 1)
        #expect(tracker.apply(.queueChanged(stats), at: start) == [.gauges(QueueGauges(stats)), .delivered(3), .failed(1)])
        #expect(tracker.apply(.queueChanged(stats), at: start).isEmpty)
    }

    @Test func theLatencyRunsFromEnqueueToDelivery() {
        var tracker = QueueMetricsTracker()
        _ = tracker.resynchronize(with: ClientSnapshot(operations: [operation(1, queuedAt: start)]))
        #expect(tracker.apply(.operationEnqueued(operation(2, queuedAt: start + 1)), at: start + 1).isEmpty)
        #expect(
            tracker.apply(.operationDelivered(operationID: 2, attempts: 1), at: start + 3.5) == [.deliveryLatency(.seconds(2.5))])
        #expect(
            tracker.apply(.operationDelivered(operationID: 1, attempts: 1), at: start + 4) == [.deliveryLatency(.seconds(4))],
            "an operation queued before the snapshot is known from it")
        #expect(tracker.apply(.operationDelivered(operationID: 1, attempts: 1), at: start + 5).isEmpty, "measured once")
    }

    @Test func aFailedOrUnknownOperationHasNoLatency() {
        var tracker = QueueMetricsTracker()
        let queued = operation(3, queuedAt: start)
        _ = tracker.apply(.operationEnqueued(queued), at: start)
        #expect(tracker.apply(.operationFailed(FailedOperation(operation: queued.operation, reason: "400")), at: start).isEmpty)
        #expect(tracker.apply(.operationDelivered(operationID: 3, attempts: 1), at: start + 1).isEmpty)
        #expect(tracker.apply(.operationDelivered(operationID: 9, attempts: 1), at: start + 1).isEmpty)
    }

    @Test func aFailedAttemptThatIsRetriedCountsAsARetry() {
        var tracker = QueueMetricsTracker()
        let event = ClientEvent.operationRetrying(operationID: 1, attempt: 1, nextAttemptAt: start, delay: .zero, error: "503")
        #expect(tracker.apply(event, at: start) == [.retried])
    }
}

/// The shell's loop, on scripted subscriptions.
@Suite struct QueueMetricsSubscriptionTests {
    @Test func aReaderThatLostEventsStartsOverFromAFreshSnapshot() async throws {
        let subscriptions = Mutex([
            (ClientSnapshot(queue: QueueStats(delivered: 1)), [ClientEvent.eventsDropped(count: 3)]),
            (ClientSnapshot(queue: QueueStats(delivered: 5)), [ClientEvent.queueChanged(QueueStats(delivered: 6))]),
        ])
        let metrics = TestMetrics()
        let measuring = PrefactorQueueMetrics(
            subscribe: {
                let (snapshot, events) = subscriptions.withLock { $0.removeFirst() }
                return (
                    snapshot,
                    AsyncStream { continuation in
                        for event in events { continuation.yield(event) }
                        continuation.finish()
                    }
                )
            }, labelPrefix: "q", dimensions: [], factory: metrics, now: Date.init)
        await measuring.run()
        let left = subscriptions.withLock { $0.count }
        #expect(left == 0)
        #expect(try metrics.expectCounter("q_delivered_total").totalValue == 6)
    }
}
