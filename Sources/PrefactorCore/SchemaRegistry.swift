import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// Span types and quality schemas of an agent, turned into the `agent_schema_version` body of spec §7.
///
/// ```swift
/// var registry = SchemaRegistry()
/// try registry.registerType(
///     name: "agent:llm", paramsSchema: ["type": "object"], title: "LLM call", template: "{{model}}: {{prompt}}")
/// try registry.registerQualitySchema(name: "accuracy", schema: ["type": "object"])
/// let body = registry.agentSchemaVersion(externalIdentifier: "my-agent-schema-1")
/// ```
public struct SchemaRegistry: Sendable, Hashable {
    private(set) var spanSchemas: [String: JSONValue] = [:]
    private(set) var spanResultSchemas: [String: JSONValue] = [:]
    private(set) var spanTypes: [(name: String, body: [String: JSONValue])] = []
    private(set) var qualitySchemas: [(name: String, body: [String: JSONValue])] = []

    /// Creates an empty registry.
    public init() {}

    /// Whether `name` has a params schema or a span type entry.
    public func hasSchema(_ name: String) -> Bool {
        spanSchemas[name] != nil || spanTypes.contains { $0.name == name }
    }

    /// The registered span type names, in registration order.
    public var typeNames: [String] { spanTypes.map(\.name) }

    /// Adds a params schema to `span_schemas`.
    ///
    /// - Throws: ``PrefactorError/Code/invalidArgument`` when `name` is already registered.
    public mutating func register(name: String, schema: [String: JSONValue]) throws(PrefactorError) {
        guard spanSchemas[name] == nil else { throw Self.duplicate("span schema", name) }
        spanSchemas[name] = .object(schema)
    }

    /// Adds or replaces a params schema in `span_schemas`.
    public mutating func registerUnsafe(name: String, schema: [String: JSONValue]) {
        spanSchemas[name] = .object(schema)
    }

    /// Adds a result schema to `span_result_schemas`.
    ///
    /// - Throws: ``PrefactorError/Code/invalidArgument`` when `name` is already registered.
    public mutating func registerResult(name: String, schema: [String: JSONValue]) throws(PrefactorError) {
        guard spanResultSchemas[name] == nil else { throw Self.duplicate("result schema", name) }
        spanResultSchemas[name] = .object(schema)
    }

    /// Adds a span type to `span_type_schemas`, including only the optional fields given.
    ///
    /// - Parameters:
    ///   - name: The span type, e.g. `agent:llm`.
    ///   - paramsSchema: JSON Schema of the span's payload.
    ///   - resultSchema: JSON Schema of the span's result.
    ///   - title: A title for people (the server defaults to the name).
    ///   - description: A description.
    ///   - template: A summary template, e.g. `{{model}}: {{prompt}}`.
    ///   - dataRisk: The `data_risk` object of spec §7.3.
    /// - Throws: ``PrefactorError/Code/invalidArgument`` when `name` is already registered.
    public mutating func registerType(
        name: String, paramsSchema: [String: JSONValue], resultSchema: [String: JSONValue]? = nil, title: String? = nil,
        description: String? = nil, template: String? = nil, dataRisk: [String: JSONValue]? = nil
    ) throws(PrefactorError) {
        guard !spanTypes.contains(where: { $0.name == name }) else { throw Self.duplicate("span type", name) }
        var body: [String: JSONValue] = ["name": .string(name), "params_schema": .object(paramsSchema)]
        if let resultSchema { body["result_schema"] = .object(resultSchema) }
        if let title { body["title"] = .string(title) }
        if let description { body["description"] = .string(description) }
        if let template { body["template"] = .string(template) }
        if let dataRisk { body["data_risk"] = .object(dataRisk) }
        spanTypes.append((name, body))
    }

    /// Adds a quality schema to `quality_schemas`.
    ///
    /// - Throws: ``PrefactorError/Code/invalidArgument`` when `name` is already registered.
    public mutating func registerQualitySchema(
        name: String, schema: [String: JSONValue], title: String? = nil, description: String? = nil,
        template: String? = nil, dataRisk: [String: JSONValue]? = nil
    ) throws(PrefactorError) {
        guard !qualitySchemas.contains(where: { $0.name == name }) else { throw Self.duplicate("quality schema", name) }
        var body: [String: JSONValue] = ["name": .string(name), "schema": .object(schema)]
        if let title { body["title"] = .string(title) }
        if let description { body["description"] = .string(description) }
        if let template { body["template"] = .string(template) }
        if let dataRisk { body["data_risk"] = .object(dataRisk) }
        qualitySchemas.append((name, body))
    }

    /// Adds everything of `other`, or nothing when any name collides within a category.
    ///
    /// - Throws: ``PrefactorError/Code/invalidArgument`` listing every `category/name` collision.
    public mutating func merge(_ other: SchemaRegistry) throws(PrefactorError) {
        var collisions: [String] = []
        collisions += other.spanSchemas.keys.filter { spanSchemas[$0] != nil }.map { "span_schemas/\($0)" }
        collisions += other.spanResultSchemas.keys.filter { spanResultSchemas[$0] != nil }.map { "span_result_schemas/\($0)" }
        collisions += other.spanTypes.map(\.name).filter { name in spanTypes.contains { $0.name == name } }
            .map { "span_type_schemas/\($0)" }
        collisions += other.qualitySchemas.map(\.name).filter { name in qualitySchemas.contains { $0.name == name } }
            .map { "quality_schemas/\($0)" }
        guard collisions.isEmpty else {
            throw PrefactorError(
                code: .invalidArgument,
                message: "Cannot merge schema registries; names collide: \(collisions.sorted().joined(separator: ", "))")
        }
        spanSchemas.merge(other.spanSchemas) { current, _ in current }
        spanResultSchemas.merge(other.spanResultSchemas) { current, _ in current }
        spanTypes += other.spanTypes
        qualitySchemas += other.qualitySchemas
    }

    /// The `agent_schema_version` body: the identifier plus each category only when not empty.
    ///
    /// - Parameter externalIdentifier: The schema version's identifier.
    /// - Returns: The body to send at register.
    public func agentSchemaVersion(externalIdentifier: String) -> [String: JSONValue] {
        var body: [String: JSONValue] = ["external_identifier": .string(externalIdentifier)]
        if !spanSchemas.isEmpty { body["span_schemas"] = .object(spanSchemas) }
        if !spanResultSchemas.isEmpty { body["span_result_schemas"] = .object(spanResultSchemas) }
        if !spanTypes.isEmpty { body["span_type_schemas"] = .array(spanTypes.map { .object($0.body) }) }
        if !qualitySchemas.isEmpty { body["quality_schemas"] = .array(qualitySchemas.map { .object($0.body) }) }
        return body
    }

    /// The identifier the official SDK generates when none is given: `auto-<agent>-<time>` or
    /// `auto-deployment-<time>`.
    static func automaticIdentifier(agentID: String?, now: Date = Date()) -> String {
        "auto-\(agentID ?? "deployment")-\(now.timeIntervalSince1970)"
    }

    private static func duplicate(_ category: String, _ name: String) -> PrefactorError {
        PrefactorError(code: .invalidArgument, message: "A \(category) named \(name) is already registered")
    }

    /// Registries are equal when they produce the same body.
    public static func == (lhs: SchemaRegistry, rhs: SchemaRegistry) -> Bool {
        lhs.agentSchemaVersion(externalIdentifier: "") == rhs.agentSchemaVersion(externalIdentifier: "")
    }

    /// Hashes the produced body.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(agentSchemaVersion(externalIdentifier: ""))
    }
}
