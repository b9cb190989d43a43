import Foundation
import PrefactorCore

/// An operation of a node that is settled: delivered, or failed for good. Kept for the detail pane, so that the
/// idempotency keys of what was sent stay visible after the queue let go of them.
public struct SettledOperation: Sendable, Hashable {
    /// How it ended.
    public enum Outcome: Sendable, Hashable {
        /// The API accepted it, after this many attempts.
        case delivered(attempts: Int)
        /// It failed for good, for this reason.
        case failed(reason: String)
    }

    /// The operation id (increasing in enqueue order).
    public var id: UInt64
    /// The kind of call.
    public var kind: TelemetryOperation.Kind
    /// The key it was sent with on every attempt.
    public var idempotencyKey: String
    /// How it ended.
    public var outcome: Outcome

    /// Creates a settled operation.
    public init(id: UInt64, kind: TelemetryOperation.Kind, idempotencyKey: String, outcome: Outcome) {
        self.id = id
        self.kind = kind
        self.idempotencyKey = idempotencyKey
        self.outcome = outcome
    }
}

/// An operation of a node as the detail pane lists it: still queued, or settled.
public enum NodeOperation: Sendable, Hashable {
    /// In the queue.
    case queued(OperationSnapshot)
    /// Delivered or failed for good.
    case settled(SettledOperation)

    /// The operation id.
    public var id: UInt64 {
        switch self {
        case .queued(let snapshot): return snapshot.id
        case .settled(let settled): return settled.id
        }
    }
}

extension TelemetryOperation {
    /// The tree node the operation belongs to: its span, or its instance.
    var node: NodeID {
        spanID.map(NodeID.span) ?? .instance(instanceID)
    }
}

extension AppModel {
    /// Settled operations kept per node; older ones are forgotten.
    static let settledOperationsKept = 16

    /// Remembers a settled operation of a node (for its idempotency key), and lets the span's status follow the
    /// outcome: a cancel-unstarted span is cancelled once its cancel is delivered; a span whose operation failed for
    /// good no longer matches the API.
    mutating func settle(_ operation: TelemetryOperation, _ outcome: SettledOperation.Outcome) {
        let node = operation.node
        var list = settledOperations[node] ?? []
        list.append(
            SettledOperation(id: operation.id, kind: operation.kind, idempotencyKey: operation.idempotencyKey, outcome: outcome))
        if list.count > Self.settledOperationsKept { list.removeFirst(list.count - Self.settledOperationsKept) }
        settledOperations[node] = list
        guard let spanID = operation.spanID else { return }
        switch outcome {
        case .delivered where operation.kind == .finishSpan:
            // Only a change of status is worth a new tree version.
            guard tree.spans[spanID]?.status == .pending else { return }
            tree.amendSpan(spanID, at: now) { $0.finishDelivered = true }
        case .delivered:
            break
        case .failed(let reason):
            tree.amendSpan(spanID, at: now) { span in
                if span.deliveryError == nil { span.deliveryError = reason }
            }
        }
    }

    /// The operations of a node, queued and settled, oldest first.
    public func nodeOperations(for node: NodeID) -> [NodeOperation] {
        let queued = operations(for: node).map(NodeOperation.queued)
        let settled = (settledOperations[node] ?? []).map(NodeOperation.settled)
        return (settled + queued).sorted { $0.id < $1.id }
    }
}
