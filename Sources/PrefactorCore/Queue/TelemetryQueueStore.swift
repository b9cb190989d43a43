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
    /// The operations not yet settled, in enqueue order.
    func pendingOperations() -> [TelemetryOperation]
    /// How many operations are kept.
    var count: Int { get }
}

/// The in-memory ``TelemetryQueueStore``: fast, and lost when the process ends.
public final class InMemoryTelemetryQueueStore: TelemetryQueueStore {
    private let operations = Mutex<[UInt64: TelemetryOperation]>([:])

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

    /// The kept operations in enqueue order.
    public func pendingOperations() -> [TelemetryOperation] {
        operations.withLock { $0.values.sorted { $0.id < $1.id } }
    }

    /// How many operations are kept.
    public var count: Int { operations.withLock { $0.count } }
}
