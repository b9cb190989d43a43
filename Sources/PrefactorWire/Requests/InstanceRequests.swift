import Foundation

/// The body of `POST /api/v1/agent_instance/register` (spec §3.3), flat, as the official Python SDK sends it.
public struct RegisterAgentInstanceRequest: Sendable, Hashable, Encodable {
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

    enum CodingKeys: String, CodingKey {
        case agentVersion = "agent_version"
        case agentSchemaVersion = "agent_schema_version"
        case updateCurrentVersion = "update_current_version"
        case agentID = "agent_id"
        case environmentID = "environment_id"
        case id
        case idempotencyKey = "idempotency_key"
        case purpose
        case externalIdentifier = "external_identifier"
    }

    /// Encodes the body; absent optional fields are left out, not sent as `null`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(agentVersion, forKey: .agentVersion)
        try c.encode(agentSchemaVersion, forKey: .agentSchemaVersion)
        try c.encode(updateCurrentVersion, forKey: .updateCurrentVersion)
        try c.encodeIfPresent(agentID, forKey: .agentID)
        try c.encodeIfPresent(environmentID, forKey: .environmentID)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
        try c.encodeIfPresent(purpose, forKey: .purpose)
        try c.encodeIfPresent(externalIdentifier, forKey: .externalIdentifier)
    }
}

/// The body of `POST /api/v1/agent_instance/{id}/start`: `timestamp` is always present, `null` when not given.
public struct StartAgentInstanceRequest: Sendable, Hashable, Encodable {
    /// When the instance started.
    public var timestamp: Date?
    /// The idempotency key.
    public var idempotencyKey: String?

    /// Creates a start body.
    public init(timestamp: Date? = nil, idempotencyKey: String? = nil) {
        self.timestamp = timestamp
        self.idempotencyKey = idempotencyKey
    }

    enum CodingKeys: String, CodingKey {
        case timestamp
        case idempotencyKey = "idempotency_key"
    }

    /// Encodes the body with an explicit `timestamp` (possibly `null`).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(timestamp, forKey: .timestamp)
        try c.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
    }
}

/// The body of `POST /api/v1/agent_instance/{id}/finish` and of span finish (without a result).
public struct FinishAgentInstanceRequest: Sendable, Hashable, Encodable {
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

    enum CodingKeys: String, CodingKey {
        case status, timestamp
        case idempotencyKey = "idempotency_key"
    }

    /// Encodes the body; absent fields are left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(status, forKey: .status)
        try c.encodeIfPresent(timestamp, forKey: .timestamp)
        try c.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
    }
}

/// The body of `POST /api/v1/agent_instance/{id}/record_quality`: `payload` is always present (`null` clears).
public struct RecordQualityRequest: Sendable, Hashable, Encodable {
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

    enum CodingKeys: String, CodingKey {
        case name, payload
        case idempotencyKey = "idempotency_key"
    }

    /// Encodes the body with an explicit `payload` (possibly `null`).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(payload, forKey: .payload)
        try c.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
    }
}

/// The body of `POST /api/v1/agent_instance/{id}/terminate`.
public struct TerminateAgentInstanceRequest: Sendable, Hashable, Encodable {
    /// Why the operator stops the instance.
    public var reason: String?
    /// The idempotency key.
    public var idempotencyKey: String?

    /// Creates a terminate body.
    public init(reason: String?, idempotencyKey: String? = nil) {
        self.reason = reason
        self.idempotencyKey = idempotencyKey
    }

    enum CodingKeys: String, CodingKey {
        case reason
        case idempotencyKey = "idempotency_key"
    }

    /// Encodes the body; absent fields are left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(reason, forKey: .reason)
        try c.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
    }
}
