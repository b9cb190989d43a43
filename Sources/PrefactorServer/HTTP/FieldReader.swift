import Foundation
import PrefactorWire

/// Reads typed fields out of a JSON object, collecting a clear message per bad field.
struct FieldReader {
    let object: [String: JSONValue]
    private(set) var errors: [String: [String]] = [:]

    init(_ object: [String: JSONValue]) {
        self.object = object
    }

    mutating func fail(_ key: String, _ message: String) {
        errors[key, default: []].append(message)
    }

    /// Takes over the errors of a reader of a nested object, each field name prefixed (e.g. `items[0].`).
    mutating func absorb(_ other: FieldReader, prefix: String = "") {
        for (field, messages) in other.errors {
            for message in messages { fail(prefix + field, message) }
        }
    }

    /// SQLite text cannot hold NUL characters intact, so strings stored as columns must not contain them.
    private mutating func checkNUL(_ key: String, _ value: String) -> String? {
        if value.utf8.contains(0) {
            fail(key, "must not contain NUL characters")
            return nil
        }
        return value
    }

    mutating func requiredString(_ key: String) -> String? {
        switch object[key] {
        case .string(let value) where !value.isEmpty: return checkNUL(key, value)
        case .string: fail(key, "must not be empty")
        case nil, .null: fail(key, "is required")
        case let other?: fail(key, "must be a string, got \(other.typeName)")
        }
        return nil
    }

    mutating func optionalString(_ key: String) -> String? {
        switch object[key] {
        case .string(let value): return checkNUL(key, value)
        case nil, .null: return nil
        case let other?:
            fail(key, "must be a string, got \(other.typeName)")
            return nil
        }
    }

    mutating func optionalBool(_ key: String) -> Bool? {
        switch object[key] {
        case .bool(let value): return value
        case nil, .null: return nil
        case let other?:
            fail(key, "must be a boolean, got \(other.typeName)")
            return nil
        }
    }

    mutating func optionalInt(_ key: String) -> Int? {
        switch object[key] {
        case nil, .null: return nil
        case let value?:
            if let number = value.intValue, let small = Int(exactly: number) { return small }
            fail(key, "must be an integer, got \(value.typeName)")
            return nil
        }
    }

    /// An object member; `null` reads as absent.
    mutating func optionalObject(_ key: String) -> [String: JSONValue]? {
        switch object[key] {
        case .object(let value): return value
        case nil, .null: return nil
        case let other?:
            fail(key, "must be an object, got \(other.typeName)")
            return nil
        }
    }

    mutating func optionalTimestamp(_ key: String) -> Int64? {
        switch object[key] {
        case .string(let text):
            if let micros = WireDate.parseMicroseconds(text) { return micros }
            fail(key, "must be an ISO 8601 timestamp, got \(JSONText.quoted(String(text.prefix(40))))")
            return nil
        case nil, .null: return nil
        case let other?:
            fail(key, "must be an ISO 8601 timestamp string, got \(other.typeName)")
            return nil
        }
    }

    mutating func optionalEnum<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type) -> T?
    where T.RawValue == String {
        guard let text = optionalString(key) else { return nil }
        if let value = T(rawValue: text) { return value }
        let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
        fail(key, "must be one of \(allowed), got \(JSONText.quoted(String(text.prefix(40))))")
        return nil
    }

    mutating func idempotencyKey(_ key: String = "idempotency_key") -> String? {
        guard let value = optionalString(key) else { return nil }
        if let problem = IdempotencyKey.problem(with: value) {
            fail(key, problem.replacingOccurrences(of: "idempotency_key ", with: ""))
            return nil
        }
        return value
    }

    /// Throws 422 with every field error collected, if there is any.
    ///
    /// - Parameter code: The error code: `validation_error`, or `validation_errors` for bulk requests (spec §5.1).
    func check(code: String = "validation_error") throws(APIError) {
        if !errors.isEmpty {
            let summary = errors.keys.sorted().map { "\($0) \(errors[$0]!.joined(separator: "; "))" }
            var error = APIError.validation(errors, message: "Validation failed: " + summary.joined(separator: ", "))
            error.code = code
            throw error
        }
    }
}
