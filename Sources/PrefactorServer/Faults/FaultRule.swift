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
        return Self.glob(Array(self.path.utf8)[...], Array(path.utf8)[...])
    }

    private static func glob(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        guard let first = pattern.first else { return text.isEmpty }
        if first == UInt8(ascii: "*") {
            let rest = pattern.dropFirst()
            var candidate = text
            while true {
                if glob(rest, candidate) { return true }
                guard !candidate.isEmpty else { return false }
                candidate = candidate.dropFirst()
            }
        }
        guard let head = text.first, head == first else { return false }
        return glob(pattern.dropFirst(), text.dropFirst())
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
