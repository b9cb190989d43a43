import Foundation

/// A model that ``JSONValueDecoder`` reads straight from a JSON object, without the generic `Decoder` machinery.
///
/// The hot response models (spans and instances) are decoded once per API call; going through `init(from:)` costs
/// a coding path, a container and a metadata lookup per field. `init(jsonObject:)` must accept exactly the objects
/// `init(from:)` accepts and yield the same value. It need not explain a rejection: the decoder then runs
/// `init(from:)`, which throws the precise `DecodingError`, so messages are the same either way.
protocol JSONObjectDecodable: Decodable {
    /// Reads the model from a JSON object.
    ///
    /// - Throws: ``JSONObjectReader/Mismatch`` when `init(from:)` would reject the object.
    init(jsonObject: JSONObjectReader) throws(JSONObjectReader.Mismatch)
}

/// Reads the members of a JSON object the way ``JSONValueDecoder``'s containers do, failing without detail.
///
/// `required` members must be present and readable (a `null` is a mismatch, as `decode(_:forKey:)` has it);
/// `optional` members may be absent or `null` (as `decodeIfPresent(_:forKey:)` has it) but, when present, must be
/// readable.
struct JSONObjectReader {
    /// The object does not decode; ``JSONValueDecoder`` finds out why.
    struct Mismatch: Error {}

    let members: [String: JSONValue]

    init(_ members: [String: JSONValue]) {
        self.members = members
    }

    func required<T>(_ key: String, _ read: (JSONValue) -> T?) throws(Mismatch) -> T {
        guard let value = members[key], let result = read(value) else { throw Mismatch() }
        return result
    }

    func optional<T>(_ key: String, _ read: (JSONValue) -> T?) throws(Mismatch) -> T? {
        guard let value = members[key], !value.isNull else { return nil }
        guard let result = read(value) else { throw Mismatch() }
        return result
    }

    func string(_ key: String) throws(Mismatch) -> String { try required(key, \.stringValue) }
    func optionalString(_ key: String) throws(Mismatch) -> String? { try optional(key, \.stringValue) }
    func date(_ key: String) throws(Mismatch) -> Date { try required(key, Self.date) }
    func optionalDate(_ key: String) throws(Mismatch) -> Date? { try optional(key, Self.date) }
    func object(_ key: String) throws(Mismatch) -> [String: JSONValue] { try required(key, \.objectValue) }
    func optionalObject(_ key: String) throws(Mismatch) -> [String: JSONValue]? { try optional(key, \.objectValue) }
    func int(_ key: String) throws(Mismatch) -> Int { try required(key, Self.int) }

    func value<T: RawRepresentable<String>>(_ key: String, as type: T.Type) throws(Mismatch) -> T {
        try required(key) { $0.stringValue.flatMap(T.init(rawValue:)) }
    }

    func optionalValue<T: RawRepresentable<String>>(_ key: String, as type: T.Type) throws(Mismatch) -> T? {
        try optional(key) { $0.stringValue.flatMap(T.init(rawValue:)) }
    }

    func optionalModel<T: JSONObjectDecodable>(_ key: String, as type: T.Type) throws(Mismatch) -> T? {
        try optional(key) { value in value.objectValue.flatMap { try? T(jsonObject: JSONObjectReader($0)) } }
    }

    /// A `Date` as the decoder reads it: a string ``WireDate`` parses.
    static func date(_ value: JSONValue) -> Date? {
        value.stringValue.flatMap(WireDate.parse)
    }

    /// An `Int` as the decoder reads it: an integral number (`2.0` counts) that fits.
    static func int(_ value: JSONValue) -> Int? {
        value.intValue.flatMap { Int(exactly: $0) }
    }

    /// A `[String: String]` as the decoder reads it: an object whose members are all strings.
    static func stringDictionary(_ value: JSONValue) -> [String: String]? {
        guard let object = value.objectValue else { return nil }
        var result: [String: String] = [:]
        result.reserveCapacity(object.count)
        for (key, member) in object {
            guard let text = member.stringValue else { return nil }
            result[key] = text
        }
        return result
    }
}
