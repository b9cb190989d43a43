/// The body of `POST /api/v1/agent`: fields wrapped in `details`, idempotency key at the top level.
public struct CreateAgentRequest: Sendable, Hashable, Encodable {
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

    enum OuterKeys: String, CodingKey {
        case details
        case idempotencyKey = "idempotency_key"
    }

    enum CodingKeys: String, CodingKey {
        case name, description, id
        case externalIdentifier = "external_identifier"
    }

    /// Encodes `{"details": {...}, "idempotency_key": ...}`; absent fields are left out.
    public func encode(to encoder: any Encoder) throws {
        var outer = encoder.container(keyedBy: OuterKeys.self)
        var c = outer.nestedContainer(keyedBy: CodingKeys.self, forKey: .details)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(description, forKey: .description)
        try c.encodeIfPresent(externalIdentifier, forKey: .externalIdentifier)
        try c.encodeIfPresent(id, forKey: .id)
        try outer.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
    }
}
