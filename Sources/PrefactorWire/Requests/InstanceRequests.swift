import Foundation

/// The body of `POST /api/v1/agent_instance/register` (spec §3.3), flat, as the official Python SDK sends it.
public struct RegisterAgentInstanceRequest: Sendable, Hashable, WireRequest {
    /// Version information: `name`, `external_identifier`, `description` and any extra fields.
    public var agentVersion: [String: JSONValue]
    /// The schema version (spec §7.1); may be empty.
    public var agentSchemaVersion: [String: JSONValue]
    /// Whether to pin the deployment's current version to this one.
    public var updateCurrentVersion: Bool
    /// The agent; omitted with deployment-scoped tokens.
    public var agentID: String?
    /// The environment; omitted with deployment-scoped tokens.
    public var environmentID: String?
    /// A client-chosen instance id.
    public var id: String?
    /// The idempotency key (at most 64 characters).
    public var idempotencyKey: String?
    /// Why the instance runs; the server defaults to `live`.
    public var purpose: InstancePurpose?
    /// An identifier for this instance in an external system.
    public var externalIdentifier: String?

    /// Creates a register body.
    public init(
        agentVersion: [String: JSONValue] = [:], agentSchemaVersion: [String: JSONValue] = [:],
        updateCurrentVersion: Bool = true, agentID: String? = nil, environmentID: String? = nil, id: String? = nil,
        idempotencyKey: String? = nil, purpose: InstancePurpose? = nil, externalIdentifier: String? = nil
    ) {
        self.agentVersion = agentVersion
        self.agentSchemaVersion = agentSchemaVersion
        self.updateCurrentVersion = updateCurrentVersion
        self.agentID = agentID
        self.environmentID = environmentID
        self.id = id
        self.idempotencyKey = idempotencyKey
        self.purpose = purpose
        self.externalIdentifier = externalIdentifier
    }

    /// The body as JSON; absent optional fields are left out, not sent as `null`.
    public var jsonValue: JSONValue {
        var body: [String: JSONValue] = [
            "agent_version": .object(agentVersion), "agent_schema_version": .object(agentSchemaVersion),
            "update_current_version": .bool(updateCurrentVersion),
        ]
        body["agent_id"] = agentID.map(JSONValue.string)
        body["environment_id"] = environmentID.map(JSONValue.string)
        body["id"] = id.map(JSONValue.string)
        body["idempotency_key"] = idempotencyKey.map(JSONValue.string)
        body["purpose"] = purpose.map { .string($0.rawValue) }
        body["external_identifier"] = externalIdentifier.map(JSONValue.string)
        return .object(body)
    }
}

/// The body of `POST /api/v1/agent_instance/{id}/start`: `timestamp` is always present, `null` when not given.
public struct StartAgentInstanceRequest: Sendable, Hashable, WireRequest {
    /// When the instance started.
    public var timestamp: Date?
    /// The idempotency key.
    public var idempotencyKey: String?

    /// Creates a start body.
    public init(timestamp: Date? = nil, idempotencyKey: String? = nil) {
        self.timestamp = timestamp
        self.idempotencyKey = idempotencyKey
    }

    /// The body as JSON, with an explicit `timestamp` (possibly `null`).
    public var jsonValue: JSONValue {
        var body: [String: JSONValue] = ["timestamp": timestamp.map { .string(WireDate.format($0, style: .python)) } ?? .null]
        body["idempotency_key"] = idempotencyKey.map(JSONValue.string)
        return .object(body)
    }
}

/// The body of `POST /api/v1/agent_instance/{id}/finish` and of span finish (without a result).
public struct FinishAgentInstanceRequest: Sendable, Hashable, WireRequest {
    /// The final status; the server defaults to `complete`.
    public var status: FinishStatus?
    /// When the instance finished.
    public var timestamp: Date?
    /// The idempotency key.
    public var idempotencyKey: String?

    /// Creates a finish body.
    public init(status: FinishStatus? = nil, timestamp: Date? = nil, idempotencyKey: String? = nil) {
        self.status = status
        self.timestamp = timestamp
        self.idempotencyKey = idempotencyKey
    }

    /// The body as JSON; absent fields are left out.
    public var jsonValue: JSONValue {
        var body: [String: JSONValue] = [:]
        body["status"] = status.map { .string($0.rawValue) }
        body["timestamp"] = timestamp.map { .string(WireDate.format($0, style: .python)) }
        body["idempotency_key"] = idempotencyKey.map(JSONValue.string)
        return .object(body)
    }
}

/// The body of `POST /api/v1/agent_instance/{id}/record_quality`: `payload` is always present (`null` clears).
public struct RecordQualityRequest: Sendable, Hashable, WireRequest {
    /// The quality schema name.
    public var name: String
    /// The quality record, or `nil` to remove the record of that name.
    public var payload: [String: JSONValue]?
    /// The idempotency key.
    public var idempotencyKey: String?

    /// Creates a record-quality body.
    public init(name: String, payload: [String: JSONValue]?, idempotencyKey: String? = nil) {
        self.name = name
        self.payload = payload
        self.idempotencyKey = idempotencyKey
    }

    /// The body as JSON, with an explicit `payload` (possibly `null`).
    public var jsonValue: JSONValue {
        var body: [String: JSONValue] = ["name": .string(name), "payload": payload.map(JSONValue.object) ?? .null]
        body["idempotency_key"] = idempotencyKey.map(JSONValue.string)
        return .object(body)
    }
}

/// The body of `POST /api/v1/agent_instance/{id}/terminate`.
public struct TerminateAgentInstanceRequest: Sendable, Hashable, WireRequest {
    /// Why the operator stops the instance.
    public var reason: String?
    /// The idempotency key.
    public var idempotencyKey: String?

    /// Creates a terminate body.
    public init(reason: String?, idempotencyKey: String? = nil) {
        self.reason = reason
        self.idempotencyKey = idempotencyKey
    }

    /// The body as JSON; absent fields are left out.
    public var jsonValue: JSONValue {
        var body: [String: JSONValue] = [:]
        body["reason"] = reason.map(JSONValue.string)
        body["idempotency_key"] = idempotencyKey.map(JSONValue.string)
        return .object(body)
    }
}
