import Foundation

/// An arbitrary JSON value: span payloads, result payloads, quality payloads and schemas.
///
/// `JSONValue` can be written as a literal, so payloads read like the JSON they become:
///
/// ```swift
/// let payload: [String: JSONValue] = ["model": "gpt-4", "tokens": 42, "stream": false]
/// ```
///
/// Integers and floating-point numbers are kept apart so that `42` is sent as `42`, not `42.0`.
public enum JSONValue: Sendable, Hashable {
    /// JSON `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number without a fraction or exponent that fits in 64 bits.
    case int(Int64)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object. Key order is not significant in JSON and is not kept.
    case object([String: JSONValue])
}

extension JSONValue {
    /// The dictionary when this value is an object, otherwise `nil`.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The array when this value is an array, otherwise `nil`.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The string when this value is a string, otherwise `nil`.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The Boolean when this value is `true` or `false`, otherwise `nil`.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The integer when this value is an integral number, otherwise `nil`.
    public var intValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value) where value.rounded() == value && abs(value) < 9.0e15: return Int64(value)
        default: return nil
        }
    }

    /// The number as a `Double` when this value is a number, otherwise `nil`.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    /// Whether this value is JSON `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The member named `key` when this value is an object, otherwise `nil`.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// A name for the JSON type of this value, as used in validation messages ("object", "string", ...).
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// `Codable` support, for using `JSONValue` inside other `Codable` types.
///
/// Foundation's `JSONEncoder` writes `1.0` as `1` and its `JSONDecoder` reads `1.0` as an integer, so the number
/// kind does not survive them; ``JSONText``, ``JSONParser`` and ``JSONValueDecoder`` keep it, and the API client and
/// server use only those.
extension JSONValue: Codable {
    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Not a JSON value")
        }
    }

    /// Encodes this value as the JSON it represents.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral {
    /// Creates JSON `null`.
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: ExpressibleByBooleanLiteral {
    /// Creates a JSON Boolean.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    /// Creates a JSON integer.
    public init(integerLiteral value: Int64) { self = .int(value) }
}

extension JSONValue: ExpressibleByFloatLiteral {
    /// Creates a JSON number with a fraction.
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension JSONValue: ExpressibleByStringLiteral {
    /// Creates a JSON string.
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSONValue: ExpressibleByArrayLiteral {
    /// Creates a JSON array.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    /// Creates a JSON object. A repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue: CustomStringConvertible {
    /// The value as compact JSON text with sorted keys.
    public var description: String {
        (try? String(decoding: WireCoding.sortedEncoder.encode(self), as: UTF8.self)) ?? "<invalid JSON>"
    }
}

extension JSONValue {
    /// Parses JSON text into a value with ``JSONParser``.
    ///
    /// - Parameter data: UTF-8 JSON text.
    /// - Throws: ``JSONParser/Error`` when the text is not JSON.
    public init(parsing data: Data) throws {
        self = try JSONParser.parse(data)
    }

    /// The value pretty-printed with sorted keys, for people to read.
    public var prettyPrinted: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? description
    }
}

extension JSONValue {
    /// About how many bytes the value takes as JSON text, without writing it: exact for strings without escapes,
    /// booleans and null, an upper bound for numbers. Cheap enough to count every queued payload.
    package var estimatedSize: Int {
        switch self {
        case .null: return 4
        case .bool(let value): return value ? 4 : 5
        case .int: return 20
        case .double: return 24
        case .string(let text): return text.utf8.count + 2
        case .array(let items): return items.reduce(items.count + 1) { $0 + $1.estimatedSize }
        case .object(let members): return Self.estimatedSize(members)
        }
    }

    /// ``estimatedSize`` of an object.
    package static func estimatedSize(_ members: [String: JSONValue]) -> Int {
        members.reduce(members.count + 1) { $0 + $1.key.utf8.count + 3 + $1.value.estimatedSize }
    }
}
