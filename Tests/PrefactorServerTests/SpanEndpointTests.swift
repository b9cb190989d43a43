import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

@Suite(.timeLimit(.minutes(1)))
struct SpanEndpointTests {
    // MARK: Create

    @Test func createReturnsTheSpanWithEveryField() async throws {
        try await withAPI { api in
            let instance = try await api.register()
            let instanceID = try #require(instance["id"]?.stringValue)
            let reply = try await api.createSpan(instance: instanceID, ["payload": ["model": "gpt-4", "n": 2]])
            let details = try reply.details()
            #expect(reply.json?["control"] == nil)
            #expect(details["type"] == "agent_span")
            #expect(details["id"]?.stringValue?.isEmpty == false)
            #expect(details["agent_instance_id"] == .string(instanceID))
            #expect(details["account_id"] == instance["account_id"])
            #expect(details["agent_id"] == instance["agent_id"])
            #expect(details["parent_span_id"] == .null)
            #expect(details["schema_name"] == "agent:llm")
            #expect(details["schema_title"] == "LLM Call")
            #expect(details["status"] == "active")
            #expect(details["payload"] == ["model": "gpt-4", "n": 2])
            #expect(details["result_payload"] == .null)
            #expect(details["finished_at"] == .null)
            for field in ["started_at", "inserted_at", "updated_at"] {
                #expect(isZuluMicroseconds(details[field]), "\(field)")
            }
        }
    }

