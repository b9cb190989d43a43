import Foundation

/// The body of `POST /api/v1/agent_spans` (spec §3.7): fields wrapped in `details`, with the idempotency key inside
/// `details` as the official Python SDK places it.
public struct CreateSpanRequest: Sendable, Hashable, Encodable {
    /// The instance the span belongs to.
    public var agentInstanceID: String
    /// The span type, e.g. `agent:llm`.
    public var schemaName: String
    /// The initial status: `active` for a started span, `pending` for the cancel-unstarted path, or terminal.
    public var status: AgentStatus
    /// The span's parameters (always sent, `{}` when empty).
    public var payload: [String: JSONValue]
    /// The span's result, for spans created already finished.
    public var resultPayload: [String: JSONValue]?
    /// A client-chosen span id.
    public var id: String?
    /// The parent span's API id.
    public var parentSpanID: String?
    /// When the span started (server default: now).
    public var startedAt: Date?
    /// When the span finished, for spans created already finished.
    public var finishedAt: Date?
    /// The idempotency key.
    public var idempotencyKey: String?

    /// Creates a span-create body.
    public init(
        agentInstanceID: String, schemaName: String, status: AgentStatus = .active,
        payload: [String: JSONValue] = [:], resultPayload: [String: JSONValue]? = nil, id: String? = nil,
        parentSpanID: String? = nil, startedAt: Date? = nil, finishedAt: Date? = nil, idempotencyKey: String? = nil
    ) {
        self.agentInstanceID = agentInstanceID
        self.schemaName = schemaName
        self.status = status
        self.payload = payload
        self.resultPayload = resultPayload
        self.id = id
        self.parentSpanID = parentSpanID
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.idempotencyKey = idempotencyKey
    }

    enum OuterKeys: String, CodingKey {
        case details
    }

    enum CodingKeys: String, CodingKey {
        case agentInstanceID = "agent_instance_id"
        case schemaName = "schema_name"
        case status, payload, id
        case resultPayload = "result_payload"
        case parentSpanID = "parent_span_id"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case idempotencyKey = "idempotency_key"
    }

    /// Encodes `{"details": {...}}`; absent optional fields are left out.
    public func encode(to encoder: any Encoder) throws {
        var outer = encoder.container(keyedBy: OuterKeys.self)
        var c = outer.nestedContainer(keyedBy: CodingKeys.self, forKey: .details)
        try c.encode(agentInstanceID, forKey: .agentInstanceID)
        try c.encode(schemaName, forKey: .schemaName)
        try c.encode(status, forKey: .status)
        try c.encode(payload, forKey: .payload)
        try c.encodeIfPresent(resultPayload, forKey: .resultPayload)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encodeIfPresent(parentSpanID, forKey: .parentSpanID)
        try c.encodeIfPresent(startedAt, forKey: .startedAt)
        try c.encodeIfPresent(finishedAt, forKey: .finishedAt)
        try c.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
    }
}

/// The body of `POST /api/v1/agent_spans/{id}/finish` (flat).
public struct FinishSpanRequest: Sendable, Hashable, Encodable {
    /// The final status; the server defaults to `complete`.
    public var status: FinishStatus?
    /// The result; sent only when not empty, as the official Python SDK does.
    public var resultPayload: [String: JSONValue]?
    /// When the span finished.
    public var timestamp: Date?
    /// The idempotency key.
    public var idempotencyKey: String?

    /// Creates a span-finish body.
    public init(
        status: FinishStatus? = nil, resultPayload: [String: JSONValue]? = nil, timestamp: Date? = nil,
        idempotencyKey: String? = nil
    ) {
        self.status = status
        self.resultPayload = resultPayload
        self.timestamp = timestamp
        self.idempotencyKey = idempotencyKey
    }

    enum CodingKeys: String, CodingKey {
        case status, timestamp
        case resultPayload = "result_payload"
        case idempotencyKey = "idempotency_key"
    }

    /// Encodes the body; absent fields and an empty result are left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(status, forKey: .status)
        if let resultPayload, !resultPayload.isEmpty {
            try c.encode(resultPayload, forKey: .resultPayload)
        }
        try c.encodeIfPresent(timestamp, forKey: .timestamp)
        try c.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
    }
}
