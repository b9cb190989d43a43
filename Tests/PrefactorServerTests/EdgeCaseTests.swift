import Foundation
import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

@Suite(.timeLimit(.minutes(1)))
struct EdgeCaseTests {
    /// Spec §3.10: ids are opaque strings. Client-chosen ids with characters that need percent-encoding in a path
    /// must work on every route that takes an id.
    @Test(arguments: ["plain-id", "with space", "per%41cent", "slash/inside", "plus+sign", "ünïcødé-✓", "q?uery#frag"])
    func clientChosenIDsAreOpaque(id: String) async throws {
        try await withAPI { api in
            let encoded = queryEncoded(id)
            let instanceID = "ai_" + id
            let spanID = "sp_" + id
            _ = try await api.register(["id": .string(instanceID)])
            #expect(
                try await api.get("/api/v1/agent_instance/\(queryEncoded(instanceID))").details()["id"] == .string(instanceID))
            _ = try await api.post("/api/v1/agent_instance/\(queryEncoded(instanceID))/start", [:]).details()
            let span = try await api.createSpan(instance: instanceID, ["id": .string(spanID)]).details()
            #expect(span["id"] == .string(spanID))
            let finished = try await api.post("/api/v1/agent_spans/sp_\(encoded)/finish", ["status": "complete"]).details()
            #expect(finished["id"] == .string(spanID))
            let listed = try await api.get("/api/v1/agent_spans?agent_instance_id=\(queryEncoded(instanceID))").summaries()
            #expect(listed.map { $0["id"] } == [.string(spanID)])

            let agentID = "agent_" + id
            _ = try await api.createAgent(["id": .string(agentID), "name": "Opaque"])
            #expect(try await api.get("/api/v1/agent/agent_\(encoded)").details()["id"] == .string(agentID))
            #expect(try await api.get("/api/v1/agent/show?agent_id=agent_\(encoded)").details()["id"] == .string(agentID))
            _ = try await api.post("/api/v1/agent/agent_\(encoded)/retire").details()
            _ = try await api.delete("/api/v1/agent/agent_\(encoded)").details()
        }
    }

    @Test func unicodeAndEscapesRoundTripInPayloadsAndNames() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let payload: JSONValue = [
                "text": "line\nbreak \"quoted\" back\\slash tab\t 🎉 é", "control": "\u{01}\u{1F}",
                "nested": ["a": [1, 2.5, nil, true]],
                "big": 9_007_199_254_740_993, "negative": -0.25,
            ]
            let created = try await api.createSpan(instance: instance, ["payload": payload]).details()
            #expect(created["payload"] == payload)
            #expect(try await api.spans(of: instance).first?["payload"] == payload)
            let agent = try await api.createAgent(["name": "Agent \"Ω\" 🎉", "description": "tab\there"])
            #expect(agent["name"] == "Agent \"Ω\" 🎉")
            #expect(agent["description"] == "tab\there")
        }
    }

    /// JSON strings may contain U+0000. The server must store such strings intact or reject them, never truncate
    /// them: truncation makes `"k\u0000a"` and `"k\u0000b"` the same id or the same idempotency key.
    @Test func stringsWithNULAreKeptIntactOrRejected() async throws {
        try await withAPI { api in
            let reply = try await api.post("/api/v1/agent", ["details": ["name": "before\u{0}after"]])
            if reply.status != 422 {
                #expect(reply.json?["details"]?["name"] == "before\u{0}after", "\(reply)")
            }
            let instance = try await api.registerID()
            let first = try await api.createSpan(instance: instance, topLevel: ["idempotency_key": "key\u{0}one"])
            let second = try await api.createSpan(instance: instance, topLevel: ["idempotency_key": "key\u{0}two"])
            if first.status == 200 && second.status == 200 {
                let spans = try await api.spans(of: instance)
                #expect(first.json?["details"]?["id"] != second.json?["details"]?["id"])
                #expect(spans.count == 2)
            }
        }
    }

    @Test func anOffsetPastTheEndGivesAnEmptyPage() async throws {
        try await withAPI { api in
            for _ in 0..<3 { _ = try await api.register() }
            let reply = try await api.get("/api/v1/agent_instance?\(pageQuery(offset: 40, size: 20))")
            #expect(try reply.summaries().isEmpty)
            #expect(reply.json?["pagination"]?["item_count"] == 3)
            #expect(reply.json?["pagination"]?["next_page_offset"] == .null)
            #expect(reply.json?["pagination"]?["page_offset"] == 40)
        }
    }

    /// An absurd `pagination[offset]` must give a 4xx or an empty page. The server computes `offset + page_size`
    /// without overflow checks, so `Int.max` traps and takes the whole process down; the request runs in a child
    /// process here so the crash cannot take the test runner with it.
    @Test func aHugePaginationOffsetDoesNotCrashTheServer() async {
        await #expect(processExitsWith: .success) {
            try await withTestServer { server in
                let api = API(server)
                for path in ["/api/v1/agent_instance", "/api/v1/agent"] {
                    let reply = try await api.get("\(path)?pagination%5Boffset%5D=\(Int.max)")
                    guard reply.status < 500, reply.json?["status"] != nil else { exit(1) }
                }
            }
        }
    }
}
