import Foundation
import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// A bad bulk request, and the field its 422 must name.
struct BadBulkRequest: Sendable, CustomTestStringConvertible {
    var name: String
    var body: JSONValue
    var field: String

    var testDescription: String { name }

    /// A valid register item, placed first in every bad request so that a request run in part would show.
    static let register: JSONValue = [
        "_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "register-key-1", "id": "ai_bulk",
    ]

    static let all: [BadBulkRequest] = [
        BadBulkRequest(name: "no items member", body: [:], field: "items"),
        BadBulkRequest(name: "items null", body: ["items": nil], field: "items"),
        BadBulkRequest(name: "items not an array", body: ["items": ["_type": "agents/list"]], field: "items"),
        BadBulkRequest(name: "no items", body: ["items": []], field: "items"),
        BadBulkRequest(name: "an item that is not an object", body: ["items": [register, "agents/list"]], field: "items[1]"),
        BadBulkRequest(
            name: "an item without _type", body: ["items": [register, ["idempotency_key": "list-key-1"]]],
            field: "items[1]._type"),
        BadBulkRequest(
            name: "a _type that is not a string", body: ["items": [register, ["_type": 7, "idempotency_key": "list-key-1"]]],
            field: "items[1]._type"),
        BadBulkRequest(
            name: "an item without key", body: ["items": [register, ["_type": "agents/list"]]], field: "items[1].idempotency_key"),
        BadBulkRequest(
            name: "a key that is not a string",
            body: ["items": [register, ["_type": "agents/list", "idempotency_key": 12_345_678]]],
            field: "items[1].idempotency_key"),
        BadBulkRequest(
            name: "a key of 7 characters",
            body: ["items": [register, ["_type": "agents/list", "idempotency_key": .string(key(7))]]],
            field: "items[1].idempotency_key"),
        BadBulkRequest(
            name: "a key of 65 characters",
            body: ["items": [register, ["_type": "agents/list", "idempotency_key": .string(key(65))]]],
            field: "items[1].idempotency_key"),
        BadBulkRequest(
            name: "an empty key", body: ["items": [register, ["_type": "agents/list", "idempotency_key": ""]]],
            field: "items[1].idempotency_key"),
        BadBulkRequest(
            name: "two items with one key",
            body: ["items": [register, ["_type": "agents/list", "idempotency_key": "register-key-1"]]],
            field: "items[1].idempotency_key"),
        BadBulkRequest(
            name: "a CLI item with an unknown method",
            body: ["items": [["method": "POST", "path": "/agent_instance/register"], ["method": "PATCH", "path": "/agent"]]],
            field: "items[1].method"),
        BadBulkRequest(
            name: "a CLI item without path",
            body: ["items": [["method": "POST", "path": "/agent_instance/register"], ["method": "GET"]]],
            field: "items[1].path"),
        BadBulkRequest(
            name: "a CLI item whose body is not an object",
            body: [
                "items": [
                    ["method": "POST", "path": "/agent_instance/register"], ["method": "POST", "path": "/agent", "body": "x"],
                ]
            ],
            field: "items[1].body"),
        BadBulkRequest(
            name: "a Python item among CLI items",
            body: ["items": [["method": "POST", "path": "/agent_instance/register"], register]], field: "items[1].method"),
    ]
}

/// `POST /api/v1/bulk` (spec §3.9, §10 item 8, conformance check 37).
@Suite(.timeLimit(.minutes(1)))
struct BulkTests {
    // MARK: Python dialect

