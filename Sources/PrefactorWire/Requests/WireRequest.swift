/// A request body: its exact JSON (as ``JSONValue``, written with ``JSONText`` so that `1.0` stays `1.0`).
///
/// Request bodies are also `Encodable`, through their JSON, for use with any encoder.
public protocol WireRequest: Encodable {
    /// The body's JSON.
    var jsonValue: JSONValue { get }
}

extension WireRequest {
    /// Encodes the body's JSON.
    public func encode(to encoder: any Encoder) throws {
        try jsonValue.encode(to: encoder)
    }

    /// The body as compact UTF-8 JSON text.
    public var jsonBytes: [UInt8] {
        Array(JSONText.serialize(jsonValue).utf8)
    }
}
