/// JSON text written straight into UTF-8 bytes, saving the `String` appends and the final copy of a request body.
package struct JSONBytes: JSONTextOutput {
    /// The text so far.
    package var bytes: [UInt8] = []

    /// Starts empty, with room for `capacity` bytes.
    package init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    /// Continues after `bytes`.
    package init(appendingTo bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Appends text as it is (it must be JSON already: punctuation, a number).
    package mutating func raw(_ text: String) {
        appendText(text)
    }

    /// Appends a JSON string literal, or `null`.
    package mutating func string(_ text: String?) {
        if let text { JSONText.quote(text, to: &self) } else { appendText("null") }
    }

    /// Appends any JSON value.
    package mutating func value(_ value: JSONValue) {
        JSONText.write(value, to: &self)
    }

    mutating func appendText(_ text: String) {
        // Copying the bytes in place is cheaper than appending the UTF-8 view element by element.
        if text.utf8.withContiguousStorageIfAvailable({ bytes.append(contentsOf: $0) }) == nil {
            bytes.append(contentsOf: text.utf8)
        }
    }

    mutating func appendScalar(_ scalar: Unicode.Scalar) {
        bytes.append(contentsOf: String(scalar).utf8)
    }
}

/// Builds a request body's JSON object in UTF-8 bytes, members in the order they are added, every name and value
/// written by ``JSONText``; members whose value is `nil` are left out.
struct JSONObjectBytes {
    private var output: JSONBytes
    private var empty = true

    /// Starts the object, with room for `capacity` bytes.
    init(capacity: Int) {
        output = JSONBytes(capacity: capacity)
        output.appendText("{")
    }

    private mutating func name(_ key: String) {
        if !empty { output.appendText(",") }
        empty = false
        JSONText.quote(key, to: &output)
        output.appendText(":")
    }

    /// Adds a string member, unless the value is `nil`.
    mutating func member(_ key: String, _ value: String?) {
        guard let value else { return }
        name(key)
        JSONText.quote(value, to: &output)
    }

    /// Adds an object member, unless the value is `nil`.
    mutating func member(_ key: String, _ value: [String: JSONValue]?) {
        guard let value else { return }
        name(key)
        JSONText.write(.object(value), to: &output)
    }

    /// Opens an object member; the members added next go in it, until ``endObject()``.
    mutating func beginObject(_ key: String) {
        name(key)
        output.appendText("{")
        empty = true
    }

    /// Closes the object member opened last.
    mutating func endObject() {
        output.appendText("}")
        empty = false
    }

    /// Closes the object and returns its text.
    consuming func finish() -> [UInt8] {
        output.appendText("}")
        return output.bytes
    }
}
