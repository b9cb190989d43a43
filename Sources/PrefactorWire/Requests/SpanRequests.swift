import Foundation

/// The body of `POST /api/v1/agent_spans` (spec §3.7): fields wrapped in `details`, with the idempotency key inside
/// `details` as the official Python SDK places it.
public struct CreateSpanRequest: Sendable, Hashable, WireRequest {
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

    /// The body as JSON, `{"details": {...}}`; absent optional fields are left out.
    public var jsonValue: JSONValue {
        var details: [String: JSONValue] = [
            "agent_instance_id": .string(agentInstanceID), "schema_name": .string(schemaName),
            "status": .string(status.rawValue), "payload": .object(payload),
        ]
        details["result_payload"] = resultPayload.map(JSONValue.object)
        details["id"] = id.map(JSONValue.string)
        details["parent_span_id"] = parentSpanID.map(JSONValue.string)
        details["started_at"] = startedAt.map { .string(WireDate.format($0, style: .python)) }
        details["finished_at"] = finishedAt.map { .string(WireDate.format($0, style: .python)) }
        details["idempotency_key"] = idempotencyKey.map(JSONValue.string)
        return .object(["details": .object(details)])
    }

    /// The body as compact JSON text, written directly in the order of ``jsonValue``'s members (the official
    /// Python SDK's order).
    public var jsonBytes: [UInt8] {
        var body = JSONObjectBytes(capacity: 256)
        body.beginObject("details")
        body.member("agent_instance_id", agentInstanceID)
        body.member("schema_name", schemaName)
        body.member("status", status.rawValue)
        body.member("payload", payload)
        body.member("result_payload", resultPayload)
        body.member("id", id)
        body.member("parent_span_id", parentSpanID)
        body.member("started_at", startedAt.map { WireDate.format($0, style: .python) })
        body.member("finished_at", finishedAt.map { WireDate.format($0, style: .python) })
        body.member("idempotency_key", idempotencyKey)
        body.endObject()
        return body.finish()
    }
}

/// The body of `POST /api/v1/agent_spans/{id}/finish` (flat).
public struct FinishSpanRequest: Sendable, Hashable, WireRequest {
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

    /// The body as JSON; absent fields and an empty result are left out.
    public var jsonValue: JSONValue {
        var body: [String: JSONValue] = [:]
        body["status"] = status.map { .string($0.rawValue) }
        if let resultPayload, !resultPayload.isEmpty { body["result_payload"] = .object(resultPayload) }
        body["timestamp"] = timestamp.map { .string(WireDate.format($0, style: .python)) }
        body["idempotency_key"] = idempotencyKey.map(JSONValue.string)
        return .object(body)
    }

    /// The body as compact JSON text, written directly in the order of ``jsonValue``'s members (the official
    /// Python SDK's order).
    public var jsonBytes: [UInt8] {
        var body = JSONObjectBytes(capacity: 128)
        body.member("status", status?.rawValue)
        body.member("result_payload", resultPayload?.isEmpty == false ? resultPayload : nil)
        body.member("timestamp", timestamp.map { WireDate.format($0, style: .python) })
        body.member("idempotency_key", idempotencyKey)
        return body.finish()
    }
}
