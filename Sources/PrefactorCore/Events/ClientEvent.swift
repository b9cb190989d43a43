import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// Something the client did, published to every subscriber of ``PrefactorClient/events()``.
///
/// Events carry value snapshots. Applied in order to a ``ClientSnapshot`` taken when subscribing
/// (``PrefactorClient/subscribe()``), they reproduce the client's state: the tree of instances and spans and the
/// delivery queue.
public enum ClientEvent: Sendable, Hashable {
    /// An instance was registered (synchronously, with the API).
    case instanceRegistered(InstanceSnapshot)
    /// An instance was started.
    case instanceStarted(InstanceSnapshot)
    /// An instance was finished.
    case instanceFinished(InstanceSnapshot)
    /// An operator terminated an instance (seen on a span response or the instance poll).
    case instanceTerminated(InstanceSnapshot)
    /// A quality record was queued.
    case qualityRecorded(instanceID: String, name: String, payload: [String: JSONValue]?)
    /// A span was prepared (no API call yet).
    case spanPrepared(SpanSnapshot)
    /// A span was started; its create is queued.
    case spanStarted(SpanSnapshot)
    /// A span's create reached the API: it now has an API id.
    case spanResolved(SpanSnapshot)
    /// A span was finished; its finish is queued.
    case spanFinished(SpanSnapshot)
    /// An operation was queued.
    case operationEnqueued(OperationSnapshot)
    /// An operation's dependencies settled; it is ready to send.
    case operationReady(operationID: UInt64)
    /// An attempt to send an operation began.
    case operationSent(operationID: UInt64, attempt: Int)
    /// The API accepted an operation.
    case operationDelivered(operationID: UInt64, attempts: Int)
    /// An attempt failed and will be retried.
    case operationRetrying(operationID: UInt64, attempt: Int, nextAttemptAt: Date, delay: Duration, error: String)
    /// An operation failed permanently and will not be sent again.
    case operationFailed(FailedOperation)
    /// A bulk request went out carrying these operations: span creates, and the finishes that travel with them.
    case batchSent(operationIDs: [UInt64])
    /// The API has no bulk endpoint (it answered 404 or 405): every operation goes as its own request from now on.
    case bulkUnavailable(reason: String)
    /// The queue counts changed.
    case queueChanged(QueueStats)
    /// The API health changed.
    case healthChanged(APIHealth)
    /// The queue's store reported something: a refused operation (full), a damaged file moved aside, records
    /// skipped, operations recovered, a failed write.
    case queueNotice(QueueNotice)
    /// This subscriber fell behind: `count` events have been dropped from its buffer since it subscribed (the
    /// newest such notice counts them all). Take a new snapshot.
    case eventsDropped(count: Int)
}
