import Foundation
import PrefactorWire

/// Percent-decoded query parameters, with the list conventions of the API (`pagination[offset]`,
/// `pagination[page_size]`, `sorting=-field`).
struct QueryParameters: Sendable {
    private var values: [String: String] = [:]

    static let defaultPageSize = 20
    static let maximumPageSize = 100
    static let maximumOffset = 1_000_000_000

    init(query: String?) {
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            values[key] = value
        }
    }

    /// Parameters given as JSON members, as bulk items carry them: strings, numbers and Booleans stand for their
    /// text, `null` for absence, and an object member such as `"pagination": {"offset": 20}` for
    /// `pagination[offset]=20`.
    ///
    /// - Throws: 422 `validation_error` naming each member of another type.
    init(fields: [String: JSONValue]) throws(APIError) {
        var reader = FieldReader([:])
        func text(_ value: JSONValue) -> String? {
            switch value {
            case .string(let text): return text
            case .int(let number): return String(number)
            case .double(let number): return "\(number)"
            case .bool(let flag): return flag ? "true" : "false"
            case .null, .array, .object: return nil
            }
        }
        for (key, value) in fields {
            let members: [(String, JSONValue)]
            if case .object(let object) = value {
                members = object.map { ("\(key)[\($0.key)]", $0.value) }
            } else {
                members = [(key, value)]
            }
            for (name, member) in members where !member.isNull {
                if let text = text(member) {
                    values[name] = text
                } else {
                    reader.fail(name, "must be a string, a number or a boolean, got \(member.typeName)")
                }
            }
        }
        try reader.check()
    }

    subscript(key: String) -> String? {
        guard let value = values[key], !value.isEmpty else { return nil }
        return value
    }

    func bool(_ key: String) -> Bool {
        guard let value = self[key]?.lowercased() else { return false }
        return value == "true" || value == "1" || value == "yes"
    }

    func timestamp(_ key: String, errors: inout [String: [String]]) -> Int64? {
        guard let text = self[key] else { return nil }
        if let micros = WireDate.parseMicroseconds(text) { return micros }
        // A literal `+` in a query may arrive as a space.
        if let space = text.lastIndex(of: " ") {
            var repaired = text
            repaired.replaceSubrange(space...space, with: "+")
            if let micros = WireDate.parseMicroseconds(repaired) { return micros }
        }
        errors[key, default: []].append("must be an ISO 8601 timestamp")
        return nil
    }

    func page(errors: inout [String: [String]]) -> (offset: Int, size: Int) {
        var offset = 0
        var size = QueryParameters.defaultPageSize
        if let text = self["pagination[offset]"] {
            if let value = Int(text), (0...QueryParameters.maximumOffset).contains(value) {
                offset = value
            } else {
                errors["pagination[offset]", default: []].append("must be an integer from 0 to \(QueryParameters.maximumOffset)")
            }
        }
        if let text = self["pagination[page_size]"] {
            if let value = Int(text), (1...QueryParameters.maximumPageSize).contains(value) {
                size = value
            } else {
                errors["pagination[page_size]", default: []].append(
                    "must be an integer from 1 to \(QueryParameters.maximumPageSize)")
            }
        }
        return (offset, size)
    }

    struct Sort {
        var field: String
        var descending: Bool
        var sql: String { "\(field) \(descending ? "DESC" : "ASC")" }
        var wire: Sorting { Sorting(field: field, direction: descending ? "desc" : "asc") }
    }

    func sorting(allowed: Set<String>, default fallback: String, errors: inout [String: [String]]) -> Sort {
        func parse(_ text: String) -> Sort {
            text.hasPrefix("-") ? Sort(field: String(text.dropFirst()), descending: true) : Sort(field: text, descending: false)
        }
        guard let text = self["sorting"] else { return parse(fallback) }
        let sort = parse(text)
        guard allowed.contains(sort.field) else {
            errors["sorting", default: []].append(
                "must be one of \(allowed.sorted().joined(separator: ", ")), optionally prefixed with -")
            return parse(fallback)
        }
        return sort
    }
}
