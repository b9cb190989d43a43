import Foundation
import PrefactorCore

/// The queue's gauges at one moment.
struct QueueGauges: Sendable, Hashable {
    var depth = 0
    var pending = 0
    var blocked = 0
    var inFlight = 0
    var retrying = 0

    init(_ stats: QueueStats) {
        depth = stats.depth
        pending = stats.pending
        blocked = stats.blocked
        inFlight = stats.inFlight
        retrying = stats.retrying
    }
}

/// One thing to record in the metrics backend.
enum QueueMeasurement: Sendable, Hashable {
    /// The gauges changed.
    case gauges(QueueGauges)
    /// This many more operations were delivered.
    case delivered(Int)
    /// This many more operations failed for good.
    case failed(Int)
    /// An attempt failed and will be retried.
    case retried
    /// An operation was delivered this long after it was queued.
    case deliveryLatency(Duration)
}

/// Turns the client's snapshot and events into measurements: the gauges when they change, counters as increments of
/// the client's running totals (so that events a slow reader lost are still counted once it resynchronises), and
/// the time from each operation's enqueue to its delivery. A value without I/O or clock.
struct QueueMetricsTracker: Sendable {
    /// When each unsettled operation was queued.
    private var enqueuedAt: [UInt64: Date] = [:]
    private var gauges: QueueGauges?
    private var delivered = 0
    private var failed = 0

    /// Starts over from a snapshot (at subscription, and after events were dropped).
    mutating func resynchronize(with snapshot: ClientSnapshot) -> [QueueMeasurement] {
        enqueuedAt = Dictionary(
            snapshot.operations.map { ($0.id, $0.operation.enqueuedAt) }, uniquingKeysWith: { first, _ in first })
        return totals(snapshot.queue)
    }

    /// What one event changes, at `now`.
    mutating func apply(_ event: ClientEvent, at now: Date) -> [QueueMeasurement] {
        switch event {
        case .operationEnqueued(let operation):
            enqueuedAt[operation.id] = operation.operation.enqueuedAt
        case .operationDelivered(let id, _):
            if let queued = enqueuedAt.removeValue(forKey: id) {
                return [.deliveryLatency(.seconds(max(0, now.timeIntervalSince(queued))))]
            }
        case .operationFailed(let failure):
            enqueuedAt[failure.operation.id] = nil
        case .operationRetrying:
            return [.retried]
        case .queueChanged(let stats):
            return totals(stats)
        default:
            break
        }
        return []
    }

    private mutating func totals(_ stats: QueueStats) -> [QueueMeasurement] {
        var measurements: [QueueMeasurement] = []
        let gauges = QueueGauges(stats)
        if gauges != self.gauges {
            self.gauges = gauges
            measurements.append(.gauges(gauges))
        }
        if stats.delivered > delivered {
            measurements.append(.delivered(stats.delivered - delivered))
            delivered = stats.delivered
        }
        if stats.failed > failed {
            measurements.append(.failed(stats.failed - failed))
            failed = stats.failed
        }
        return measurements
    }
}
