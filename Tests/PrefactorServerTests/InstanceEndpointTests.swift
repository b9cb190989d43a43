import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

@Suite(.timeLimit(.minutes(1)))
struct InstanceEndpointTests {
    // MARK: Register and get

    @Test func registerCreatesAPendingInstanceWithEveryRequiredField() async throws {
        try await withAPI { api in
            let details = try await api.register()
            #expect(details["type"] == "agent_instance")
            for field in ["id", "account_id", "agent_id", "agent_version_id", "environment_id", "agent_deployment_id"] {
                #expect(details[field]?.stringValue?.isEmpty == false, "\(field) in \(details)")
            }
            #expect(details["agent_id"] == "agent_local")
            #expect(details["status"] == "pending")
            #expect(details["purpose"] == "live")
            #expect(isZuluMicroseconds(details["inserted_at"]))
            #expect(isZuluMicroseconds(details["updated_at"]))
            #expect(details["started_at"] == .null)
            #expect(details["finished_at"] == .null)
            #expect(details["termination_reason"] == .null)
            #expect(
                details["span_counts"]
                    == ["total": 0, "pending": 0, "active": 0, "complete": 0, "failed": 0, "cancelled": 0, "finished": 0])
            #expect(details["quality_payloads"] == [:])

            let id = try #require(details["id"]?.stringValue)
            let fetched = try await api.getInstance(id)
            #expect(try fetched.details() == details)
        }
    }

    /// The official SDKs always send `agent_version`, `{}` at least; a register without it is a 422 naming the field.
    @Test func registerNeedsAnAgentVersionButAnEmptyOneWillDo() async throws {
        try await withAPI { api in
            let noBody = try await api.send(.POST, "/api/v1/agent_instance/register")
            noBody.expectError(422, "validation_error")
            #expect(noBody.errorFields == ["agent_version"])
            try await api.post("/api/v1/agent_instance/register", [:]).expectError(422, "validation_error")
            let first = try await api.post("/api/v1/agent_instance/register", ["agent_version": [:]]).details()
            let second = try await api.post("/api/v1/agent_instance/register", ["agent_version": [:]]).details()
            #expect(first["status"] == "pending")
            #expect(first["id"] != second["id"])
        }
    }

    @Test func registerHonoursClientIDPurposeAgentAndVersion() async throws {
        try await withAPI { api in
            _ = try await api.createAgent(["id": "agent_mine", "name": "Mine"])
            let details = try await api.register([
                "id": "ai_client_chosen", "purpose": "smoke_test", "agent_id": "agent_mine", "environment_id": "env_local",
            ])
            #expect(details["id"] == "ai_client_chosen")
            #expect(details["purpose"] == "smoke_test")
            #expect(details["agent_id"] == "agent_mine")
            #expect(details["environment_id"] == "env_local")

            // Registering the same version twice reuses the version and the deployment.
            let second = try await api.register(["agent_id": "agent_mine"])
            #expect(second["agent_version_id"] == details["agent_version_id"])
            #expect(second["agent_deployment_id"] == details["agent_deployment_id"])
            let other = try await api.register([
                "agent_id": "agent_mine", "agent_version": ["external_identifier": "v2.0.0"],
            ])
            #expect(other["agent_version_id"] != details["agent_version_id"])
            #expect(other["agent_deployment_id"] == details["agent_deployment_id"])
        }
    }

    @Test func registerWithADuplicateClientIDIsAConflictAndChangesNothing() async throws {
        try await withAPI { api in
            _ = try await api.register(["id": "ai_dup"])
            _ = try await api.post("/api/v1/agent_instance/ai_dup/start", [:]).details()
            let before = try await api.snapshot(instances: ["ai_dup"])
            let reply = try await api.post("/api/v1/agent_instance/register", ["agent_version": [:], "id": "ai_dup"])
            reply.expectError(409, "conflict")
            #expect(try await api.snapshot(instances: ["ai_dup"]) == before)
        }
    }

    @Test func registerForAnUnknownAgentIsNotFoundAndCreatesNothing() async throws {
        try await withAPI { api in
            let before = try await api.snapshot()
            let reply = try await api.post("/api/v1/agent_instance/register", ["agent_version": [:], "agent_id": "agent_nobody"])
            reply.expectError(404, "not_found")
            let unknownEnvironment = try await api.post(
                "/api/v1/agent_instance/register", ["agent_version": [:], "environment_id": "env_nowhere"])
            unknownEnvironment.expectError(404, "not_found")
            #expect(try await api.snapshot() == before)
        }
    }

    @Test func getUnknownInstanceIsNotFound() async throws {
        try await withAPI { api in
            try await api.getInstance("ai_missing").expectError(404, "not_found")
        }
    }

    @Test func startAndFinishSetTheirTimestamps() async throws {
        try await withAPI { api in
            let id = try await api.registerID()
            let started = try await api.post("/api/v1/agent_instance/\(id)/start", ["timestamp": nil]).details()
            #expect(started["status"] == "active")
            #expect(isZuluMicroseconds(started["started_at"]))
            #expect(started["finished_at"] == .null)
            let finished = try await api.post("/api/v1/agent_instance/\(id)/finish", ["status": "failed"]).details()
            #expect(finished["status"] == "failed")
            #expect(finished["started_at"] == started["started_at"])
            #expect(isZuluMicroseconds(finished["finished_at"]))
        }
    }

    // MARK: List

    @Test func listPaginatesExactly() async throws {
        try await withAPI { api in
            _ = try await api.createAgent(["id": "agent_paged", "name": "Paged"])
            for index in 1...5 { _ = try await api.register(["agent_id": "agent_paged", "id": .string("ai_\(index)")]) }
            _ = try await api.register()  // another agent's instance, filtered out

            let base = "/api/v1/agent_instance?agent_id=agent_paged&sorting=id&"
            let middle = try await api.get(base + pageQuery(offset: 2, size: 2))
            #expect(try middle.summaries().map { $0["id"] } == ["ai_3", "ai_4"])
            #expect(
                middle.json?["pagination"]
                    == [
                        "item_count": 5, "item_start": 3, "item_end": 4, "page_count": 3, "page_index": 2, "page_offset": 2,
                        "page_size": 2, "next_page_offset": 4, "previous_page_offset": 0,
                    ])
            #expect(middle.json?["sorting"] == ["field": "id", "direction": "asc"])

            let last = try await api.get(base + pageQuery(offset: 4, size: 2))
            #expect(try last.summaries().map { $0["id"] } == ["ai_5"])
            #expect(
                last.json?["pagination"]
                    == [
                        "item_count": 5, "item_start": 5, "item_end": 5, "page_count": 3, "page_index": 3, "page_offset": 4,
                        "page_size": 2, "next_page_offset": nil, "previous_page_offset": 2,
                    ])

            let first = try await api.get(base + pageQuery(size: 2))
            #expect(try first.summaries().map { $0["id"] } == ["ai_1", "ai_2"])
            #expect(first.json?["pagination"]?["previous_page_offset"] == .null)
            #expect(first.json?["pagination"]?["next_page_offset"] == 2)

            let everything = try await api.get("/api/v1/agent_instance?agent_id=agent_paged&sorting=-id")
            #expect(try everything.summaries().map { $0["id"] } == ["ai_5", "ai_4", "ai_3", "ai_2", "ai_1"])
            #expect(everything.json?["sorting"] == ["field": "id", "direction": "desc"])
            #expect(everything.json?["pagination"]?["page_size"] == 20)
            #expect(everything.json?["pagination"]?["item_count"] == 5)
            for row in try everything.summaries() {
                #expect(row["type"] == "agent_instance")
                #expect(row["agent_id"] == "agent_paged")
            }
        }
    }

    @Test func listDefaultsToNewestFirstAndFiltersByAgentAndStatus() async throws {
        try await withAPI { api in
            var ids: Set<String> = []
            for _ in 0..<3 { ids.insert(try await api.registerID()) }
            let active = try await api.instance(in: .active)
            ids.insert(active)
            let reply = try await api.get("/api/v1/agent_instance")
            #expect(reply.json?["sorting"] == ["field": "inserted_at", "direction": "desc"])
            let rows = try reply.summaries()
            #expect(Set(rows.compactMap { $0["id"]?.stringValue }) == ids)
            let insertedAt = rows.compactMap { $0["inserted_at"]?.stringValue }
            #expect(insertedAt == insertedAt.sorted(by: >))

            let filtered = try await api.get("/api/v1/agent_instance?agent_id=agent_local&status=active").summaries()
            #expect(filtered.map { $0["id"] } == [.string(active)])
        }
    }

    @Test func listOfAnAgentWithoutInstancesHasTheEmptyPagination() async throws {
        try await withAPI { api in
            _ = try await api.createAgent(["id": "agent_idle", "name": "Idle"])
            _ = try await api.register()
            let reply = try await api.get("/api/v1/agent_instance?agent_id=agent_idle")
            #expect(try reply.summaries().isEmpty)
            #expect(
                reply.json?["pagination"]
                    == [
                        "item_count": 0, "item_start": 1, "item_end": 0, "page_count": 1, "page_index": 1, "page_offset": 0,
                        "page_size": 20, "next_page_offset": nil, "previous_page_offset": nil,
                    ])
        }
    }

    @Test func listForAnUnknownAgentIsNotFound() async throws {
        try await withAPI { api in
            _ = try await api.register()
            try await api.get("/api/v1/agent_instance?agent_id=agent_nobody").expectError(404, "not_found")
        }
    }

    @Test(arguments: [
        (pageQuery(size: 0), "pagination[page_size]"),
        (pageQuery(size: 101), "pagination[page_size]"),
        ("pagination%5Bpage_size%5D=ten", "pagination[page_size]"),
        (pageQuery(offset: -1), "pagination[offset]"),
        ("sorting=colour", "sorting"),
        ("status=sleeping", "status"),
        ("updated_since=yesterday", "updated_since"),
    ])
    func listRejectsBadQueryParameters(query: String, field: String) async throws {
        try await withAPI { api in
            let reply = try await api.get("/api/v1/agent_instance?\(query)")
            reply.expectError(422, "validation_error")
            #expect(reply.errorFields == [field])
        }
    }

    // MARK: Quality

    @Test func recordQualitySetsReplacesAndRemovesByName() async throws {
        try await withAPI { api in
            let id = try await api.instance(in: .active)
            let path = "/api/v1/agent_instance/\(id)/record_quality"
            let first = try await api.post(path, ["name": "accuracy", "payload": ["score": 3]]).details()
            #expect(first["type"] == "agent_instance")
            #expect(first["quality_payloads"] == ["accuracy": ["score": 3]])
            #expect(first["quality_summaries"] == ["accuracy": "score=3"])

            let both = try await api.post(path, ["name": "tone", "payload": ["label": "calm"]]).details()
            #expect(both["quality_payloads"] == ["accuracy": ["score": 3], "tone": ["label": "calm"]])
            // `tone` has no template, so no summary.
            #expect(both["quality_summaries"] == ["accuracy": "score=3"])

            let replaced = try await api.post(path, ["name": "accuracy", "payload": ["score": 5]]).details()
            #expect(replaced["quality_payloads"] == ["accuracy": ["score": 5], "tone": ["label": "calm"]])

            let removed = try await api.post(path, ["name": "accuracy", "payload": nil]).details()
            #expect(removed["quality_payloads"] == ["tone": ["label": "calm"]])
            #expect(removed["quality_summaries"] == [:])
            #expect(try await api.getInstance(id).details()["quality_payloads"] == ["tone": ["label": "calm"]])

            // Removing a name that has no record is harmless.
            let again = try await api.post(path, ["name": "accuracy", "payload": nil]).details()
            #expect(again["quality_payloads"] == ["tone": ["label": "calm"]])
        }
    }

    @Test func recordQualityRejectsUnknownNamesAndBadPayloadsWithoutChanges() async throws {
        try await withAPI { api in
            let id = try await api.instance(in: .active)
            let path = "/api/v1/agent_instance/\(id)/record_quality"
            _ = try await api.post(path, ["name": "accuracy", "payload": ["score": 1]]).details()
            let before = try await api.snapshot(instances: [id])

            let unknown = try await api.post(path, ["name": "speed", "payload": ["value": 1]])
            unknown.expectError(422, "validation_error")
            #expect(unknown.errorFields == ["name"])

            let missingPayload = try await api.post(path, ["name": "accuracy"])
            missingPayload.expectError(422, "validation_error")
            #expect(missingPayload.errorFields == ["payload"])

            let stringPayload = try await api.post(path, ["name": "accuracy", "payload": "great"])
            stringPayload.expectError(422, "validation_error")
            #expect(stringPayload.errorFields == ["payload"])

            let missingName = try await api.post(path, ["payload": ["score": 2]])
            missingName.expectError(422, "validation_error")
            #expect(missingName.errorFields == ["name"])

            try await api.post("/api/v1/agent_instance/ai_missing/record_quality", ["name": "accuracy", "payload": [:]])
                .expectError(404, "not_found")
            #expect(try await api.snapshot(instances: [id]) == before)
        }
    }

    @Test func recordQualityWithoutQualitySchemasIsAValidationError() async throws {
        try await withAPI { api in
            let id = try await api.registerID(["agent_schema_version": ["external_identifier": "bare"]])
            let reply = try await api.post("/api/v1/agent_instance/\(id)/record_quality", ["name": "accuracy", "payload": [:]])
            reply.expectError(422, "validation_error")
            #expect(try await api.getInstance(id).details()["quality_payloads"] == [:])
        }
    }

    // MARK: Terminate

    @Test func terminateSetsStatusReasonAndFinishedAt() async throws {
        try await withAPI { api in
            let id = try await api.instance(in: .active)
            let reply = try await api.post("/api/v1/agent_instance/\(id)/terminate", ["reason": "budget exceeded"])
            let details = try reply.details()
            #expect(details["status"] == "terminated")
            #expect(details["termination_reason"] == "budget exceeded")
            #expect(isZuluMicroseconds(details["finished_at"]))
            let fetched = try await api.getInstance(id)
            expectIdentical(fetched, reply)
        }
    }

    @Test func terminateWithoutABodyLeavesTheReasonNull() async throws {
        try await withAPI { api in
            let id = try await api.registerID()
            let details = try await api.send(.POST, "/api/v1/agent_instance/\(id)/terminate").details()
            #expect(details["status"] == "terminated")
            #expect(details["termination_reason"] == .null)
        }
    }

    @Test func terminateUnknownInstanceIsNotFound() async throws {
        try await withAPI { api in
            try await api.post("/api/v1/agent_instance/ai_missing/terminate", ["reason": "x"]).expectError(404, "not_found")
        }
    }

    // MARK: Agent context

    @Test func agentContextHasATopLevelBodyWithTheInstanceAndItsSpans() async throws {
        try await withAPI { api in
            let id = try await api.instance(in: .active)
            let span = try await api.createSpanID(instance: id, ["started_at": "2025-01-01T00:00:00Z"])
            _ = try await api.post("/api/v1/agent_spans/\(span)/finish", ["result_payload": ["response": "hello"]]).details()
            let reply = try await api.get("/api/v1/agent_instance/\(id)/agent_context")
            reply.expectSuccess()
            #expect(reply.json?["details"] == nil)
            let body = try #require(reply.json?["agent_context"]?["body"])
            #expect(body["format"] == "agent_context_v1")
            #expect(body["instance"]?["id"] == .string(id))
            let spans = try #require(body["spans"]?.arrayValue)
            #expect(spans.map { $0["id"] } == [.string(span)])
            #expect(spans.first?["summary"] == "gpt-4 said hello")
        }
    }

    @Test func agentContextOfAnInstanceWithoutSpansHasAnEmptyList() async throws {
        try await withAPI { api in
            let id = try await api.registerID()
            let reply = try await api.get("/api/v1/agent_instance/\(id)/agent_context")
            #expect(reply.json?["agent_context"]?["body"]?["spans"] == [])
        }
    }

    @Test func agentContextOfAnUnknownInstanceIsNotFound() async throws {
        try await withAPI { api in
            try await api.get("/api/v1/agent_instance/ai_missing/agent_context").expectError(404, "not_found")
        }
    }
}