    @Test func schemaTitleDefaultsToTheSchemaName() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let untitled = try await api.createSpan(instance: instance, schema: "agent:tool").details()
            #expect(untitled["schema_title"] == "agent:tool")
            let unregistered = try await api.createSpan(instance: instance, schema: "custom:thing").details()
            #expect(unregistered["schema_title"] == "custom:thing")
        }
    }

    /// Both official SDKs always send a status (spec §3.7), so a create without one is a 422 naming it; a missing
    /// payload reads as `{}`.
    @Test func createNeedsAStatusAndDefaultsThePayloadToAnEmptyObject() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let missing = try await api.post(
                "/api/v1/agent_spans", ["details": ["agent_instance_id": .string(instance), "schema_name": "agent:llm"]])
            missing.expectError(422, "validation_error")
            #expect(missing.errorFields == ["status"])
            let details = try await api.post(
                "/api/v1/agent_spans",
                [
                    "details": [
                        "agent_instance_id": .string(instance), "schema_name": "agent:llm", "status": "active", "payload": nil,
                    ]
                ]
            ).details()
            #expect(details["status"] == "active")
            #expect(details["payload"] == [:])
        }
    }

    @Test func createHonoursClientChosenIDAndTimes() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let details = try await api.createSpan(
                instance: instance, status: "complete",
                [
                    "id": "sp_client", "started_at": "2025-01-02T03:04:05.123456+00:00",
                    "finished_at": "2025-01-02T03:04:06.5Z", "result_payload": ["response": "ok"],
                ]
            ).details()
            #expect(details["id"] == "sp_client")
            #expect(details["started_at"] == "2025-01-02T03:04:05.123456Z")
            #expect(details["finished_at"] == "2025-01-02T03:04:06.500000Z")
            #expect(details["result_payload"] == ["response": "ok"])
        }
    }

    @Test func createOnAnUnknownInstanceIsNotFound() async throws {
        try await withAPI { api in
            let before = try await api.snapshot()
            try await api.createSpan(instance: "ai_missing").expectError(404, "not_found")
            #expect(try await api.snapshot() == before)
        }
    }

    @Test func duplicateClientChosenSpanIDsAreAConflict() async throws {
        try await withAPI { api in
            let first = try await api.registerID()
            let second = try await api.registerID()
            let original = try await api.createSpan(instance: first, ["id": "sp_same"]).details()
            let before = try await api.snapshot(instances: [first, second])
            try await api.createSpan(instance: first, ["id": "sp_same"]).expectError(409, "conflict")
            try await api.createSpan(instance: second, ["id": "sp_same"]).expectError(409, "conflict")
            #expect(try await api.snapshot(instances: [first, second]) == before)
            #expect(try await api.spans(of: first) == [original])
        }
    }

    // MARK: Parents

    @Test func parentInTheSameInstanceIsAccepted() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let parent = try await api.createSpanID(instance: instance)
            let child = try await api.createSpan(instance: instance, ["parent_span_id": .string(parent)]).details()
            #expect(child["parent_span_id"] == .string(parent))
        }
    }

    @Test func parentInAnotherInstanceIsAValidationError() async throws {
        try await withAPI { api in
            let first = try await api.registerID()
            let second = try await api.registerID()
            let foreign = try await api.createSpanID(instance: first)
            let before = try await api.snapshot(instances: [first, second])
            let reply = try await api.createSpan(instance: second, ["parent_span_id": .string(foreign)])
            reply.expectError(422, "validation_error")
            #expect(reply.errorFields == ["parent_span_id"])
            #expect(try await api.snapshot(instances: [first, second]) == before)
        }
    }

    @Test func unknownParentIsAValidationError() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let reply = try await api.createSpan(instance: instance, ["parent_span_id": "sp_nowhere"])
            reply.expectError(422, "validation_error")
            #expect(reply.errorFields == ["parent_span_id"])
            #expect(try await api.spans(of: instance).isEmpty)
            #expect(try await api.spanCounts(instance)["total"] == 0)
        }
    }

    // MARK: Instance lifecycle

    @Test func spansOfAPendingInstanceAreAccepted() async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .pending)
            let span = try await api.createSpanID(instance: instance)
            _ = try await api.post("/api/v1/agent_spans/\(span)/finish", ["status": "complete"]).details()
            #expect(try await api.getInstance(instance).details()["status"] == "pending")
            #expect(try await api.spanCounts(instance)["complete"] == 1)
        }
    }

    @Test(arguments: [InstanceState.complete, .failed, .cancelled])
    func spansFinishingAfterTheInstanceFinishedAreAccepted(state: InstanceState) async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            let span = try await api.createSpanID(instance: instance)
            _ = try await api.post("/api/v1/agent_instance/\(instance)/finish", ["status": .string(state.rawValue)]).details()
            let reply = try await api.post("/api/v1/agent_spans/\(span)/finish", ["status": "complete"])
            #expect(try reply.details()["status"] == "complete")
            #expect(reply.json?["control"] == nil)
            let details = try await api.getInstance(instance).details()
            #expect(details["status"] == .string(state.rawValue))
            #expect(details["span_counts"]?["complete"] == 1)
        }
    }

    @Test func spansOfATerminatedInstanceCarryTheControlBlock() async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            let before = try await api.createSpanID(instance: instance)
            _ = try await api.post("/api/v1/agent_instance/\(instance)/terminate", ["reason": "demo termination"]).details()

            let created = try await api.createSpan(instance: instance)
            let createdDetails = try created.details()
            #expect(created.json?["control"] == ["terminate": true, "reason": "demo termination"])
            #expect(createdDetails["status"] == "active")

            let finished = try await api.post("/api/v1/agent_spans/\(before)/finish", ["status": "complete"])
            #expect(try finished.details()["status"] == "complete")
            #expect(finished.json?["control"] == ["terminate": true, "reason": "demo termination"])

            let counts = try await api.spanCounts(instance)
            #expect(counts["total"] == 2)
            #expect(counts["complete"] == 1)
            #expect(counts["active"] == 1)
        }
    }

    @Test func terminationWithoutReasonGivesANullReason() async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            _ = try await api.post("/api/v1/agent_instance/\(instance)/terminate", [:]).details()
            let created = try await api.createSpan(instance: instance)
            _ = try created.details()
            #expect(created.json?["control"] == ["terminate": true, "reason": nil])
        }
    }

    @Test func spanCountsFollowEveryCreateAndFinish() async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            func expectCounts(
                _ expected: [String: Int64], sourceLocation: SourceLocation = #_sourceLocation
            ) async throws {
                var full: [String: Int64] = ["pending": 0, "active": 0, "complete": 0, "failed": 0, "cancelled": 0]
                full.merge(expected, uniquingKeysWith: { _, new in new })
                full["total"] = full.values.reduce(0, +)
                full["finished"] = full["complete"]! + full["failed"]! + full["cancelled"]!
                #expect(try await api.spanCounts(instance) == full, sourceLocation: sourceLocation)
            }
            let a = try await api.createSpanID(instance: instance)
            let b = try await api.createSpanID(instance: instance)
            let c = try await api.createSpanID(instance: instance, status: "pending")
            try await expectCounts(["active": 2, "pending": 1])
            _ = try await api.createSpanID(instance: instance, status: "failed")
            try await expectCounts(["active": 2, "pending": 1, "failed": 1])
            _ = try await api.post("/api/v1/agent_spans/\(a)/finish", ["status": "complete"]).details()
            try await expectCounts(["active": 1, "pending": 1, "failed": 1, "complete": 1])
            _ = try await api.post("/api/v1/agent_spans/\(b)/finish", ["status": "failed"]).details()
            try await expectCounts(["pending": 1, "failed": 2, "complete": 1])
            _ = try await api.post("/api/v1/agent_spans/\(c)/finish", ["status": "cancelled"]).details()
            try await expectCounts(["failed": 2, "complete": 1, "cancelled": 1])
            // Rejected finishes leave the counts alone.
            try await api.post("/api/v1/agent_spans/\(a)/finish", ["status": "failed"]).expectError(409, "invalid_action")
            try await expectCounts(["failed": 2, "complete": 1, "cancelled": 1])
        }
    }

    @Test func spanCountsStayExactUnderConcurrentCreatesAndFinishes() async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            let statuses = ["complete", "failed", "cancelled", "complete"]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        let span = try await api.createSpanID(instance: instance)
                        if index % 6 != 0 {
                            let status = statuses[index % statuses.count]
                            _ = try await api.post("/api/v1/agent_spans/\(span)/finish", ["status": .string(status)]).details()
                        }
                    }
                }
                try await group.waitForAll()
            }
            let listed = try await api.spans(of: instance)
            var expected: [String: Int64] = ["pending": 0, "active": 0, "complete": 0, "failed": 0, "cancelled": 0]
            for span in listed { expected[span["status"]?.stringValue ?? "?", default: 0] += 1 }
            expected["total"] = 24
            expected["finished"] = expected["complete"]! + expected["failed"]! + expected["cancelled"]!
            #expect(listed.count == 24)
            #expect(expected["active"] == 4)
            #expect(try await api.spanCounts(instance) == expected)
        }
    }

    // MARK: Finish

    @Test func finishStoresResultAndTimestamp() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let span = try await api.createSpanID(instance: instance)
            let details = try await api.post(
                "/api/v1/agent_spans/\(span)/finish",
                ["status": "complete", "result_payload": ["response": "42"], "timestamp": "2030-05-06T07:08:09.654321+00:00"]
            ).details()
            #expect(details["result_payload"] == ["response": "42"])
            #expect(details["finished_at"] == "2030-05-06T07:08:09.654321Z")
            #expect(details["payload"] == ["model": "gpt-4"])
        }
    }

    @Test func finishWithoutResultKeepsTheResultGivenAtCreate() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let span = try await api.createSpanID(instance: instance, ["result_payload": ["partial": true]])
            let details = try await api.post("/api/v1/agent_spans/\(span)/finish", [:]).details()
            #expect(details["status"] == "complete")
            #expect(details["result_payload"] == ["partial": true])
        }
    }

    // MARK: List

    @Test func listReturnsSpansInTheTimeWindowOrderedByStart() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let other = try await api.registerID()
            let times = ["2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z", "2025-01-01T03:00:00Z"]
            var ids: [String] = []
            for time in times.reversed() {
                ids.insert(try await api.createSpanID(instance: instance, ["started_at": .string(time)]), at: 0)
            }
            _ = try await api.createSpanID(instance: other, ["started_at": "2025-01-01T01:30:00Z"])

            let all = try await api.get("/api/v1/agent_spans?agent_instance_id=\(instance)")
            #expect(try all.summaries().map { $0["id"]?.stringValue } == ids)
            #expect(all.json?["sorting"] == ["field": "started_at", "direction": "asc"])
            #expect(all.json?["pagination"]?["item_count"] == 4)

            // Inclusive bounds, `Z` and `+00:00` forms, with `+` encoded or literal.
            let windows = [
                "start_time=2025-01-01T01:00:00Z&end_time=2025-01-01T02:00:00Z",
                "start_time=\(queryEncoded("2025-01-01T01:00:00.000000+00:00"))&end_time=\(queryEncoded("2025-01-01T02:00:00+00:00"))",
                "start_time=2025-01-01T00:30:00.000+00:00&end_time=2025-01-01T02:59:59.999999+00:00",
            ]
            for window in windows {
                let reply = try await api.get("/api/v1/agent_spans?agent_instance_id=\(instance)&\(window)")
                #expect(try reply.summaries().map { $0["id"]?.stringValue } == Array(ids[1...2]), "\(window)")
                #expect(reply.json?["pagination"]?["item_count"] == 2)
            }
            let openEnded = try await api.get("/api/v1/agent_spans?agent_instance_id=\(instance)&start_time=2025-01-01T02:00:00Z")
            #expect(try openEnded.summaries().map { $0["id"]?.stringValue } == Array(ids[2...3]))
            let empty = try await api.get(
                "/api/v1/agent_spans?agent_instance_id=\(instance)&start_time=2026-01-01T00:00:00Z&end_time=2027-01-01T00:00:00Z")
            #expect(try empty.summaries().isEmpty)
        }
    }

    @Test func listPaginatesExactly() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            var ids: [String] = []
            for minute in 0..<5 {
                ids.append(
                    try await api.createSpanID(instance: instance, ["started_at": .string("2025-01-01T00:0\(minute):00Z")]))
            }
            let reply = try await api.get("/api/v1/agent_spans?agent_instance_id=\(instance)&\(pageQuery(offset: 2, size: 2))")
            #expect(try reply.summaries().map { $0["id"]?.stringValue } == Array(ids[2...3]))
            #expect(
                reply.json?["pagination"]
                    == [
                        "item_count": 5, "item_start": 3, "item_end": 4, "page_count": 3, "page_index": 2, "page_offset": 2,
                        "page_size": 2, "next_page_offset": 4, "previous_page_offset": 0,
                    ])
            let descending = try await api.get("/api/v1/agent_spans?agent_instance_id=\(instance)&sorting=-started_at")
            #expect(try descending.summaries().map { $0["id"]?.stringValue } == ids.reversed())
            #expect(descending.json?["sorting"] == ["field": "started_at", "direction": "desc"])
        }
    }

    @Test func includeSummariesRendersTheSpanTypeTemplate() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let span = try await api.createSpanID(instance: instance, ["payload": ["model": "gpt-4", "response": "draft"]])
            _ = try await api.post("/api/v1/agent_spans/\(span)/finish", ["result_payload": ["response": "hello"]]).details()
            _ = try await api.createSpanID(instance: instance, ["payload": [:], "started_at": "2100-01-01T00:00:00Z"])
            _ = try await api.createSpan(
                instance: instance, schema: "agent:tool", ["started_at": "2100-01-02T00:00:00Z"]
            ).details()

            let rendered = try await api.get("/api/v1/agent_spans?agent_instance_id=\(instance)&include_summaries=true")
                .summaries()
            // Result wins over payload on key collisions; missing fields render empty; no template gives no summary.
            #expect(rendered.map { $0["summary"] } == ["gpt-4 said hello", " said ", .null])

            let plain = try await api.get("/api/v1/agent_spans?agent_instance_id=\(instance)").summaries()
            #expect(plain.map { $0["summary"] ?? .null } == [.null, .null, .null])
        }
    }

    @Test func listWithoutAnInstanceIsAValidationError() async throws {
        try await withAPI { api in
            let reply = try await api.get("/api/v1/agent_spans")
            reply.expectError(422, "validation_error")
            #expect(reply.errorFields == ["agent_instance_id"])
        }
    }

    @Test func listOfAnUnknownInstanceIsNotFound() async throws {
        try await withAPI { api in
            try await api.get("/api/v1/agent_spans?agent_instance_id=ai_missing").expectError(404, "not_found")
        }
    }

    @Test(arguments: [
        ("start_time=soon", "start_time"),
        ("end_time=2025-13-01T00:00:00Z", "end_time"),
        ("sorting=payload", "sorting"),
        (pageQuery(size: 1000), "pagination[page_size]"),
    ])
    func listRejectsBadQueryParameters(query: String, field: String) async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let reply = try await api.get("/api/v1/agent_spans?agent_instance_id=\(instance)&\(query)")
            reply.expectError(422, "validation_error")
            #expect(reply.errorFields == [field])
        }
    }
}
