/// Fast, allocation-light JSON text building for hot paths (the server's responses and stored payloads).
///
/// ``JSONObjectText`` appends members to a `String` in the order they are written, and
/// ``JSONText/serialize(_:)`` writes any ``JSONValue``. Non-finite numbers become `null`, since JSON has no
/// representation for them.
public enum JSONText {
    /// The JSON text of a value, compact, keys in dictionary order.
    ///
    /// - Parameter value: The value to write.
    /// - Returns: JSON text.
    public static func serialize(_ value: JSONValue) -> String {
        var output = ""
        write(value, into: &output)
        return output
    }

    /// The JSON text of an object.
    ///
    /// - Parameter object: The members.
    /// - Returns: JSON text.
    public static func serialize(_ object: [String: JSONValue]) -> String {
        var output = ""
        write(.object(object), into: &output)
        return output
    }

    /// Appends the JSON text of a value.
    ///
    /// - Parameters:
    ///   - value: The value to write.
    ///   - output: The text to append to.
    public static func write(_ value: JSONValue, into output: inout String) {
        write(value, to: &output)
    }

    /// Appends a JSON string literal, escaping quotes, backslashes and control characters.
    ///
    /// - Parameters:
    ///   - text: The string.
    ///   - output: The text to append to.
    public static func quote(_ text: String, into output: inout String) {
        quote(text, to: &output)
    }

    /// Appends the JSON text of a value to a `String` or to UTF-8 bytes: the same text either way.
    static func write(_ value: JSONValue, to output: inout some JSONTextOutput) {
        switch value {
        case .null: output.appendText("null")
        case .bool(let flag): output.appendText(flag ? "true" : "false")
        case .int(let number): output.appendText(String(number))
        case .double(let number): output.appendText(number.isFinite ? "\(number)" : "null")
        case .string(let text): quote(text, to: &output)
        case .array(let items):
            output.appendText("[")
            for (index, item) in items.enumerated() {
                if index > 0 { output.appendText(",") }
                write(item, to: &output)
            }
            output.appendText("]")
        case .object(let members):
            // Members in key order: the same value always gives the same text (a retried request, even from another
            // process after a restart, sends the same bytes under its idempotency key).
            output.appendText("{")
            var first = true
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                if !first { output.appendText(",") }
                first = false
                quote(key, to: &output)
                output.appendText(":")
                write(member, to: &output)
            }
            output.appendText("}")
        }
    }

    /// Appends a JSON string literal to a `String` or to UTF-8 bytes: the same text either way.
    static func quote(_ text: String, to output: inout some JSONTextOutput) {
        output.appendText("\"")
        // Scanning the bytes in place is several times cheaper than iterating the UTF-8 view.
        let needsEscaping =
            text.utf8.withContiguousStorageIfAvailable { $0.contains(where: isEscaped) } ?? text.utf8.contains(where: isEscaped)
        if !needsEscaping {
            output.appendText(text)
        } else {
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": output.appendText("\\\"")
                case "\\": output.appendText("\\\\")
                case "\n": output.appendText("\\n")
                case "\r": output.appendText("\\r")
                case "\t": output.appendText("\\t")
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    output.appendText("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
                default: output.appendScalar(scalar)
                }
            }
        }
        output.appendText("\"")
    }

    /// Whether a UTF-8 byte must be escaped in a JSON string: a control character, `"` or `\`.
    private static func isEscaped(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x22 || byte == 0x5C
    }

    /// A JSON string literal.
    ///
    /// - Parameter text: The string.
    /// - Returns: The quoted, escaped text.
    public static func quoted(_ text: String) -> String {
        var output = ""
        quote(text, into: &output)
        return output
    }
}

/// Builds a JSON object member by member, in order.
public struct JSONObjectText: Sendable {
    private var text: String
    private var empty = true

    /// Starts an empty object.
    public init() {
        text = "{"
        text.reserveCapacity(256)
    }

    private mutating func key(_ key: String) {
        if !empty { text.append(",") }
        empty = false
        JSONText.quote(key, into: &text)
        text.append(":")
    }

    /// Adds a member whose value is already JSON text.
    public mutating func raw(_ key: String, _ json: String) {
        self.key(key)
        text.append(json)
    }

    /// Adds a string member, or `null` when the value is `nil`.
    public mutating func string(_ key: String, _ value: String?) {
        self.key(key)
        if let value { JSONText.quote(value, into: &text) } else { text.append("null") }
    }

    /// Adds an integer member, or `null` when the value is `nil`.
    public mutating func int(_ key: String, _ value: Int?) {
        self.key(key)
        text.append(value.map { String($0) } ?? "null")
    }

    /// Adds a Boolean member.
    public mutating func bool(_ key: String, _ value: Bool) {
        self.key(key)
        text.append(value ? "true" : "false")
    }

    /// Adds a timestamp member (microseconds since 1970) in the server's `Z` style, or `null`.
    public mutating func timestamp(_ key: String, microseconds: Int64?) {
        self.key(key)
        if let microseconds {
            text.append("\"")
            text.append(WireDate.format(microseconds: microseconds, style: .zulu))
            text.append("\"")
        } else {
            text.append("null")
        }
    }

    /// Adds a member holding any JSON value.
    public mutating func value(_ key: String, _ value: JSONValue) {
        self.key(key)
        JSONText.write(value, into: &text)
    }

    /// The finished object text.
    public var result: String { text + "}" }
}

/// Where ``JSONText`` appends: a `String` (the public API), or ``JSONBytes`` for request bodies sent as bytes.
protocol JSONTextOutput {
    /// Appends text.
    mutating func appendText(_ text: String)
    /// Appends one Unicode scalar.
    mutating func appendScalar(_ scalar: Unicode.Scalar)
}

extension String: JSONTextOutput {
    mutating func appendText(_ text: String) {
        append(text)
    }

    mutating func appendScalar(_ scalar: Unicode.Scalar) {
        unicodeScalars.append(scalar)
    }
}