    @Test func everyActionTypeRunsAndAnswersUnderItsKey() async throws {
        try await withAPI { api in
            let reply = try await api.bulk([
                [
                    "_type": "agents/create", "idempotency_key": "agent-create-1", "id": "agent_bulk", "name": "Bulk agent",
                    "external_identifier": "bulk-agent",
                ],
                [
                    "_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "instance-register-1",
                    "agent_id": "agent_bulk",
                    "id": "ai_bulk", "agent_version": ["name": "v", "external_identifier": "v1"],
                    "agent_schema_version": standardSchema,
                ],
                [
                    "_type": "agent_spans/create", "idempotency_key": "span-create-1", "agent_instance_id": "ai_bulk",
                    "schema_name": "agent:llm", "status": "active", "payload": ["model": "gpt-4"],
                ],
                [
                    "_type": "agents/show", "idempotency_key": "agent-show-1", "external_identifier": "bulk-agent",
                    "include_counts": true,
                ],
                ["_type": "agents/list", "idempotency_key": "agents-list-1", "sorting": "-name", "pagination": ["page_size": 1]],
            ])
            let outputs = try reply.outputs()
            #expect(outputs.count == 5)
            for (key, output) in outputs { #expect(output["status"] == "success", "\(key): \(output)") }

            #expect(outputs["agent-create-1"]?["details"]?["type"] == "agent")
            #expect(outputs["agent-create-1"]?["details"]?["id"] == "agent_bulk")
            let instance = try #require(outputs["instance-register-1"]?["details"])
            #expect(instance["type"] == "agent_instance")
            #expect(instance["id"] == "ai_bulk")
            #expect(instance["agent_id"] == "agent_bulk")
            #expect(instance["status"] == "pending")
            let span = try #require(outputs["span-create-1"]?["details"])
            #expect(span["type"] == "agent_span")
            #expect(span["agent_instance_id"] == "ai_bulk")
            #expect(span["status"] == "active")
            #expect(span["schema_title"] == "LLM Call", "the schema registered by the item before it")
            #expect(span["payload"] == ["model": "gpt-4"])
            let shown = try #require(outputs["agent-show-1"]?["details"])
            #expect(shown["id"] == "agent_bulk")
            #expect(shown["instance_counts"]?["pending"] == 1, "items run in order: the instance exists")
            let listed = try #require(outputs["agents-list-1"]?["summaries"]?.arrayValue)
            #expect(listed.count == 1, "pagination given as an object")
            #expect(listed.first?["name"] == "Local agent", "sorted by -name")
            #expect(outputs["agents-list-1"]?["pagination"]?["item_count"] == 2)

            // The effects are there for single requests too.
            #expect(try await api.getInstance("ai_bulk").details()["span_counts"]?["active"] == 1)
            #expect(try await api.spans(of: "ai_bulk").map { $0["id"] } == [span["id"]])
        }
    }

    @Test func outputsAreKeyedInItemOrder() async throws {
        try await withAPI { api in
            let keys = ["zzzzzzzz-1", "aaaaaaaa-2", "mmmmmmmm-3"]
            let reply = try await api.bulk(
                keys.map { ["_type": "agent_instances/register", "agent_version": [:], "idempotency_key": .string($0)] })
            reply.expectSuccess()
            let text = reply.text
            let positions = keys.map { text.range(of: "\"\($0)\":")?.lowerBound }
            #expect(positions.allSatisfy { $0 != nil })
            #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "\(text)")
        }
    }

    @Test func processingStopsAtTheFirstFailingItemWhichIsIncluded() async throws {
        try await withAPI { api in
            let reply = try await api.bulk([
                [
                    "_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "register-ok-1",
                    "id": "ai_first",
                ],
                [
                    "_type": "agent_spans/create", "idempotency_key": "span-missing-1", "agent_instance_id": "ai_missing",
                    "schema_name": "agent:llm", "status": "active",
                ],
                ["_type": "agents/create", "idempotency_key": "agent-later-1", "id": "agent_later", "name": "Later"],
                [
                    "_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "register-later-1",
                    "id": "ai_later",
                ],
            ])
            let outputs = try reply.outputs()
            #expect(Set(outputs.keys) == ["register-ok-1", "span-missing-1"])
            #expect(outputs["register-ok-1"]?["status"] == "success")
            let failure = try itemError(outputs["span-missing-1"], "not_found")
            #expect(failure["message"]?.stringValue?.contains("ai_missing") == true)
            #expect(failure["details"] == nil)

            // The item before the failure committed; the ones after it never ran.
            try await api.getInstance("ai_first").expectSuccess()
            try await api.getInstance("ai_later").expectError(404, "not_found")
            try await api.get("/api/v1/agent/agent_later").expectError(404, "not_found")
        }
    }

    @Test func anItemWhoseParametersAreInvalidFailsWithFieldErrors() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let reply = try await api.bulk([
                [
                    "_type": "agent_spans/create", "idempotency_key": "span-good-1", "agent_instance_id": .string(instance),
                    "schema_name": "agent:tool", "status": "active",
                ],
                [
                    "_type": "agent_spans/create", "idempotency_key": "span-bad-1", "agent_instance_id": .string(instance),
                    "status": "sleeping", "payload": [1, 2],
                ],
                [
                    "_type": "agent_spans/create", "idempotency_key": "span-after-1", "agent_instance_id": .string(instance),
                    "schema_name": "agent:tool", "status": "active",
                ],
            ])
            let outputs = try reply.outputs()
            #expect(Set(outputs.keys) == ["span-good-1", "span-bad-1"])
            let failure = try itemError(outputs["span-bad-1"], "validation_error")
            let errors = try #require(failure["errors"]?.objectValue)
            #expect(Set(errors.keys) == ["schema_name", "status", "payload"])
            #expect(try await api.spans(of: instance).count == 1)
        }
    }

    @Test func anUnknownTypeIsAnErrorOutputThatStopsProcessing() async throws {
        try await withAPI { api in
            let reply = try await api.bulk([
                ["_type": "agents/list", "idempotency_key": "list-key-1"],
                ["_type": "agent_spans/finish", "idempotency_key": "unknown-1", "id": "sp_1"],
                [
                    "_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "register-later-1",
                    "id": "ai_later",
                ],
            ])
            let outputs = try reply.outputs()
            #expect(Set(outputs.keys) == ["list-key-1", "unknown-1"])
            let failure = try itemError(outputs["unknown-1"], "validation_error")
            #expect(
                failure["errors"]?["_type"]?.arrayValue?.first?.stringValue?.contains("agent_spans/create") == true, "\(failure)")
            try await api.getInstance("ai_later").expectError(404, "not_found")
        }
    }

    @Test func createActionsAlsoTakeTheirParametersInDetails() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let reply = try await api.bulk([
                [
                    "_type": "agents/create", "idempotency_key": "agent-create-1",
                    "details": ["id": "agent_wrapped", "name": "W"],
                ],
                [
                    "_type": "agent_spans/create", "idempotency_key": "span-create-1",
                    "details": ["agent_instance_id": .string(instance), "schema_name": "agent:llm", "status": "pending"],
                ],
            ])
            let outputs = try reply.outputs()
            #expect(outputs["agent-create-1"]?["details"]?["id"] == "agent_wrapped")
            #expect(outputs["span-create-1"]?["details"]?["status"] == "pending")
        }
    }

    @Test func listParametersOfTheWrongTypeFailTheItem() async throws {
        try await withAPI { api in
            let reply = try await api.bulk([["_type": "agents/list", "idempotency_key": "list-key-1", "team_id": ["a", "b"]]])
            let output = try itemError(try reply.outputs()["list-key-1"], "validation_error")
            #expect(output["errors"]?.objectValue?.keys.contains("team_id") == true)
        }
    }

    // MARK: Runs of writes

    /// Span creates with these keys under `instance`; `parents` gives some of them a `parent_span_id`.
    static func creates(_ keys: [String], instance: String, parents: [String: String] = [:]) -> [JSONValue] {
        keys.map { key in
            var item: [String: JSONValue] = [
                "_type": "agent_spans/create", "idempotency_key": .string(key), "agent_instance_id": .string(instance),
                "schema_name": "agent:llm", "status": "complete",
            ]
            if let parent = parents[key] { item["parent_span_id"] = .string(parent) }
            return .object(item)
        }
    }

    @Test func aFailingCreateInARunFailsAloneAfterTheOnesBeforeItCommitted() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let keys = (1...5).map { "run-create-\($0)" }
            // The third fails only once it runs: its parent does not exist.
            let items = Self.creates(keys, instance: instance, parents: [keys[2]: "sp_missing"])
            let first = try await api.bulk(items)
            let outputs = try first.outputs()
            #expect(Set(outputs.keys) == Set(keys.prefix(3)))
            #expect(outputs[keys[0]]?["status"] == "success")
            #expect(outputs[keys[1]]?["status"] == "success")
            let failure = try itemError(outputs[keys[2]], "validation_error")
            #expect(failure["errors"]?.objectValue?.keys.contains("parent_span_id") == true, "\(failure)")
            let created = [outputs[keys[0]]?["details"]?["id"], outputs[keys[1]]?["details"]?["id"]]
            #expect(Set(try await api.spans(of: instance).map { $0["id"] }) == Set(created))
            #expect(try await api.spanCounts(instance)["complete"] == 2)

            // Sent again: the two that succeeded replay byte for byte, the failed one was not remembered and fails
            // again, and nothing after it runs.
            let replay = try await api.bulk(items)
            let replayed = try replay.outputs()
            #expect(Set(replayed.keys) == Set(keys.prefix(3)))
            #expect(replayed[keys[0]] == outputs[keys[0]])
            #expect(replayed[keys[1]] == outputs[keys[1]])
            _ = try itemError(replayed[keys[2]], "validation_error")
            #expect(try await api.spanCounts(instance)["complete"] == 2)

            // With the parent fixed, the rest runs; the first two still replay.
            let parent = try #require(created[0]?.stringValue)
            let fixed = try await api.bulk(Self.creates(keys, instance: instance, parents: [keys[2]: parent]))
            let done = try fixed.outputs()
            #expect(done.count == 5)
            #expect(done[keys[0]] == outputs[keys[0]])
            #expect(done[keys[2]]?["details"]?["parent_span_id"] == .string(parent))
            #expect(try await api.spans(of: instance).count == 5)
            #expect(try await api.spanCounts(instance)["complete"] == 5)
        }
    }

    /// A write that fails after writing (a register whose instance id is taken, after its new schema version was
    /// stored) rolls back alone: its writes are undone, the items before it stay.
    @Test func aWriteThatFailsAfterWritingIsUndoneAloneInItsRun() async throws {
        try await withAPI { api in
            var doomedSchema = try #require(standardSchema.objectValue)
            doomedSchema["external_identifier"] = "schema-rolled-back"
            let reply = try await api.bulk([
                [
                    "_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "register-first",
                    "id": "ai_first",
                ],
                [
                    "_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "register-taken",
                    "id": "ai_first", "agent_schema_version": .object(doomedSchema),
                ],
                [
                    "_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "register-after",
                    "id": "ai_after",
                ],
            ])
            let outputs = try reply.outputs()
            #expect(Set(outputs.keys) == ["register-first", "register-taken"])
            _ = try itemError(outputs["register-taken"], "conflict")
            try await api.getInstance("ai_first").expectSuccess()
            try await api.getInstance("ai_after").expectError(404, "not_found")

            // Had the failed item's schema version stayed, this register would reuse it (same external identifier)
            // and the span below would get its title instead of this schema's.
            var schema = doomedSchema
            schema["span_type_schemas"] = [["name": "agent:llm", "params_schema": ["type": "object"], "title": "Kept"]]
            let instance = try await api.registerID(["id": "ai_second", "agent_schema_version": .object(schema)])
            let span = try await api.createSpan(instance: instance).details()
            #expect(span["schema_title"] == "Kept")
        }
    }

    @Test func aSpanCreateKeySharesItsScopeBetweenBulkAndSingleRequests() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let single = try await api.post(
                "/api/v1/agent_spans",
                [
                    "details": ["agent_instance_id": .string(instance), "schema_name": "agent:llm", "status": "active"],
                    "idempotency_key": "span-shared-1",
                ])
            single.expectSuccess()
            let reply = try await api.bulk(
                Self.creates(["span-before-1", "span-shared-1", "span-shared-2", "span-after-1"], instance: instance))
            let outputs = try reply.outputs()
            #expect(outputs.count == 4)
            #expect(outputs["span-shared-1"] == single.json, "the bulk item replays the single request")
            #expect(outputs["span-shared-1"]?["details"]?["status"] == "active")

            // And the other way round.
            let again = try await api.post(
                "/api/v1/agent_spans",
                [
                    "details": ["agent_instance_id": .string(instance), "schema_name": "agent:tool", "status": "active"],
                    "idempotency_key": "span-shared-2",
                ])
            #expect(again.json == outputs["span-shared-2"])
            #expect(try await api.spans(of: instance).count == 4)
        }
    }

    /// A status fault fails the item it matches when that item runs, in a run of writes as anywhere: the items before
    /// it commit, and the rule's count is used up by the items that ran only.
    @Test func aStatusFaultFailsTheItemItMatchesInARun() async throws {
        try await withAPI(allowServerErrors: true) { api in
            let instance = try await api.registerID()
            let keys = (1...4).map { "fault-run-\($0)" }
            var items: [JSONValue] = [
                ["_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "fault-register", "id": "ai_run"]
            ]
            items += Self.creates(keys, instance: instance)
            api.server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 503, count: 2))
            let first = try await api.bulk(items)
            let outputs = try first.outputs()
            #expect(Set(outputs.keys) == ["fault-register", keys[0]])
            _ = try itemError(outputs[keys[0]], "service_unavailable")
            try await api.getInstance("ai_run").expectSuccess()
            #expect(try await api.spans(of: instance).isEmpty)
            #expect(api.server.faults.current.first?.count == 1, "one count used: the items after the failed one never ran")

            let second = try await api.bulk(items)
            #expect(Set(try second.outputs().keys) == ["fault-register", keys[0]])
            #expect(api.server.faults.current.isEmpty)
            let third = try await api.bulk(items)
            #expect(try third.outputs().count == 5)
            #expect(try await api.spans(of: instance).count == 4)
        }
    }

    // MARK: Request validation

    @Test(arguments: BadBulkRequest.all)
    func aBadRequestIsRejectedWholeAndChangesNothing(request: BadBulkRequest) async throws {
        try await withAPI { api in
            let before = try await api.snapshot()
            let reply = try await api.post("/api/v1/bulk", request.body)
            reply.expectError(422, "validation_errors")
            #expect(reply.errorFields.contains(request.field), "\(reply)")
            #expect(reply.json?["outputs"] == nil)
            #expect(try await api.snapshot() == before)
            try await api.getInstance("ai_bulk").expectError(404, "not_found")
        }
    }

    @Test(arguments: [8, 64])
    func keysOf8To64CharactersAreAccepted(length: Int) async throws {
        try await withAPI { api in
            let reply = try await api.bulk([
                ["_type": "agent_instances/register", "agent_version": [:], "idempotency_key": .string(key(length))]
            ])
            reply.expectSuccess()
            #expect(reply.json?["outputs"]?[key(length)]?["status"] == "success", "\(reply)")
        }
    }

    @Test func aBodyThatIsNotJSONIsRejectedLikeAnyOther() async throws {
        try await withAPI { api in
            try await api.send(.POST, "/api/v1/bulk", body: .text("[{}]")).expectError(400, "bad_request")
            try await api.send(.POST, "/api/v1/bulk", body: .text("{")).expectError(400, "invalid_json")
        }
    }

    // MARK: Idempotency

    @Test func aReplayedRequestAnswersTheSameAndChangesNothing() async throws {
        try await withAPI { api in
            let items: [JSONValue] = [
                ["_type": "agents/create", "idempotency_key": "agent-create-1", "name": "Replayed"],
                ["_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "instance-register-1"],
                [
                    "_type": "agent_spans/create", "idempotency_key": "span-create-1", "agent_instance_id": "ai_fixed",
                    "schema_name": "agent:llm", "status": "active",
                ],
            ]
            _ = try await api.registerID(["id": "ai_fixed"])
            let first = try await api.bulk(items)
            first.expectSuccess()
            let after = try await api.snapshot(instances: ["ai_fixed"])
            let replay = try await api.bulk(items)
            expectIdentical(replay, first, "a replay must return the first response byte for byte")
            #expect(try await api.snapshot(instances: ["ai_fixed"]) == after, "a replay must change nothing")
        }
    }

    @Test func itemKeysShareTheirScopeWithSingleRequests() async throws {
        try await withAPI { api in
            let single = try await api.post("/api/v1/agent", ["details": ["name": "Once"], "idempotency_key": "shared-key-1"])
            let agent = try single.details()
            let reply = try await api.bulk([["_type": "agents/create", "idempotency_key": "shared-key-1", "name": "Twice"]])
            #expect(reply.json?["outputs"]?["shared-key-1"] == single.json, "the bulk item replays the single request")
            let names = try await api.get("/api/v1/agent?\(pageQuery(size: 100))").summaries().compactMap {
                $0["name"]?.stringValue
            }
            #expect(names.filter { $0 == "Once" || $0 == "Twice" } == ["Once"])

            // And the other way round.
            let bulk = try await api.bulk([
                ["_type": "agent_instances/register", "agent_version": [:], "idempotency_key": "shared-key-2", "id": "ai_once"]
            ])
            let registered = try #require(bulk.json?["outputs"]?["shared-key-2"])
            let again = try await api.post(
                "/api/v1/agent_instance/register", ["agent_version": [:], "idempotency_key": "shared-key-2", "id": "ai_twice"])
            #expect(again.json == registered)
            try await api.getInstance("ai_twice").expectError(404, "not_found")
            #expect(agent["name"] == "Once")
        }
    }

    @Test func aFailedItemIsNotRememberedAndRunsAgainOnRetry() async throws {
        try await withAPI { api in
            let items: [JSONValue] = [
                [
                    "_type": "agent_spans/create", "idempotency_key": "span-retry-1", "agent_instance_id": "ai_later",
                    "schema_name": "agent:llm", "status": "active",
                ]
            ]
            let first = try await api.bulk(items)
            #expect(first.json?["outputs"]?["span-retry-1"]?["code"] == "not_found", "\(first)")
            _ = try await api.registerID(["id": "ai_later"])
            let retry = try await api.bulk(items)
            #expect(retry.json?["outputs"]?["span-retry-1"]?["status"] == "success", "\(retry)")
        }
    }

    // MARK: CLI dialect

    @Test func cliItemsRunInOrderAndAnswerWithTheirStatusAndBody() async throws {
        try await withAPI { api in
            let reply = try await api.bulk([
                [
                    "method": "POST", "path": "/agent_instance/register",
                    "body": ["agent_version": [:], "id": "ai_cli", "idempotency_key": "cli-register"],
                ],
                ["method": "POST", "path": "/api/v1/agent_instance/ai_cli/start", "body": [:]],
                [
                    "method": "POST", "path": "/agent_spans",
                    "body": ["details": ["agent_instance_id": "ai_cli", "schema_name": "agent:llm", "status": "active"]],
                ],
                ["method": "GET", "path": "/agent_instance/ai_cli"],
                ["method": "GET", "path": "/agent_instance?agent_id=agent_local"],
            ])
            reply.expectSuccess()
            let items = try #require(reply.json?["details"]?["items"]?.arrayValue, "\(reply)")
            #expect(items.map { $0["status"] } == [200, 200, 200, 200, 200])
            #expect(items[0]["body"]?["details"]?["id"] == "ai_cli")
            #expect(items[1]["body"]?["details"]?["status"] == "active")
            #expect(items[2]["body"]?["details"]?["type"] == "agent_span")
            #expect(items[3]["body"]?["details"]?["span_counts"]?["active"] == 1)
            #expect(items[4]["body"]?["summaries"]?.arrayValue?.count == 1)
            #expect(try await api.getInstance("ai_cli").details()["status"] == "active")

            // The keys of CLI items share their scope with single requests too.
            let replay = try await api.post(
                "/api/v1/agent_instance/register", ["agent_version": [:], "id": "ai_other", "idempotency_key": "cli-register"])
            #expect(replay.json == items[0]["body"])
        }
    }

    @Test(arguments: [
        ("GET", "/agent_instance/ai_missing", 404, "not_found"),
        ("GET", "/account", 404, "not_found"),
        ("GET", "/bulk", 404, "not_found"),
        ("PUT", "/agent_spans", 405, "method_not_allowed"),
        ("POST", "/agent_instance/ai_cli/start", 409, "invalid_action"),
    ])
    func cliProcessingStopsAtTheFirstFailingItem(method: String, path: String, status: Int, code: String) async throws {
        try await withAPI { api in
            let reply = try await api.bulk([
                ["method": "POST", "path": "/agent_instance/register", "body": ["agent_version": [:], "id": "ai_cli"]],
                ["method": "POST", "path": "/agent_instance/ai_cli/start"],
                ["method": .string(method), "path": .string(path)],
                ["method": "POST", "path": "/agent_instance/register", "body": ["agent_version": [:], "id": "ai_later"]],
            ])
            reply.expectSuccess()
            let items = try #require(reply.json?["details"]?["items"]?.arrayValue, "\(reply)")
            #expect(items.map { $0["status"] } == [200, 200, .int(Int64(status))])
            #expect(items.last?["body"]?["status"] == "error")
            #expect(items.last?["body"]?["code"] == .string(code))
            try await api.getInstance("ai_later").expectError(404, "not_found")
        }
    }
}

extension Reply {
    /// The `outputs` of a bulk reply; records an issue unless the reply is a 200 success envelope.
    func outputs(sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: JSONValue] {
        expectSuccess(sourceLocation: sourceLocation)
        return try #require(json?["outputs"]?.objectValue, "no outputs in \(self)", sourceLocation: sourceLocation)
    }
}

/// A bulk item's output, after checking that it is an error envelope with this code.
func itemError(_ output: JSONValue?, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
    let output = try #require(output, "no output", sourceLocation: sourceLocation)
    #expect(output["status"] == "error", "\(output)", sourceLocation: sourceLocation)
    #expect(output["code"] == .string(code), "\(output)", sourceLocation: sourceLocation)
    #expect(output["message"]?.stringValue?.isEmpty == false, "\(output)", sourceLocation: sourceLocation)
    return output
}

extension API {
    /// `POST /api/v1/bulk` with these items.
    func bulk(_ items: [JSONValue]) async throws -> Reply {
        try await post("/api/v1/bulk", ["items": .array(items)])
    }
}
