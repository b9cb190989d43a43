import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// Where a span is in its life, locally.
public enum SpanPhase: String, Sendable, Hashable, Codable {
    /// Prepared, not started: no API call yet.
    case prepared
    /// Created on the API with status `pending` and not started: a span of another process seen through the API
    /// (the cancel-unstarted path creates a span `pending`, then cancels it).
    case pending
    /// Started: its create is queued or delivered.
    case active
    /// Finished successfully.
    case complete
    /// Finished with a failure.
    case failed
    /// Cancelled (after start, or before it through the cancel-unstarted path).
    case cancelled

    /// Whether the span is finished.
    public var isFinished: Bool { self == .complete || self == .failed || self == .cancelled }
}

/// Where an instance is in its life, locally.
public enum InstancePhase: String, Sendable, Hashable, Codable {
    /// Registered, not started.
    case registered
    /// Started.
    case active
    /// Finished successfully.
    case complete
    /// Finished with a failure.
    case failed
    /// Cancelled.
    case cancelled
    /// Terminated by an operator.
    case terminated

    /// Whether the instance is finished or terminated.
    public var isFinished: Bool { self != .registered && self != .active }
}

/// Whether the API is taking the client's operations.
public enum APIHealth: String, Sendable, Hashable, Codable {
    /// The last call succeeded.
    case ok
    /// Calls fail with retryable statuses (429, 5xx) and are being retried.
    case retrying
    /// The API cannot be reached (connection errors, timeouts); calls are being retried.
    case unreachable
    /// The token was rejected (401/403): delivery is paused and the queue kept until the token works again.
    case authFailed = "auth_failed"
}

/// A value copy of a span as the client knows it.
public struct SpanSnapshot: Sendable, Hashable, Identifiable {
    /// The local id, fixed for the span's life.
    public var id: String
    /// The API's id, once the create was delivered.
    public var apiID: String?
    /// The instance.
    public var instanceID: String
    /// The parent's id (local when the parent is local).
    public var parentID: String?
    /// The span type.
    public var schemaName: String
    /// The local phase.
    public var phase: SpanPhase
    /// Parameters.
    public var payload: [String: JSONValue]
    /// Result, once finished (or accumulated by `setResult`).
    public var resultPayload: [String: JSONValue]?
    /// When prepared.
    public var preparedAt: Date
    /// When started.
    public var startedAt: Date?
    /// When finished.
    public var finishedAt: Date?
    /// Whether its create reached the API.
    public var createDelivered: Bool
    /// Whether its finish reached the API.
    public var finishDelivered: Bool
    /// A permanent failure of one of its operations.
    public var deliveryError: String?
    /// Its payload or its result was left in the queue file, not kept in memory (a queue file with a backlog past
    /// ``PrefactorClient/Configuration/queuePayloadMemory``), so this snapshot leaves it out; the events that announced
    /// the span's start and finish carried it.
    public var payloadInQueueFile = false

    /// Creates a span snapshot.
    public init(
        id: String, apiID: String? = nil, instanceID: String, parentID: String? = nil, schemaName: String, phase: SpanPhase,
        payload: [String: JSONValue] = [:], resultPayload: [String: JSONValue]? = nil, preparedAt: Date,
        startedAt: Date? = nil, finishedAt: Date? = nil, createDelivered: Bool = false, finishDelivered: Bool = false,
        deliveryError: String? = nil
    ) {
        self.id = id
        self.apiID = apiID
        self.instanceID = instanceID
        self.parentID = parentID
        self.schemaName = schemaName
        self.phase = phase
        self.payload = payload
        self.resultPayload = resultPayload
        self.preparedAt = preparedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.createDelivered = createDelivered
        self.finishDelivered = finishDelivered
        self.deliveryError = deliveryError
    }
}

