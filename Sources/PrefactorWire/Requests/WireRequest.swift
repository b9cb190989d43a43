/// A request body: its exact JSON (as ``JSONValue``, written with ``JSONText`` so that `1.0` stays `1.0`).
///
/// Request bodies are also `Encodable`, through their JSON, for use with any encoder.
public protocol WireRequest: Encodable {
    /// The body's JSON.
    var jsonValue: JSONValue { get }

    /// The body as compact UTF-8 JSON text.
    ///
    /// By default ``jsonValue`` written with ``JSONText``. The bodies sent once per span write their text
    /// directly, members in a fixed order; the text parses to the same ``jsonValue`` and writes every value
    /// exactly as ``JSONText`` does.
    var jsonBytes: [UInt8] { get }
}

extension WireRequest {
    /// Encodes the body's JSON.
    public func encode(to encoder: any Encoder) throws {
        try jsonValue.encode(to: encoder)
    }

    /// The body as compact UTF-8 JSON text: ``jsonValue`` written with ``JSONText``.
    public var jsonBytes: [UInt8] {
        Array(JSONText.serialize(jsonValue).utf8)
    }
}
