import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServerTesting
import PrefactorWire
import Testing

@Suite(.timeLimit(.minutes(1)))
struct EndToEndTests {
    @Test func nestedSpansReachTheServerWithParentsAndStatuses() async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let run = try await client.createAgentInstance(agentVersion: testAgentVersion, agentSchemaVersion: [:])
                try await run.start()
                try await run.span("agent:root", payload: ["step": 1]) { root in
                    try await root.start()
                    try await run.span("agent:llm") { llm in
                        try await llm.start(payload: ["model": "gpt-4"])
                        try await llm.complete(["response": "hi"])
                    }
                    try await run.span("agent:tool") { tool in
                        try await tool.cancel()
                    }
                    _ = try? await run.span("agent:fails") { _ -> Int in
                        struct Boom: Error {}
                        throw Boom()
                    }
                }
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.count == 4)
            let byName = Dictionary(uniqueKeysWithValues: spans.map { ($0.schemaName, $0) })
            let root = try #require(byName["agent:root"])
            #expect(root.status == .complete)
            #expect(root.parentSpanID == nil)
            #expect(byName["agent:llm"]?.status == .complete)
            #expect(byName["agent:llm"]?.parentSpanID == root.id)
            #expect(byName["agent:llm"]?.resultPayload == ["response": "hi"])
            #expect(byName["agent:tool"]?.status == .cancelled)
            #expect(byName["agent:tool"]?.parentSpanID == root.id)
            #expect(byName["agent:fails"]?.status == .failed)
            #expect(byName["agent:fails"]?.resultPayload?["error_type"] == "Boom")
            let instance = try await inspector(server).agentInstance(id: instanceID)
            #expect(instance.status == .complete)
        }
    }
}
