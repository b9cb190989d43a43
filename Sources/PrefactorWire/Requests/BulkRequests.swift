/// One item of a bulk request (spec §3.9): the action to run, its idempotency key, and the action's parameters,
/// flat next to them, as the official Python SDK sends them.
///
/// ```swift
/// let item = BulkItem(type: "agents/list", idempotencyKey: "list-agents-1", parameters: ["sorting": "-name"])
/// ```
public struct BulkItem: Sendable, Hashable {
    /// The action, e.g. `agent_spans/create` (the Python SDK names `agents/list`, `agents/create`, `agents/show`,
    /// `agent_instances/register` and `agent_spans/create`).
    public var type: String
    /// The item's idempotency key: required, 8 to 64 characters, unique within the request. The output of the item
    /// is keyed by it.
    public var idempotencyKey: String
    /// The action's parameters; `_type` and `idempotency_key` here are overridden by ``type`` and ``idempotencyKey``.
    public var parameters: [String: JSONValue]

    /// Creates an item.
    ///
    /// - Parameters:
    ///   - type: The action, e.g. `agents/create`.
    ///   - idempotencyKey: The item's key (8 to 64 characters); a new UUID by default.
    ///   - parameters: The action's parameters, flat.
    public init(type: String, idempotencyKey: String = IdempotencyKey.generate(), parameters: [String: JSONValue] = [:]) {
        self.type = type
        self.idempotencyKey = idempotencyKey
        self.parameters = parameters
    }

    /// An `agent_instances/register` item with the fields of a register body (its own key is replaced).
    ///
    /// - Parameters:
    ///   - request: The instance to register.
    ///   - idempotencyKey: The item's key; a new UUID by default.
    /// - Returns: The item.
    public static func registerAgentInstance(
        _ request: RegisterAgentInstanceRequest, idempotencyKey: String = IdempotencyKey.generate()
    ) -> BulkItem {
        BulkItem(
            type: "agent_instances/register", idempotencyKey: idempotencyKey, parameters: request.jsonValue.objectValue ?? [:])
    }

    /// An `agent_spans/create` item with the fields of a span-create body, flat rather than in `details`.
    ///
    /// - Parameters:
    ///   - request: The span to create.
    ///   - idempotencyKey: The item's key; a new UUID by default.
    /// - Returns: The item.
    public static func createSpan(_ request: CreateSpanRequest, idempotencyKey: String = IdempotencyKey.generate()) -> BulkItem {
        BulkItem(
            type: "agent_spans/create", idempotencyKey: idempotencyKey,
            parameters: request.jsonValue["details"]?.objectValue ?? [:])
    }

    /// An `agents/create` item with the fields of an agent-create body, flat rather than in `details`.
    ///
    /// - Parameters:
    ///   - request: The agent to create.
    ///   - idempotencyKey: The item's key; a new UUID by default.
    /// - Returns: The item.
    public static func createAgent(_ request: CreateAgentRequest, idempotencyKey: String = IdempotencyKey.generate()) -> BulkItem
    {
        BulkItem(
            type: "agents/create", idempotencyKey: idempotencyKey, parameters: request.jsonValue["details"]?.objectValue ?? [:])
    }

    /// The item as JSON: `{"_type": ..., "idempotency_key": ..., ...parameters}`.
    public var jsonValue: JSONValue {
        var object = parameters
        object["_type"] = .string(type)
        object["idempotency_key"] = .string(idempotencyKey)
        return .object(object)
    }
}

/// The body of `POST /api/v1/bulk` in the official Python SDK's dialect: `{"items": [...]}` (spec §3.9).
public struct BulkRequest: Sendable, Hashable, WireRequest {
    /// The items, run in this order.
    public var items: [BulkItem]

    /// How long an item's idempotency key must be, in characters.
    public static let keyLength = 8...64

    /// Creates a bulk body.
    ///
    /// - Parameter items: The items, run in this order.
    public init(items: [BulkItem]) {
        self.items = items
    }

    /// Why the API would reject the request, or `nil` when it would not: it needs at least one item, and keys of 8
    /// to 64 characters that are unique within the request (the official Python SDK checks the same before
    /// sending).
    public var problem: String? {
        if items.isEmpty { return "a bulk request needs at least one item" }
        var seen: Set<String> = []
        for (index, item) in items.enumerated() {
            let length = item.idempotencyKey.count
            guard BulkRequest.keyLength.contains(length) else {
                return "items[\(index)].idempotency_key must be 8 to 64 characters, got \(length)"
            }
            guard seen.insert(item.idempotencyKey).inserted else {
                return "items[\(index)].idempotency_key must be unique within the request"
            }
        }
        return nil
    }

    /// The body as JSON.
    public var jsonValue: JSONValue {
        ["items": .array(items.map(\.jsonValue))]
    }
}
