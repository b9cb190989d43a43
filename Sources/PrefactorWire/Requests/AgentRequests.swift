/// The body of `POST /api/v1/agent`: fields wrapped in `details`, idempotency key at the top level.
public struct CreateAgentRequest: Sendable, Hashable, WireRequest {
    /// The agent's name (required).
    public var name: String
    /// A description.
    public var description: String?
    /// An identifier unique per account, settable only at create.
    public var externalIdentifier: String?
    /// A client-chosen agent id.
    public var id: String?
    /// The idempotency key.
    public var idempotencyKey: String?

    /// Creates an agent-create body.
    public init(
        name: String, description: String? = nil, externalIdentifier: String? = nil, id: String? = nil,
        idempotencyKey: String? = nil
    ) {
        self.name = name
        self.description = description
        self.externalIdentifier = externalIdentifier
        self.id = id
        self.idempotencyKey = idempotencyKey
    }

    /// The body as JSON, `{"details": {...}, "idempotency_key": ...}`; absent fields are left out.
    public var jsonValue: JSONValue {
        var details: [String: JSONValue] = ["name": .string(name)]
        details["description"] = description.map(JSONValue.string)
        details["external_identifier"] = externalIdentifier.map(JSONValue.string)
        details["id"] = id.map(JSONValue.string)
        var body: [String: JSONValue] = ["details": .object(details)]
        body["idempotency_key"] = idempotencyKey.map(JSONValue.string)
        return .object(body)
    }
}
