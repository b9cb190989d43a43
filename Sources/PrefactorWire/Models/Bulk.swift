/// The answer to one bulk item (spec §3.9): the action's success envelope, or its error envelope.
public struct BulkOutput: Codable, Sendable, Hashable {
    /// Whether the item succeeded.
    public enum Status: String, Codable, Sendable, Hashable {
        /// The action ran; see ``BulkOutput/details`` or ``BulkOutput/summaries``.
        case success
        /// The action failed; see ``BulkOutput/code``, ``BulkOutput/message`` and ``BulkOutput/errors``.
        case error
    }

    /// Whether the item succeeded.
    public var status: Status
    /// Every member of the output, `status` included.
    public var fields: [String: JSONValue]

    /// Creates an output from its members.
    ///
    /// - Parameter fields: The output object; its `status` must be `success` or `error`.
    /// - Throws: `DecodingError` when `status` is missing or anything else.
    public init(fields: [String: JSONValue]) throws {
        guard let text = fields["status"]?.stringValue, let status = Status(rawValue: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "status must be 'success' or 'error', got \(fields["status"] ?? .null)"))
        }
        self.status = status
        self.fields = fields
    }

    /// Decodes an output object.
    public init(from decoder: any Decoder) throws {
        try self.init(fields: try [String: JSONValue](from: decoder))
    }

    /// Encodes the output object as received.
    public func encode(to encoder: any Encoder) throws {
        try fields.encode(to: encoder)
    }

    /// The resource of a successful single-resource action (`agents/create`, `agents/show`,
    /// `agent_instances/register`, `agent_spans/create`).
    public var details: JSONValue? { fields["details"] }
    /// The items of a successful list action (`agents/list`).
    public var summaries: [JSONValue]? { fields["summaries"]?.arrayValue }
    /// The error code of a failed item, e.g. `not_found`.
    public var code: String? { fields["code"]?.stringValue }
    /// The error message of a failed item.
    public var message: String? { fields["message"]?.stringValue }
    /// The field errors of a failed item, when it was rejected for its parameters.
    public var errors: [String: JSONValue]? { fields["errors"]?.objectValue }

    /// Decodes ``details`` as a model, e.g. `try output.details(as: AgentInstance.self)`.
    ///
    /// - Parameter type: The model type.
    /// - Returns: The model.
    /// - Throws: `DecodingError` when there are no details or they do not match the model.
    public func details<T: Decodable>(as type: T.Type) throws -> T {
        guard let details else {
            throw DecodingError.valueNotFound(T.self, .init(codingPath: [], debugDescription: "the output has no details"))
        }
        return try JSONValueDecoder().decode(T.self, from: details)
    }
}

/// The response of `POST /api/v1/bulk` (spec §3.9): one output per item that ran, keyed by its idempotency key.
///
/// Items run in order and processing stops at the first that fails: its output has status
/// ``BulkOutput/Status/error`` and the items after it have no output.
public struct BulkResponse: Codable, Sendable, Hashable {
    /// `success` whenever the request itself was accepted, even if an item failed.
    public var status: String
    /// The outputs, keyed by the items' idempotency keys.
    public var outputs: [String: BulkOutput]

    /// Creates a response.
    public init(status: String = "success", outputs: [String: BulkOutput]) {
        self.status = status
        self.outputs = outputs
    }

    enum CodingKeys: String, CodingKey {
        case status, outputs
    }

    /// Decodes a response; `status` defaults to `success`, as in the official Python SDK.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decodeIfPresent(String.self, forKey: .status) ?? "success"
        outputs = try container.decode([String: BulkOutput].self, forKey: .outputs)
    }

    /// The output of the item that failed, with its key, or `nil` when every item succeeded. (Processing stops at
    /// the first failure, so there is at most one.)
    public var failure: (key: String, output: BulkOutput)? {
        outputs.first { $0.value.status == .error }.map { ($0.key, $0.value) }
    }
}
