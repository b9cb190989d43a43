import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// An endpoint that takes an idempotency key, and how to call it on fresh data.
struct KeyedEndpoint: Sendable, CustomTestStringConvertible {
    var name: String
    /// Prepares what the call needs and returns its method, path and body for a key.
    var prepare: @Sendable (API) async throws -> (HTTPMethod, String, @Sendable (String) -> JSONValue)

    var testDescription: String { name }

    static let all: [KeyedEndpoint] = [
        KeyedEndpoint(name: "instance register") { _ in
            (.POST, "/api/v1/agent_instance/register", { ["agent_version": [:], "idempotency_key": .string($0)] })
        },
        KeyedEndpoint(name: "instance start") { api in
            let id = try await api.registerID()
            return (.POST, "/api/v1/agent_instance/\(id)/start", { ["timestamp": nil, "idempotency_key": .string($0)] })
        },
        KeyedEndpoint(name: "instance finish") { api in
            let id = try await api.instance(in: .active)
            return (.POST, "/api/v1/agent_instance/\(id)/finish", { ["status": "complete", "idempotency_key": .string($0)] })
        },
        KeyedEndpoint(name: "instance record_quality") { api in
            let id = try await api.instance(in: .active)
            return (
                .POST, "/api/v1/agent_instance/\(id)/record_quality",
                { ["name": "accuracy", "payload": ["score": 1], "idempotency_key": .string($0)] }
            )
        },
        KeyedEndpoint(name: "instance terminate") { api in
            let id = try await api.instance(in: .active)
            return (.POST, "/api/v1/agent_instance/\(id)/terminate", { ["reason": "r", "idempotency_key": .string($0)] })
        },
        KeyedEndpoint(name: "span create, key at top level") { api in
            let id = try await api.registerID()
            return (
                .POST, "/api/v1/agent_spans",
                {
                    [
                        "details": ["agent_instance_id": .string(id), "schema_name": "agent:llm", "status": "active"],
                        "idempotency_key": .string($0),
                    ]
                }
            )
        },
        KeyedEndpoint(name: "span create, key in details") { api in
            let id = try await api.registerID()
            return (
                .POST, "/api/v1/agent_spans",
                {
                    [
                        "details": [
                            "agent_instance_id": .string(id), "schema_name": "agent:llm", "status": "active",
                            "idempotency_key": .string($0),
                        ]
                    ]
                }
            )
        },
        KeyedEndpoint(name: "span finish") { api in
            let instance = try await api.registerID()
            let span = try await api.createSpanID(instance: instance)
            return (.POST, "/api/v1/agent_spans/\(span)/finish", { ["status": "complete", "idempotency_key": .string($0)] })
        },
        KeyedEndpoint(name: "agent create") { _ in
            (.POST, "/api/v1/agent", { ["details": ["name": "Keyed"], "idempotency_key": .string($0)] })
        },
        KeyedEndpoint(name: "agent update") { api in
            _ = try await api.createAgent(["id": "agent_k", "name": "K"])
            return (.PUT, "/api/v1/agent/agent_k", { ["details": ["name": "K2"], "idempotency_key": .string($0)] })
        },
        KeyedEndpoint(name: "agent retire") { api in
            _ = try await api.createAgent(["id": "agent_k", "name": "K"])
            return (.POST, "/api/v1/agent/agent_k/retire", { ["idempotency_key": .string($0)] })
        },
        KeyedEndpoint(name: "agent reinstate") { api in
            _ = try await api.createAgent(["id": "agent_k", "name": "K"])
            _ = try await api.post("/api/v1/agent/agent_k/retire").details()
            return (.POST, "/api/v1/agent/agent_k/reinstate", { ["idempotency_key": .string($0)] })
        },
        KeyedEndpoint(name: "agent delete") { api in
            _ = try await api.createAgent(["id": "agent_k", "name": "K"])
            return (.DELETE, "/api/v1/agent/agent_k", { ["idempotency_key": .string($0)] })
        },
    ]
}

@Suite(.timeLimit(.minutes(1)))
struct IdempotencyTests {
    // MARK: Key limits

    @Test(arguments: KeyedEndpoint.all)
    func keysOfExactly64CharactersAreAcceptedAndReplayed(endpoint: KeyedEndpoint) async throws {
        try await withAPI { api in
            let (method, path, body) = try await endpoint.prepare(api)
            let key = key(64)
            let first = try await api.send(method, path, body: .json(body(key)))
            first.expectSuccess()
            let afterFirst = try await api.snapshot()
            let replay = try await api.send(method, path, body: .json(body(key)))
            #expect(replay.status == 200)
            expectIdentical(replay, first, "a replay must return the first response byte for byte")
            #expect(try await api.snapshot() == afterFirst, "a replay must change nothing")
        }
    }

