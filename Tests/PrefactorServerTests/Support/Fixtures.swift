import Foundation
import PrefactorWire
import Testing

/// The schema version most tests register with: one span type with a template, two quality schemas.
let standardSchema: JSONValue = [
    "external_identifier": "schema-1",
    "span_type_schemas": [
        [
            "name": "agent:llm", "params_schema": ["type": "object"], "title": "LLM Call",
            "template": "{{model}} said {{ response }}",
        ],
        ["name": "agent:tool", "params_schema": ["type": "object"]],
    ],
    "quality_schemas": [
        ["name": "accuracy", "schema": ["type": "object"], "template": "score={{score}}"],
        ["name": "tone", "schema": ["type": "object"]],
    ],
]

/// Where an instance is in the state machine of spec §4.2, and how a test gets it there.
enum InstanceState: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case pending, active, complete, failed, cancelled, terminated

    var testDescription: String { rawValue }
    var isTerminal: Bool { self != .pending && self != .active }
}

extension API {
    // MARK: Instances

    /// Registers an instance with ``standardSchema`` (plus `extra` top-level fields) and returns its `details`.
    func register(_ extra: [String: JSONValue] = [:], sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue
    {
        var body: [String: JSONValue] = [
            "agent_version": ["name": "Agent", "external_identifier": "v1.0.0", "description": ""],
            "agent_schema_version": standardSchema,
        ]
        body.merge(extra, uniquingKeysWith: { _, new in new })
        return try await post("/api/v1/agent_instance/register", .object(body)).details(sourceLocation: sourceLocation)
    }

    /// Registers an instance and returns its id.
    func registerID(_ extra: [String: JSONValue] = [:], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String
    {
        try #require(try await register(extra, sourceLocation: sourceLocation)["id"]?.stringValue, sourceLocation: sourceLocation)
    }

    /// An instance brought to `state` through the API.
    func instance(in state: InstanceState, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let id = try await registerID(sourceLocation: sourceLocation)
        let path = "/api/v1/agent_instance/\(id)"
        switch state {
        case .pending: break
        case .active: _ = try await post(path + "/start", [:]).details(sourceLocation: sourceLocation)
        case .complete, .failed, .cancelled:
            _ = try await post(path + "/start", [:]).details(sourceLocation: sourceLocation)
            _ = try await post(path + "/finish", ["status": .string(state.rawValue)]).details(sourceLocation: sourceLocation)
        case .terminated:
            _ = try await post(path + "/start", [:]).details(sourceLocation: sourceLocation)
            _ = try await post(path + "/terminate", ["reason": "stopped by test"]).details(sourceLocation: sourceLocation)
        }
        return id
    }

    /// `GET /api/v1/agent_instance/{id}`.
    func getInstance(_ id: String) async throws -> Reply {
        try await get("/api/v1/agent_instance/\(id)")
    }

    // MARK: Spans

    /// Creates a span and returns the whole reply.
    func createSpan(
        instance: String, status: String = "active", schema: String = "agent:llm", _ extra: [String: JSONValue] = [:],
        topLevel: [String: JSONValue] = [:]
    ) async throws -> Reply {
        var details: [String: JSONValue] = [
            "agent_instance_id": .string(instance), "schema_name": .string(schema), "status": .string(status),
            "payload": ["model": "gpt-4"],
        ]
        details.merge(extra, uniquingKeysWith: { _, new in new })
        var body = topLevel
        body["details"] = .object(details)
        return try await post("/api/v1/agent_spans", .object(body))
    }

    /// Creates a span and returns its id.
    func createSpanID(
        instance: String, status: String = "active", _ extra: [String: JSONValue] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let details = try await createSpan(instance: instance, status: status, extra).details(sourceLocation: sourceLocation)
        return try #require(details["id"]?.stringValue, sourceLocation: sourceLocation)
    }

    /// All spans of an instance (one page of up to 100).
    func spans(of instance: String, query: String = "") async throws -> [JSONValue] {
        let extra = query.isEmpty ? "" : "&" + query
        return try await get("/api/v1/agent_spans?agent_instance_id=\(instance)&\(pageQuery(size: 100))\(extra)").summaries()
    }

    /// The instance's `span_counts`.
    func spanCounts(_ instance: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String: Int64] {
        let counts = try await getInstance(instance).details(sourceLocation: sourceLocation)["span_counts"]
        let object = try #require(counts?.objectValue, sourceLocation: sourceLocation)
        return object.compactMapValues(\.intValue)
    }

    // MARK: Agents

    /// Creates an agent and returns its `details`.
    func createAgent(_ details: [String: JSONValue], sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue
    {
        try await post("/api/v1/agent", ["details": .object(details)]).details(sourceLocation: sourceLocation)
    }

    // MARK: State

    /// Everything the server stores that a test can see, as text: all agents, all instances, and the spans and agent
    /// context of the given instances. Comparing two snapshots shows whether a request changed anything.
    func snapshot(instances: [String] = []) async throws -> String {
        var parts: [String] = []
        parts.append(try await get("/api/v1/agent?\(pageQuery(size: 100))").text)
        parts.append(try await get("/api/v1/agent_instance?\(pageQuery(size: 100))").text)
        for id in instances {
            parts.append(try await getInstance(id).text)
            parts.append(try await get("/api/v1/agent_spans?agent_instance_id=\(id)&\(pageQuery(size: 100))").text)
        }
        return parts.joined(separator: "\n")
    }
}

/// A string of `count` characters, for idempotency keys.
func key(_ count: Int, _ character: Character = "k") -> String {
    String(repeating: character, count: count)
}
