import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// Where undelivered operations are kept until they are delivered or fail.
///
/// The client calls ``record(_:)`` when an operation is enqueued and ``remove(_:)`` once it is settled; a store that
/// survives restarts can hand the operations back through ``pendingOperations()``.
public protocol TelemetryQueueStore: Sendable {
    /// Keeps a newly enqueued operation.
    func record(_ operation: TelemetryOperation)
    /// Forgets a settled operation.
    func remove(_ id: UInt64)
    /// A kept operation.
    func operation(_ id: UInt64) -> TelemetryOperation?
    /// The operations not yet settled, in enqueue order.
    func pendingOperations() -> [TelemetryOperation]
    /// How many operations are kept.
    var count: Int { get }
}

/// The in-memory ``TelemetryQueueStore``: the queue's operations live here (the client's state keeps only what it
/// needs to schedule them), fast, and lost when the process ends.
public final class InMemoryTelemetryQueueStore: TelemetryQueueStore {
    private let operations = Mutex(DenseTable<TelemetryOperation>())

    /// Creates an empty store.
    public init() {}

    /// Keeps an operation.
    public func record(_ operation: TelemetryOperation) {
        operations.withLock { $0[operation.id] = operation }
    }

    /// Forgets an operation.
    public func remove(_ id: UInt64) {
        _ = operations.withLock { $0.removeValue(forKey: id) }
    }

    /// A kept operation.
    public func operation(_ id: UInt64) -> TelemetryOperation? {
        operations.withLock { $0[id] }
    }

    /// The kept operations in enqueue order.
    public func pendingOperations() -> [TelemetryOperation] {
        operations.withLock { $0.values }
    }

    /// How many operations are kept.
    public var count: Int { operations.withLock { $0.count } }
}
