import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// One queued call to the API. Operations are plain values and `Codable`, so a queue can keep them on disk.
public struct TelemetryOperation: Sendable, Codable, Hashable, Identifiable {
    /// What the operation does.
    public enum Kind: String, Sendable, Codable, Hashable, CaseIterable {
        /// `POST /agent_instance/{id}/start`.
        case startInstance = "start_instance"
        /// `POST /agent_instance/{id}/finish`.
        case finishInstance = "finish_instance"
        /// `POST /agent_instance/{id}/record_quality`.
        case recordQuality = "record_quality"
        /// `POST /agent_spans`.
        case createSpan = "create_span"
        /// `POST /agent_spans/{id}/finish`.
        case finishSpan = "finish_span"
    }

    /// The call and its arguments.
    public enum Body: Sendable, Codable, Hashable {
        /// Start an instance.
        case startInstance(timestamp: Date)
        /// Finish an instance.
        case finishInstance(status: FinishStatus, timestamp: Date)
        /// Record (or, with `nil`, clear) a quality payload.
        case recordQuality(name: String, payload: [String: JSONValue]?)
        /// Create a span; `spanID` is the client's local id, `parentSpanID` a local or API id.
        case createSpan(
            spanID: String, parentSpanID: String?, schemaName: String, status: AgentStatus, payload: [String: JSONValue],
            startedAt: Date)
        /// Finish a span known by its local id.
        case finishSpan(spanID: String, status: FinishStatus, resultPayload: [String: JSONValue]?, timestamp: Date)
    }

    /// How an operation waits for another.
    public enum DependencyKind: String, Sendable, Codable, Hashable {
        /// Needs the other's result (an API id): fails when the other fails.
        case requires
        /// Only ordered after the other, whatever its outcome.
        case after
    }

    /// A dependency on an earlier operation.
    public struct Dependency: Sendable, Codable, Hashable {
        /// The earlier operation.
        public var operationID: UInt64
        /// How this one depends on it.
        public var kind: DependencyKind
    }

    /// A number unique within the client, increasing in enqueue order.
    public var id: UInt64
    /// The instance the operation belongs to.
    public var instanceID: String
    /// The call.
    public var body: Body
    /// The key sent on every attempt.
    public var idempotencyKey: String
    /// Whether the caller chose ``idempotencyKey`` (rather than the client generating it). Such an operation is always
    /// sent as its own request, so the key the caller gave is the one the API sees.
    public var idempotencyKeyGiven: Bool
    /// When the agent asked for it.
    public var enqueuedAt: Date
    /// Operations that must be settled first.
    public var dependencies: [Dependency]

    /// Creates an operation.
    public init(
        id: UInt64, instanceID: String, body: Body, idempotencyKey: String, idempotencyKeyGiven: Bool = false,
        enqueuedAt: Date, dependencies: [Dependency] = []
    ) {
        self.id = id
        self.instanceID = instanceID
        self.body = body
        self.idempotencyKey = idempotencyKey
        self.idempotencyKeyGiven = idempotencyKeyGiven
        self.enqueuedAt = enqueuedAt
        self.dependencies = dependencies
    }

    private enum CodingKeys: String, CodingKey {
        case id, instanceID, body, idempotencyKey, idempotencyKeyGiven, enqueuedAt, dependencies
    }

    /// Decodes an operation; one encoded without `idempotencyKeyGiven` reads as a generated key.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(UInt64.self, forKey: .id)
        self.instanceID = try container.decode(String.self, forKey: .instanceID)
        self.body = try container.decode(Body.self, forKey: .body)
        self.idempotencyKey = try container.decode(String.self, forKey: .idempotencyKey)
        self.idempotencyKeyGiven = try container.decodeIfPresent(Bool.self, forKey: .idempotencyKeyGiven) ?? false
        self.enqueuedAt = try container.decode(Date.self, forKey: .enqueuedAt)
        self.dependencies = try container.decode([Dependency].self, forKey: .dependencies)
    }

    /// The kind of call.
    public var kind: Kind {
        switch body {
        case .startInstance: return .startInstance
        case .finishInstance: return .finishInstance
        case .recordQuality: return .recordQuality
        case .createSpan: return .createSpan
        case .finishSpan: return .finishSpan
        }
    }

    /// The local span id, for span operations.
    public var spanID: String? {
        switch body {
        case .createSpan(let spanID, _, _, _, _, _), .finishSpan(let spanID, _, _, _): return spanID
        default: return nil
        }
    }
}

/// An operation that failed permanently, with the reason.
public struct FailedOperation: Sendable, Hashable {
    /// The operation.
    public var operation: TelemetryOperation
    /// Why it failed.
    public var reason: String
    /// The HTTP status, when the API answered.
    public var status: Int?

    /// Creates a failed operation.
    public init(operation: TelemetryOperation, reason: String, status: Int? = nil) {
        self.operation = operation
        self.reason = reason
        self.status = status
    }
}

/// What a shutdown could not deliver: nothing is dropped silently.
public struct DeliveryReport: Sendable, Hashable {
    /// Operations still queued or in flight when the deadline passed.
    public var undelivered: [TelemetryOperation]
    /// Operations that failed permanently during the client's life.
    public var failed: [FailedOperation]
    /// Operations delivered during the client's life.
    public var deliveredCount: Int

    /// Whether everything was delivered.
    public var isComplete: Bool { undelivered.isEmpty && failed.isEmpty }
}
