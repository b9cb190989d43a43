import Foundation

/// One scripted failure for tests and demos: answer a route with a status, delay it, or drop the connection.
///
/// Written on the command line as `[METHOD ]PATH:OPTION[,OPTION...]`, where `PATH` may contain `*` wildcards and
/// the options are `status=CODE`, `count=N` (how many requests it applies to; default unlimited),
/// `latency=MS` and `drop`. Examples:
///
/// - `POST /api/v1/agent_spans:status=503,count=3` fails the next three span creates with 503.
/// - `*:latency=50` adds 50 ms to every request.
/// - `POST /api/v1/agent_spans/*/finish:drop,count=1` closes the connection of the next span finish.
public struct FaultRule: Sendable, Codable, Hashable {
    /// The HTTP method to match, or `nil` for any.
    public var method: String?
    /// The path pattern; `*` matches any run of characters.
    public var path: String
    /// The status to answer with instead of handling the request.
    public var status: Int?
    /// How many matching requests the rule still applies to; `nil` means every one.
    public var count: Int?
    /// Latency added before the request is handled (or failed).
    public var latencyMilliseconds: Int?
    /// Whether to close the connection without answering.
    public var dropConnection: Bool

    /// Creates a rule.
    public init(
        method: String? = nil, path: String, status: Int? = nil, count: Int? = nil, latencyMilliseconds: Int? = nil,
        dropConnection: Bool = false
    ) {
        self.method = method?.uppercased()
        self.path = path
        self.status = status
        self.count = count
        self.latencyMilliseconds = latencyMilliseconds
        self.dropConnection = dropConnection
    }

    enum CodingKeys: String, CodingKey {
        case method, path, status, count
        case latencyMilliseconds = "latency_ms"
        case dropConnection = "drop"
    }

    /// Decodes a rule from its JSON form (`{"method", "path", "status", "count", "latency_ms", "drop"}`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            method: try c.decodeIfPresent(String.self, forKey: .method),
            path: try c.decodeIfPresent(String.self, forKey: .path) ?? "*",
            status: try c.decodeIfPresent(Int.self, forKey: .status),
            count: try c.decodeIfPresent(Int.self, forKey: .count),
            latencyMilliseconds: try c.decodeIfPresent(Int.self, forKey: .latencyMilliseconds),
            dropConnection: try c.decodeIfPresent(Bool.self, forKey: .dropConnection) ?? false)
        try validate()
    }

    /// Parses the command-line form.
    ///
    /// - Parameter text: e.g. `POST /api/v1/agent_spans:status=503,count=3`.
    /// - Throws: ``FaultRuleError`` describing what is wrong.
    public init(parsing text: String) throws {
        guard let colon = text.lastIndex(of: ":") else {
            throw FaultRuleError(
                text: text, problem: "expected [METHOD ]PATH:OPTIONS, e.g. 'POST /api/v1/agent_spans:status=503,count=3'")
        }
        let target = text[..<colon].trimmingCharacters(in: .whitespaces)
        let options = text[text.index(after: colon)...]
        var method: String?
        var path = target
        if let space = target.firstIndex(of: " ") {
            method = String(target[..<space])
            path = target[target.index(after: space)...].trimmingCharacters(in: .whitespaces)
        }
        if path.isEmpty { path = "*" }
        var rule = FaultRule(method: method, path: path)
        for option in options.split(separator: ",") {
            let parts = option.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            func number() throws -> Int {
                guard parts.count == 2, let value = Int(parts[1]), value >= 0 else {
                    throw FaultRuleError(text: text, problem: "option '\(option)' needs a non-negative number")
                }
                return value
            }
            switch parts[0] {
            case "status": rule.status = try number()
            case "count": rule.count = try number()
            case "latency": rule.latencyMilliseconds = try number()
            case "drop": rule.dropConnection = true
            default:
                throw FaultRuleError(text: text, problem: "unknown option '\(parts[0])' (use status=, count=, latency=, drop)")
            }
        }
        try rule.validate()
        self = rule
    }

    func validate() throws {
        if let status, !(100...599).contains(status) {
            throw FaultRuleError(text: path, problem: "status must be an HTTP status from 100 to 599")
        }
        if status == nil && latencyMilliseconds == nil && !dropConnection {
            throw FaultRuleError(text: path, problem: "a fault needs status=, latency= or drop")
        }
        if let latencyMilliseconds, !(0...600_000).contains(latencyMilliseconds) {
            throw FaultRuleError(text: path, problem: "latency must be from 0 to 600000 ms")
        }
        if let count, count < 1 {
            throw FaultRuleError(text: path, problem: "count must be at least 1 (leave it out for every request)")
        }
    }

    func matches(method: String, path: String) -> Bool {
        if let expected = self.method, expected != "*", expected != method { return false }
        return Self.glob(Array(self.path.utf8), Array(path.utf8))
    }

    /// Whether `text` matches `pattern`, in which `*` stands for any run of bytes, in time linear in the lengths of
    /// both: the pieces between the stars are found one after the other, each at its leftmost place (taking the
    /// leftmost place never loses a match, since a later piece can only start further right), the first piece
    /// anchored at the start and the last at the end.
    static func glob(_ pattern: [UInt8], _ text: [UInt8]) -> Bool {
        let pieces = pattern.split(separator: UInt8(ascii: "*"), omittingEmptySubsequences: false)
        guard pieces.count > 1 else { return pattern == text }
        let first = pieces[0]
        let last = pieces[pieces.count - 1]
        guard first.count + last.count <= text.count,
            text.starts(with: first), text.suffix(last.count).elementsEqual(last)
        else { return false }
        var position = first.count
        let end = text.count - last.count
        for piece in pieces.dropFirst().dropLast() where !piece.isEmpty {
            guard let found = find(Array(piece), in: text, from: position, before: end) else { return false }
            position = found + piece.count
        }
        return true
    }

    /// The first place at or after `start` where `needle` lies wholly before `end`, by Knuth–Morris–Pratt.
    private static func find(_ needle: [UInt8], in text: [UInt8], from start: Int, before end: Int) -> Int? {
        // failure[i]: the length of the longest proper border of needle[0...i].
        var failure = [Int](repeating: 0, count: needle.count)
        var border = 0
        for index in needle.indices.dropFirst() {
            while border > 0 && needle[index] != needle[border] { border = failure[border - 1] }
            if needle[index] == needle[border] { border += 1 }
            failure[index] = border
        }
        var matched = 0
        var index = start
        while index < end {
            while matched > 0 && text[index] != needle[matched] { matched = failure[matched - 1] }
            if text[index] == needle[matched] { matched += 1 }
            if matched == needle.count { return index - needle.count + 1 }
            index += 1
        }
        return nil
    }
}

/// A fault rule that could not be understood.
public struct FaultRuleError: Error, CustomStringConvertible, Sendable {
    /// The rule as given.
    public var text: String
    /// What is wrong with it.
    public var problem: String

    /// A message for the operator.
    public var description: String { "invalid fault '\(text)': \(problem)" }
}