    @Test(arguments: KeyedEndpoint.all)
    func keysLongerThan64CharactersAreRejectedWithoutChanges(endpoint: KeyedEndpoint) async throws {
        try await withAPI { api in
            let (method, path, body) = try await endpoint.prepare(api)
            let before = try await api.snapshot()
            let reply = try await api.send(method, path, body: .json(body(key(65))))
            reply.expectError(422, "validation_error")
            #expect(reply.errorFields.contains { $0.hasSuffix("idempotency_key") }, "\(reply)")
            #expect(reply.json?["message"]?.stringValue?.contains("64") == true)
            let empty = try await api.send(method, path, body: .json(body("")))
            empty.expectError(422, "validation_error")
            #expect(try await api.snapshot() == before)
        }
    }

    @Test func keyLengthCountsCharactersNotBytes() async throws {
        try await withAPI { api in
            let accepted = try await api.post(
                "/api/v1/agent_instance/register", ["agent_version": [:], "idempotency_key": .string(key(64, "é"))])
            accepted.expectSuccess()
            let rejected = try await api.post(
                "/api/v1/agent_instance/register", ["agent_version": [:], "idempotency_key": .string(key(65, "é"))])
            rejected.expectError(422, "validation_error")
        }
    }

    // MARK: Replays

    @Test func replayedRegisterReturnsTheSameInstance() async throws {
        try await withAPI { api in
            let body: JSONValue = ["agent_version": [:], "idempotency_key": "register-0001", "purpose": "eval"]
            let first = try await api.post("/api/v1/agent_instance/register", body)
            let second = try await api.post("/api/v1/agent_instance/register", body)
            expectIdentical(second, first)
            #expect(try await api.get("/api/v1/agent_instance").summaries().count == 1)
        }
    }

