import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServerTesting
import PrefactorWire
import Testing

/// The schema registry (spec §7.2): registration, duplicate errors, merge, and the `agent_schema_version` body.
@Suite(.timeLimit(.minutes(1)))
struct SchemaRegistryTests {
    func expectDuplicate(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
            Issue.record("a duplicate was accepted", sourceLocation: sourceLocation)
        } catch {
            #expect((error as? PrefactorError)?.code == .invalidArgument, sourceLocation: sourceLocation)
        }
    }

    @Test func anEmptyRegistryProducesOnlyTheIdentifier() {
        let registry = SchemaRegistry()
        #expect(registry.agentSchemaVersion(externalIdentifier: "v1") == ["external_identifier": "v1"])
        #expect(registry.typeNames.isEmpty)
        #expect(!registry.hasSchema("agent:llm"))
    }

    @Test func registerTypeIncludesOnlyTheFieldsGiven() throws {
        var registry = SchemaRegistry()
        try registry.registerType(name: "agent:minimal", paramsSchema: ["type": "object"])
        try registry.registerType(
            name: "agent:full", paramsSchema: ["type": "object"], resultSchema: ["type": "string"], title: "Full",
            description: "All fields", template: "{{model}}", dataRisk: ["action_profile": [:]])
        #expect(registry.typeNames == ["agent:minimal", "agent:full"], "registration order")
        #expect(registry.hasSchema("agent:full"))
        let body = registry.agentSchemaVersion(externalIdentifier: "types-1")
        #expect(
            body == [
                "external_identifier": "types-1",
                "span_type_schemas": [
                    ["name": "agent:minimal", "params_schema": ["type": "object"]],
                    [
                        "name": "agent:full", "params_schema": ["type": "object"], "result_schema": ["type": "string"],
                        "title": "Full", "description": "All fields", "template": "{{model}}",
                        "data_risk": ["action_profile": [:]],
                    ],
                ],
            ], "empty categories are left out")
    }

    @Test func everyCategoryAppearsOnlyWhenNotEmpty() throws {
        var registry = SchemaRegistry()
        try registry.register(name: "agent:llm", schema: ["type": "object"])
        #expect(Set(registry.agentSchemaVersion(externalIdentifier: "x").keys) == ["external_identifier", "span_schemas"])
        try registry.registerResult(name: "agent:llm", schema: ["type": "string"])
        try registry.registerQualitySchema(
            name: "accuracy", schema: ["type": "object"], title: "Accuracy", description: "How right", template: "{{score}}",
            dataRisk: ["action_profile": [:]])
        try registry.registerQualitySchema(name: "latency", schema: ["type": "object"])
        let body = registry.agentSchemaVersion(externalIdentifier: "x")
        #expect(Set(body.keys) == ["external_identifier", "span_schemas", "span_result_schemas", "quality_schemas"])
        #expect(body["span_schemas"] == ["agent:llm": ["type": "object"]])
        #expect(body["span_result_schemas"] == ["agent:llm": ["type": "string"]])
        #expect(
            body["quality_schemas"] == [
                [
                    "name": "accuracy", "schema": ["type": "object"], "title": "Accuracy", "description": "How right",
                    "template": "{{score}}", "data_risk": ["action_profile": [:]],
                ],
                ["name": "latency", "schema": ["type": "object"]],
            ])
        #expect(registry.hasSchema("agent:llm"), "a params schema counts")
        #expect(registry.typeNames.isEmpty)
    }

    @Test func duplicatesAreRejectedAndChangeNothing() throws {
        var registry = SchemaRegistry()
        try registry.register(name: "agent:llm", schema: ["v": 1])
        try registry.registerResult(name: "agent:llm", schema: ["v": 1])
        try registry.registerType(name: "agent:llm", paramsSchema: ["v": 1])
        try registry.registerQualitySchema(name: "accuracy", schema: ["v": 1])
        let before = registry.agentSchemaVersion(externalIdentifier: "x")
        expectDuplicate { try registry.register(name: "agent:llm", schema: ["v": 2]) }
        expectDuplicate { try registry.registerResult(name: "agent:llm", schema: ["v": 2]) }
        expectDuplicate { try registry.registerType(name: "agent:llm", paramsSchema: ["v": 2]) }
        expectDuplicate { try registry.registerQualitySchema(name: "accuracy", schema: ["v": 2]) }
        #expect(registry.agentSchemaVersion(externalIdentifier: "x") == before)
        // The same name in different categories is fine (done above); registerUnsafe overwrites.
        registry.registerUnsafe(name: "agent:llm", schema: ["v": 3])
        #expect(registry.agentSchemaVersion(externalIdentifier: "x")["span_schemas"] == ["agent:llm": ["v": 3]])
    }

    @Test func mergeAddsEverythingOrNothing() throws {
        var base = SchemaRegistry()
        try base.registerType(name: "agent:llm", paramsSchema: [:])
        try base.registerQualitySchema(name: "accuracy", schema: [:])
        var other = SchemaRegistry()
        try other.registerType(name: "agent:tool", paramsSchema: [:])
        try other.register(name: "agent:tool", schema: [:])
        try other.registerResult(name: "agent:tool", schema: [:])
        try other.registerQualitySchema(name: "latency", schema: [:])

        var merged = base
        try merged.merge(other)
        #expect(merged.typeNames == ["agent:llm", "agent:tool"])
        let body = merged.agentSchemaVersion(externalIdentifier: "m")
        #expect(body["quality_schemas"]?.arrayValue?.count == 2)
        #expect(body["span_schemas"] == ["agent:tool": [:]])
        #expect(body["span_result_schemas"] == ["agent:tool": [:]])

        // Colliding in every category: refused entirely, and every collision is named.
        var target = merged
        do {
            try target.merge(other)
            Issue.record("a colliding merge was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            for collision in [
                "span_type_schemas/agent:tool", "span_schemas/agent:tool", "span_result_schemas/agent:tool",
                "quality_schemas/latency",
            ] {
                #expect(error.message.contains(collision), "\(error.message)")
            }
        }
        #expect(target == merged, "a refused merge changes nothing")

        // A single collision refuses the whole merge too.
        var partial = SchemaRegistry()
        try partial.registerType(name: "agent:new", paramsSchema: [:])
        try partial.registerQualitySchema(name: "accuracy", schema: [:])
        var unchanged = base
        #expect(throws: PrefactorError.self) { try unchanged.merge(partial) }
        #expect(unchanged == base)
        #expect(!unchanged.hasSchema("agent:new"))
    }

    @Test func registriesCompareByTheBodyTheyProduce() throws {
        var first = SchemaRegistry()
        var second = SchemaRegistry()
        try first.registerType(name: "agent:llm", paramsSchema: [:])
        #expect(first != second)
        try second.registerType(name: "agent:llm", paramsSchema: [:])
        #expect(first == second)
        #expect(Set([first, second]).count == 1)
    }

    @Test func theConfiguredRegistryIsSentAtRegister() async throws {
        try await withTestServer { server in
            var registry = SchemaRegistry()
            try registry.registerType(name: "agent:llm", paramsSchema: ["type": "object"], title: "LLM call")
            try registry.registerQualitySchema(name: "helpfulness", schema: ["type": "object"])
            var configuration = coreConfiguration(server)
            configuration.schemaRegistry = registry
            let ((instanceID, explicitID), report) = try await withRunningClient(configuration) { client in
                let run = try await client.createAgentInstance(agentVersion: testAgentVersion)
                try await run.start()
                try await run.span("agent:llm") { _ in }
                try await run.span("agent:unregistered") { _ in }
                // The quality schema is known to the server only through the registry.
                try await run.recordQuality(name: "helpfulness", payload: ["score": 3])
                // An explicit schema version wins over the registry.
                let explicit = try await client.createAgentInstance(agentVersion: testAgentVersion, agentSchemaVersion: [:])
                try await explicit.recordQuality(name: "helpfulness", payload: ["score": 3])
                return (run.id, explicit.id)
            }
            #expect(report.undelivered.isEmpty)
            #expect(report.failed.map(\.operation.kind) == [.recordQuality])
            #expect(report.failed.first?.operation.instanceID == explicitID)
            #expect(report.failed.first?.status == 422)
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            #expect(spans["agent:llm"]?.schemaTitle == "LLM call", "the server knows the registered type")
            #expect(spans["agent:unregistered"]?.schemaTitle == "agent:unregistered")
            #expect(try await inspector(server).agentInstance(id: instanceID).qualityPayloads?["helpfulness"] == ["score": 3])
        }
    }
}
