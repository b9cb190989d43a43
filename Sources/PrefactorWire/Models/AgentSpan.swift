import Foundation

/// One unit of agent work (spec §2.2): an LLM call, a tool call, a retrieval step.
public struct AgentSpan: Sendable, Codable, Hashable, Identifiable {
    /// Always `"agent_span"`.
    public var type: String
    /// The span id.
    public var id: String
    /// The instance the span belongs to.
    public var agentInstanceID: String
    /// The span type name, e.g. `agent:llm`.
    public var schemaName: String
    /// The current status.
    public var status: AgentStatus
    /// The owning account.
    public var accountID: String?
    /// The agent.
    public var agentID: String?
    /// The parent span, if any.
    public var parentSpanID: String?
    /// The span type's title.
    public var schemaTitle: String?
    /// The span's parameters.
    public var payload: [String: JSONValue]
    /// The span's result, once finished.
    public var resultPayload: [String: JSONValue]?
    /// A server-rendered summary (only when requested).
    public var summary: String?
    /// When the span started.
    public var startedAt: Date?
    /// When the span was stored.
    public var insertedAt: Date?
    /// When the span last changed.
    public var updatedAt: Date?
    /// When the span finished.
    public var finishedAt: Date?

    /// Creates a span value.
    public init(
        id: String, agentInstanceID: String, schemaName: String, status: AgentStatus, accountID: String? = nil,
        agentID: String? = nil, parentSpanID: String? = nil, schemaTitle: String? = nil,
        payload: [String: JSONValue] = [:], resultPayload: [String: JSONValue]? = nil, summary: String? = nil,
        startedAt: Date? = nil, insertedAt: Date? = nil, updatedAt: Date? = nil, finishedAt: Date? = nil
    ) {
        self.type = "agent_span"
        self.id = id
        self.agentInstanceID = agentInstanceID
        self.schemaName = schemaName
        self.status = status
        self.accountID = accountID
        self.agentID = agentID
        self.parentSpanID = parentSpanID
        self.schemaTitle = schemaTitle
        self.payload = payload
        self.resultPayload = resultPayload
        self.summary = summary
        self.startedAt = startedAt
        self.insertedAt = insertedAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
    }

    /// The wire's member names, written once: the `Decodable` path, the one-pass decoder and the server's
    /// renderer all read them from here.
    package enum CodingKeys: String, CodingKey {
        case type, id, status, payload, summary
        case agentInstanceID = "agent_instance_id"
        case schemaName = "schema_name"
        case accountID = "account_id"
        case agentID = "agent_id"
        case parentSpanID = "parent_span_id"
        case schemaTitle = "schema_title"
        case resultPayload = "result_payload"
        case startedAt = "started_at"
        case insertedAt = "inserted_at"
        case updatedAt = "updated_at"
        case finishedAt = "finished_at"
    }

    /// Decodes a span, rejecting any `type` other than `"agent_span"` and a `null` payload.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        guard type == "agent_span" else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "Expected type agent_span, got \(type)")
        }
        id = try c.decode(String.self, forKey: .id)
        agentInstanceID = try c.decode(String.self, forKey: .agentInstanceID)
        schemaName = try c.decode(String.self, forKey: .schemaName)
        status = try c.decode(AgentStatus.self, forKey: .status)
        accountID = try c.decodeIfPresent(String.self, forKey: .accountID)
        agentID = try c.decodeIfPresent(String.self, forKey: .agentID)
        parentSpanID = try c.decodeIfPresent(String.self, forKey: .parentSpanID)
        schemaTitle = try c.decodeIfPresent(String.self, forKey: .schemaTitle)
        if c.contains(.payload) {
            payload = try c.decode([String: JSONValue].self, forKey: .payload)
        } else {
            payload = [:]
        }
        resultPayload = try c.decodeIfPresent([String: JSONValue].self, forKey: .resultPayload)
        summary = try c.decodeIfPresent(String.self, forKey: .summary)
        startedAt = try c.decodeIfPresent(Date.self, forKey: .startedAt)
        insertedAt = try c.decodeIfPresent(Date.self, forKey: .insertedAt)
        updatedAt = try c.decodeIfPresent(Date.self, forKey: .updatedAt)
        finishedAt = try c.decodeIfPresent(Date.self, forKey: .finishedAt)
    }
}

/// The control block the API may attach to span create and finish responses (spec §6).
public struct ControlSignal: Sendable, Codable, Hashable {
    /// Whether the agent must stop.
    public var terminate: Bool
    /// The operator's reason, if given.
    public var reason: String?

    /// Creates a control signal.
    public init(terminate: Bool, reason: String? = nil) {
        self.terminate = terminate
        self.reason = reason
    }

    /// Reads a control block leniently, as the official SDKs do: only an object whose `terminate` is truthy
    /// counts; anything else (a string, an array, `terminate: false`) is no signal.
    ///
    /// - Parameter value: The raw `control` value of a response, if any.
    /// - Returns: The signal, or `nil`.
    public static func lenient(_ value: JSONValue?) -> ControlSignal? {
        guard let object = value?.objectValue else { return nil }
        let truthy: Bool
        switch object["terminate"] {
        case .bool(let flag): truthy = flag
        case .int(let number): truthy = number != 0
        case .double(let number): truthy = number != 0
        case .string(let text): truthy = !text.isEmpty
        case .array(let items): truthy = !items.isEmpty
        case .object(let members): truthy = !members.isEmpty
        case .null, nil: truthy = false
        }
        guard truthy else { return nil }
        return ControlSignal(terminate: true, reason: object["reason"]?.stringValue)
    }
}

extension AgentSpan: JSONObjectDecodable {
    /// Reads a span as `init(from:)` does, without its error messages.
    init(jsonObject c: JSONObjectReader) throws(JSONObjectReader.Mismatch) {
        typealias K = CodingKeys
        guard try c.string(K.type.rawValue) == "agent_span" else { throw JSONObjectReader.Mismatch() }
        self.init(
            id: try c.string(K.id.rawValue), agentInstanceID: try c.string(K.agentInstanceID.rawValue),
            schemaName: try c.string(K.schemaName.rawValue), status: try c.value(K.status.rawValue, as: AgentStatus.self),
            accountID: try c.optionalString(K.accountID.rawValue), agentID: try c.optionalString(K.agentID.rawValue),
            parentSpanID: try c.optionalString(K.parentSpanID.rawValue),
            schemaTitle: try c.optionalString(K.schemaTitle.rawValue),
            // Present means an object (`null` is rejected); absent means empty.
            payload: c.members[K.payload.rawValue] == nil ? [:] : try c.object(K.payload.rawValue),
            resultPayload: try c.optionalObject(K.resultPayload.rawValue), summary: try c.optionalString(K.summary.rawValue),
            startedAt: try c.optionalDate(K.startedAt.rawValue), insertedAt: try c.optionalDate(K.insertedAt.rawValue),
            updatedAt: try c.optionalDate(K.updatedAt.rawValue), finishedAt: try c.optionalDate(K.finishedAt.rawValue))
    }
}
