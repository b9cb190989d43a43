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
    /// Applies a step's changes (in one transaction, for a store that has them).
    ///
    /// - Returns: Why the changes could not be written (a full disk), or `nil` when they were.
    @discardableResult func apply(_ changes: StoreChanges) -> String?
    /// What a new client takes over from the store.
    func recover() -> (operations: [TelemetryOperation], resolved: [String: String], skipped: Int)
    /// Whether the store keeps operations beyond the client's memory. The client's state machine holds every queued
    /// operation itself; it writes to the store only when the store is durable.
    var isDurable: Bool { get }
}

extension TelemetryQueueStore {
    /// A store is durable unless it says otherwise.
    public var isDurable: Bool { true }

    /// Applies a step's changes: new operations recorded, delivered ones removed (failed ones too, by default).
    @discardableResult public func apply(_ changes: StoreChanges) -> String? {
        for operation in changes.persist { record(operation) }
        for id in changes.forget { remove(id) }
        for (id, _) in changes.failed { remove(id) }
        return nil
    }

    /// What a new client takes over: the operations, the API ids recorded for their spans, and how many records
    /// could not be read.
    public func recover() -> (operations: [TelemetryOperation], resolved: [String: String], skipped: Int) {
        (pendingOperations(), [:], 0)
    }
}

/// The in-memory ``TelemetryQueueStore``, the default: the client keeps its queued operations in its own memory
/// (they are lost when the process ends) and does not copy them here. Usable on its own as a plain store.
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

    /// Not durable: the client does not write to it.
    public var isDurable: Bool { false }
}