    @Test func replayedSpanCreateReturnsTheSameSpanOnce() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            for placement in ["top", "details"] {
                let key = "span-create-\(placement)"
                let first = try await api.createSpan(
                    instance: instance, placement == "details" ? ["idempotency_key": .string(key)] : [:],
                    topLevel: placement == "top" ? ["idempotency_key": .string(key)] : [:])
                let second = try await api.createSpan(
                    instance: instance, placement == "details" ? ["idempotency_key": .string(key)] : [:],
                    topLevel: placement == "top" ? ["idempotency_key": .string(key)] : [:])
                expectIdentical(second, first)
                #expect(try second.details()["id"] == first.details()["id"])
            }
            #expect(try await api.spans(of: instance).count == 2)
            #expect(try await api.spanCounts(instance)["total"] == 2)
        }
    }

    @Test func topLevelSpanKeyWinsOverTheKeyInDetails() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let first = try await api.createSpan(
                instance: instance, ["idempotency_key": "inner-1"], topLevel: ["idempotency_key": "outer-1"])
            // Same top-level key, different inner key: a replay.
            let replay = try await api.createSpan(
                instance: instance, ["idempotency_key": "inner-2"], topLevel: ["idempotency_key": "outer-1"])
            expectIdentical(replay, first)
            // The inner key of the first request was not the one used, so it creates a new span.
            let fresh = try await api.createSpan(instance: instance, ["idempotency_key": "inner-1"])
            #expect(try fresh.details()["id"] != first.details()["id"])
            #expect(try await api.spans(of: instance).count == 2)
        }
    }

    @Test func replayReturnsTheFirstResponseEvenAfterLaterChanges() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let created = try await api.createSpan(instance: instance, topLevel: ["idempotency_key": "create-then-finish"])
            let span = try #require(try created.details()["id"]?.stringValue)
            _ = try await api.post("/api/v1/agent_spans/\(span)/finish", ["status": "failed"]).details()
            let replay = try await api.createSpan(instance: instance, topLevel: ["idempotency_key": "create-then-finish"])
            expectIdentical(replay, created)
            #expect(try replay.details()["status"] == "active")
            let listed = try await api.spans(of: instance)
            #expect(listed.count == 1)
            #expect(listed.first?["status"] == "failed")
        }
    }

    @Test func replayedSpanFinishAfterSuccessIs200Not409() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let span = try await api.createSpanID(instance: instance)
            let body: JSONValue = ["status": "complete", "result_payload": ["a": 1], "idempotency_key": "finish-0001"]
            let first = try await api.post("/api/v1/agent_spans/\(span)/finish", body)
            first.expectSuccess()
            let before = try await api.snapshot(instances: [instance])
            let replay = try await api.post("/api/v1/agent_spans/\(span)/finish", body)
            #expect(replay.status == 200)
            expectIdentical(replay, first)
            #expect(try await api.snapshot(instances: [instance]) == before)
            // Without the key it is an ordinary second finish.
            try await api.post("/api/v1/agent_spans/\(span)/finish", ["status": "complete"]).expectError(409, "invalid_action")
        }
    }

    @Test func replayedInstanceFinishAfterSuccessIs200Not409() async throws {
        try await withAPI { api in
            let id = try await api.instance(in: .active)
            let body: JSONValue = ["status": "failed", "idempotency_key": "instance-finish-1"]
            let first = try await api.post("/api/v1/agent_instance/\(id)/finish", body)
            let replay = try await api.post("/api/v1/agent_instance/\(id)/finish", body)
            #expect(replay.status == 200)
            expectIdentical(replay, first)
            try await api.post("/api/v1/agent_instance/\(id)/finish", ["status": "failed"]).expectError(409, "invalid_action")
        }
    }

    @Test func replayedRecordQualityDoesNotUndoALaterRemoval() async throws {
        try await withAPI { api in
            let id = try await api.instance(in: .active)
            let path = "/api/v1/agent_instance/\(id)/record_quality"
            let set: JSONValue = ["name": "accuracy", "payload": ["score": 9], "idempotency_key": "quality-set"]
            let first = try await api.post(path, set)
            _ = try await api.post(path, ["name": "accuracy", "payload": nil, "idempotency_key": "quality-remove"]).details()
            let replay = try await api.post(path, set)
            expectIdentical(replay, first)
            #expect(try await api.getInstance(id).details()["quality_payloads"] == [:])
        }
    }

    @Test func replayedRetireDoesNotRetireAReinstatedAgent() async throws {
        try await withAPI { api in
            _ = try await api.createAgent(["id": "agent_r", "name": "R"])
            let retire: JSONValue = ["idempotency_key": "retire-once"]
            let first = try await api.post("/api/v1/agent/agent_r/retire", retire)
            _ = try await api.post("/api/v1/agent/agent_r/reinstate").details()
            let replay = try await api.post("/api/v1/agent/agent_r/retire", retire)
            expectIdentical(replay, first)
            #expect(try await api.get("/api/v1/agent/agent_r").details()["status"] == "active")
        }
    }

    @Test func replayedAgentCreateReturnsTheSameAgentOnce() async throws {
        try await withAPI { api in
            let body: JSONValue = ["details": ["name": "Once"], "idempotency_key": "agent-create-1"]
            let first = try await api.post("/api/v1/agent", body)
            let second = try await api.post("/api/v1/agent", body)
            expectIdentical(second, first)
            #expect(try await api.get("/api/v1/agent").summaries().count == 2)
        }
    }

    // MARK: Scope

    @Test func theSameKeyOnDifferentResourcesActsOnEach() async throws {
        try await withAPI { api in
            let a = try await api.registerID()
            let b = try await api.registerID()
            let key: [String: JSONValue] = ["idempotency_key": "shared-key"]
            #expect(try await api.post("/api/v1/agent_instance/\(a)/start", .object(key)).details()["id"] == .string(a))
            #expect(try await api.post("/api/v1/agent_instance/\(b)/start", .object(key)).details()["id"] == .string(b))
            #expect(try await api.getInstance(b).details()["status"] == "active")
            // The same key on another endpoint is unrelated too.
            let created = try await api.createSpan(instance: a, topLevel: key)
            #expect(try created.details()["type"] == "agent_span")
            let agent = try await api.post("/api/v1/agent", ["details": ["name": "Shared"], "idempotency_key": "shared-key"])
            #expect(try agent.details()["type"] == "agent")
        }
    }

    @Test func rejectedRequestsAreNotRemembered() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let span = try await api.createSpanID(instance: instance, status: "pending")
            let path = "/api/v1/agent_spans/\(span)/finish"
            try await api.post(path, ["status": "complete", "idempotency_key": "retry-me"]).expectError(409, "invalid_action")
            let retried = try await api.post(path, ["status": "cancelled", "idempotency_key": "retry-me"])
            #expect(try retried.details()["status"] == "cancelled")

            // A 404 is not remembered either: the same key works once the instance exists.
            let create: JSONValue = [
                "details": ["agent_instance_id": "ai_later", "schema_name": "agent:llm", "status": "active"],
                "idempotency_key": "after-404",
            ]
            try await api.post("/api/v1/agent_spans", create).expectError(404, "not_found")
            _ = try await api.register(["id": "ai_later"])
            #expect(try await api.post("/api/v1/agent_spans", create).details()["agent_instance_id"] == "ai_later")
        }
    }

    @Test func concurrentRequestsWithOneKeyActOnce() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await api.createSpan(instance: instance, topLevel: ["idempotency_key": "racing-key"]) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.count == 8)
            #expect(Set(replies.map(\.bytes)).count == 1, "every racer gets the one stored response")
            #expect(replies.allSatisfy { $0.status == 200 })
            #expect(try await api.spans(of: instance).count == 1)
            #expect(try await api.spanCounts(instance)["total"] == 1)
        }
    }

    /// Spec §10.3: the key is read from the body, then `details`, then the `Idempotency-Key` header.
    @Test func idempotencyKeyHeaderIsHonoured() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let body = API.Body.json([
                "details": ["agent_instance_id": .string(instance), "schema_name": "agent:llm", "status": "active"]
            ])
            let first = try await api.send(
                .POST, "/api/v1/agent_spans", body: body, headers: [("Idempotency-Key", "header-key-1")])
            let second = try await api.send(
                .POST, "/api/v1/agent_spans", body: body, headers: [("Idempotency-Key", "header-key-1")])
            first.expectSuccess()
            expectIdentical(second, first)
            let spans = try await api.spans(of: instance)
            #expect(spans.count == 1)
        }
    }
}