/// A value copy of an instance as the client knows it.
public struct InstanceSnapshot: Sendable, Hashable, Identifiable {
    /// The API id.
    public var id: String
    /// The agent.
    public var agentID: String?
    /// The agent's name, as this client registered it (`agent_version.name`); `nil` when not known here.
    public var agentName: String?
    /// The agent version's identifier, as this client registered it (`agent_version.external_identifier`).
    public var agentVersion: String?
    /// The local phase.
    public var phase: InstancePhase
    /// When registered.
    public var registeredAt: Date
    /// When started.
    public var startedAt: Date?
    /// When finished or terminated.
    public var finishedAt: Date?
    /// The operator's reason, when terminated.
    public var terminationReason: String?
    /// Quality records sent.
    public var quality: [String: JSONValue]

    /// Creates an instance snapshot.
    public init(
        id: String, agentID: String? = nil, phase: InstancePhase, registeredAt: Date, startedAt: Date? = nil,
        finishedAt: Date? = nil, terminationReason: String? = nil, quality: [String: JSONValue] = [:],
        agentName: String? = nil, agentVersion: String? = nil
    ) {
        self.id = id
        self.agentID = agentID
        self.agentName = agentName
        self.agentVersion = agentVersion
        self.phase = phase
        self.registeredAt = registeredAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.terminationReason = terminationReason
        self.quality = quality
    }
}

/// The state of one queued operation.
public enum OperationState: Sendable, Hashable {
    /// Waiting for operations it depends on.
    case blocked
    /// Ready for a worker.
    case pending
    /// Being sent (attempt number, 1-based).
    case inFlight(attempt: Int)
    /// Waiting to be sent again after a failure.
    case retrying(attempt: Int, nextAttemptAt: Date, error: String)
}

/// A queued operation and its state.
public struct OperationSnapshot: Sendable, Hashable, Identifiable {
    /// The operation.
    public var operation: TelemetryOperation
    /// Its state.
    public var state: OperationState
    /// The operation id.
    public var id: UInt64 { operation.id }

    /// Creates an operation snapshot.
    public init(operation: TelemetryOperation, state: OperationState) {
        self.operation = operation
        self.state = state
    }
}

/// Counts of the delivery queue.
public struct QueueStats: Sendable, Hashable {
    /// Ready for a worker.
    public var pending = 0
    /// Waiting for a dependency.
    public var blocked = 0
    /// Being sent.
    public var inFlight = 0
    /// Waiting to retry.
    public var retrying = 0
    /// Delivered since start.
    public var delivered = 0
    /// Failed permanently since start.
    public var failed = 0
    /// When the oldest undelivered operation was enqueued.
    public var oldestEnqueuedAt: Date?
    /// Bulk requests sent since start (retries included).
    public var bulkRequests = 0
    /// Operations those bulk requests carried (span creates and the finishes that travelled with them).
    public var bulkOperations = 0

    /// Operations not yet settled.
    public var depth: Int { pending + blocked + inFlight + retrying }

    /// Creates queue counts.
    public init(
        pending: Int = 0, blocked: Int = 0, inFlight: Int = 0, retrying: Int = 0, delivered: Int = 0, failed: Int = 0,
        oldestEnqueuedAt: Date? = nil, bulkRequests: Int = 0, bulkOperations: Int = 0
    ) {
        self.pending = pending
        self.blocked = blocked
        self.inFlight = inFlight
        self.retrying = retrying
        self.delivered = delivered
        self.failed = failed
        self.oldestEnqueuedAt = oldestEnqueuedAt
        self.bulkRequests = bulkRequests
        self.bulkOperations = bulkOperations
    }
}

/// Everything the client knows, at one instant.
public struct ClientSnapshot: Sendable {
    /// Instances, in registration order.
    public var instances: [InstanceSnapshot]
    /// Spans, in preparation order.
    public var spans: [SpanSnapshot]
    /// Unsettled operations, in enqueue order.
    public var operations: [OperationSnapshot]
    /// Queue counts.
    public var queue: QueueStats
    /// API health.
    public var health: APIHealth

    /// Creates a snapshot.
    public init(
        instances: [InstanceSnapshot] = [], spans: [SpanSnapshot] = [], operations: [OperationSnapshot] = [],
        queue: QueueStats = QueueStats(), health: APIHealth = .ok
    ) {
        self.instances = instances
        self.spans = spans
        self.operations = operations
        self.queue = queue
        self.health = health
    }
}
