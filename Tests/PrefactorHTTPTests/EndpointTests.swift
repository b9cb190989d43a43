import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Every client call against the real emulator returns the right typed values and hits the right route.
@Suite(.timeLimit(.minutes(1)))
struct EndpointTests {
    @Test func ping() async throws {
        try await withHarness { h in
            let response = try await h.client.ping()
            #expect(response["status"] == "success")
            #expect(h.received("GET", "/api/v1/ping").count == 1)
            #expect(h.log.totalCount == 1)
        }
    }

    @Test func registerReturnsAPendingInstance() async throws {
        try await withHarness { h in
            let instance = try await h.client.registerAgentInstance(Harness.registerRequest())
            #expect(instance.type == "agent_instance")
            #expect(instance.id.hasPrefix("ai_"))
            #expect(instance.status == .pending)
            #expect(instance.agentID == "agent_local")
            #expect(instance.environmentID == "env_local")
            #expect(!instance.agentVersionID.isEmpty)
            #expect(!instance.agentDeploymentID.isEmpty)
            #expect(instance.purpose == .live)
            #expect(instance.startedAt == nil)
            #expect(instance.finishedAt == nil)
            #expect(instance.spanCounts == SpanCounts())
            #expect(h.received("POST", "/api/v1/agent_instance/register").count == 1)
        }
    }

    @Test func registerHonoursExplicitIDAndPurpose() async throws {
        try await withHarness { h in
            let instance = try await h.client.registerAgentInstance(
                RegisterAgentInstanceRequest(id: "ai_chosen", purpose: .eval, externalIdentifier: "run-1"))
            #expect(instance.id == "ai_chosen")
            #expect(instance.purpose == .eval)
        }
    }

    @Test func startMakesTheInstanceActiveAtTheGivenTime() async throws {
        try await withHarness { h in
            let registered = try await h.client.registerAgentInstance(Harness.registerRequest())
            let started = Date(timeIntervalSince1970: 1_735_787_045.123456)
            let instance = try await h.client.startAgentInstance(
                id: registered.id, timestamp: started, idempotencyKey: IdempotencyKey.generate())
            #expect(instance.id == registered.id)
            #expect(instance.status == .active)
            #expect(WireDate.microseconds(of: try #require(instance.startedAt)) == 1_735_787_045_123_456)
            #expect(h.received("POST", "/api/v1/agent_instance/\(registered.id)/start").count == 1)
        }
    }

    @Test(arguments: [FinishStatus?.none, .complete, .failed, .cancelled])
    func finishSetsTheFinalStatus(status: FinishStatus?) async throws {
        try await withHarness { h in
            let active = try await h.startedInstance()
            let finishedAt = Date(timeIntervalSince1970: 1_900_000_000.5)
            let instance = try await h.client.finishAgentInstance(id: active.id, status: status, timestamp: finishedAt)
            // Conformance check 10: the response echoes the status sent; the server default is `complete`.
            #expect(instance.status == (status?.agentStatus ?? .complete))
            #expect(WireDate.microseconds(of: try #require(instance.finishedAt)) == 1_900_000_000_500_000)
            #expect(h.received("POST", "/api/v1/agent_instance/\(active.id)/finish").count == 1)
        }
    }

    @Test func getReturnsTheInstance() async throws {
        try await withHarness { h in
            let active = try await h.startedInstance()
            let fetched = try await h.client.agentInstance(id: active.id)
            #expect(fetched.id == active.id)
            #expect(fetched.status == .active)
            #expect(fetched.startedAt == active.startedAt)
            #expect(h.received("GET", "/api/v1/agent_instance/\(active.id)").count == 1)
        }
    }

    @Test func listReturnsInstancesOfAnAgentWithPagination() async throws {
        try await withHarness { h in
            var ids: Set<String> = []
            for _ in 0..<3 { ids.insert(try await h.client.registerAgentInstance(RegisterAgentInstanceRequest()).id) }
            let page = try await h.client.listAgentInstances(agentID: "agent_local")
            #expect(Set(page.items.map(\.id)) == ids)
            let pagination = try #require(page.pagination)
            #expect(pagination.itemCount == 3)
            #expect(pagination.pageSize == 20)
            #expect(page.sorting != nil)
            let small = try await h.client.listAgentInstances(
                agentID: "agent_local", page: PageRequest(offset: 1, pageSize: 1, sorting: "inserted_at"))
            #expect(small.items.count == 1)
            #expect(small.pagination == Pagination(itemCount: 3, offset: 1, pageSize: 1, itemsOnPage: 1))
            #expect(small.sorting == Sorting(field: "inserted_at", direction: "asc"))
            let requests = h.received("GET", "/api/v1/agent_instance")
            #expect(requests.count == 2)
            #expect(requests.first?.query == "agent_id=agent_local")
        }
    }

    @Test func recordQualitySetsAndClearsAPayload() async throws {
        try await withHarness { h in
            let active = try await h.startedInstance()
            let recorded = try await h.client.recordQuality(
                instanceID: active.id, name: "accuracy", payload: ["score": 0.5, "votes": 3])
            #expect(recorded.id == active.id)
            #expect(recorded.qualityPayloads == ["accuracy": ["score": 0.5, "votes": 3]])
            #expect(recorded.qualityPayloads?["accuracy"]?["votes"] == .int(3))
            #expect(recorded.qualitySummaries == ["accuracy": "0.5"])
            let cleared = try await h.client.recordQuality(instanceID: active.id, name: "accuracy", payload: nil)
            #expect(cleared.qualityPayloads?["accuracy"] == nil)
            #expect(h.received("POST", "/api/v1/agent_instance/\(active.id)/record_quality").count == 2)
        }
    }

    @Test func terminateStopsTheInstanceAndSpansCarryControl() async throws {
        try await withHarness { h in
            let active = try await h.startedInstance()
            let created = try await h.client.createSpan(
                CreateSpanRequest(agentInstanceID: active.id, schemaName: "agent:llm", payload: ["model": "m"]))
            #expect(created.control == nil)
            let terminated = try await h.client.terminateAgentInstance(id: active.id, reason: "demo termination")
            #expect(terminated.status == .terminated)
            #expect(terminated.terminationReason == "demo termination")
            // Conformance check 15.
            let fetched = try await h.client.agentInstance(id: active.id)
            #expect(fetched.status == .terminated)
            #expect(fetched.terminationReason == "demo termination")
            let finished = try await h.client.finishSpan(id: created.span.id, status: .complete)
            #expect(finished.control == ControlSignal(terminate: true, reason: "demo termination"))
            #expect(h.received("POST", "/api/v1/agent_instance/\(active.id)/terminate").count == 1)
        }
    }

    @Test func createSpanRootAndChild() async throws {
        try await withHarness { h in
            let active = try await h.startedInstance()
            let started = Date(timeIntervalSince1970: 1_800_000_000.25)
            let root = try await h.client.createSpan(
                CreateSpanRequest(
                    agentInstanceID: active.id, schemaName: "agent:llm", payload: ["model": "m", "tokens": 42],
                    startedAt: started, idempotencyKey: IdempotencyKey.generate()))
            #expect(root.span.type == "agent_span")
            #expect(root.span.agentInstanceID == active.id)
            #expect(root.span.schemaName == "agent:llm")
            #expect(root.span.schemaTitle == "LLM Call")
            #expect(root.span.status == .active)
            #expect(root.span.parentSpanID == nil)
            #expect(root.span.payload == ["model": "m", "tokens": 42])
            #expect(root.span.payload["tokens"] == .int(42))
            #expect(root.span.resultPayload == nil)
            #expect(WireDate.microseconds(of: try #require(root.span.startedAt)) == 1_800_000_000_250_000)
            #expect(root.control == nil)

            let child = try await h.client.createSpan(
                CreateSpanRequest(agentInstanceID: active.id, schemaName: "agent:tool", parentSpanID: root.span.id))
            #expect(child.span.parentSpanID == root.span.id)
            #expect(child.span.schemaTitle == "agent:tool")
            #expect(child.span.payload == [:])

            let complete = try await h.client.createSpan(
                CreateSpanRequest(
                    agentInstanceID: active.id, schemaName: "agent:llm", status: .complete, resultPayload: ["ok": true]))
            #expect(complete.span.status == .complete)
            #expect(complete.span.resultPayload == ["ok": true])
            #expect(complete.span.finishedAt != nil)
            #expect(h.received("POST", "/api/v1/agent_spans").count == 3)

            let counts = try #require(try await h.client.agentInstance(id: active.id).spanCounts)
            #expect(counts == SpanCounts(total: 3, active: 2, complete: 1, finished: 1))
        }
    }

    @Test func payloadNumbersKeepTheirKindThroughTheAPI() async throws {
        // A float the caller sends (1.0) must come back as a float, an integer (1) as an integer, as the Python SDK
        // would see them.
        try await withHarness { h in
            let active = try await h.startedInstance()
            let payload: [String: JSONValue] = ["float": 1.0, "int": 1, "big": 1.5e3, "frac": 0.25]
            let created = try await h.client.createSpan(
                CreateSpanRequest(agentInstanceID: active.id, schemaName: "agent:llm", payload: payload))
            let sent = try #require(h.transport.last?.json?["details"]?["payload"])
            #expect(sent == .object(payload), "the request body keeps 1.0 a float")
            #expect(created.span.payload["int"] == .int(1))
            #expect(created.span.payload["frac"] == .double(0.25))
            #expect(created.span.payload["float"] == .double(1.0), "got \(String(describing: created.span.payload["float"]))")
            #expect(created.span.payload["big"] == .double(1500), "got \(String(describing: created.span.payload["big"]))")
            let quality = try await h.client.recordQuality(instanceID: active.id, name: "accuracy", payload: ["score": 1.0])
            #expect(quality.qualityPayloads?["accuracy"]?["score"] == .double(1.0))
        }
    }

    @Test func finishSpanWithAndWithoutResult() async throws {
        try await withHarness { h in
            let active = try await h.startedInstance()
            let first = try await h.client.createSpan(CreateSpanRequest(agentInstanceID: active.id, schemaName: "agent:llm"))
            let second = try await h.client.createSpan(CreateSpanRequest(agentInstanceID: active.id, schemaName: "agent:llm"))
            let at = Date(timeIntervalSince1970: 1_800_000_001.5)
            let withResult = try await h.client.finishSpan(
                id: first.span.id, status: .failed, resultPayload: ["error": "boom"], timestamp: at,
                idempotencyKey: IdempotencyKey.generate())
            #expect(withResult.span.id == first.span.id)
            #expect(withResult.span.status == .failed)
            #expect(withResult.span.resultPayload == ["error": "boom"])
            #expect(WireDate.microseconds(of: try #require(withResult.span.finishedAt)) == 1_800_000_001_500_000)
            #expect(withResult.control == nil)
            let bare = try await h.client.finishSpan(id: second.span.id)
            #expect(bare.span.status == .complete)
            #expect(bare.span.resultPayload == nil)
            #expect(bare.span.finishedAt != nil)
            #expect(h.received("POST", "/api/v1/agent_spans/\(first.span.id)/finish").count == 1)
        }
    }

    @Test func cancelAPendingSpan() async throws {
        // Conformance check 32's wire sequence: create `pending`, then finish `cancelled`.
        try await withHarness { h in
            let active = try await h.startedInstance()
            let pending = try await h.client.createSpan(
                CreateSpanRequest(agentInstanceID: active.id, schemaName: "agent:tool", status: .pending))
            #expect(pending.span.status == .pending)
            let cancelled = try await h.client.finishSpan(id: pending.span.id, status: .cancelled)
            #expect(cancelled.span.status == .cancelled)
        }
    }

    @Test func listSpansFiltersByTimeAndRendersSummaries() async throws {
        try await withHarness { h in
            let active = try await h.startedInstance()
            let base = 1_800_000_000.0
            var ids: [String] = []
            for offset in [0, 10, 20] {
                let model = JSONValue.string("m\(offset)")
                let span = try await h.client.createSpan(
                    CreateSpanRequest(
                        agentInstanceID: active.id, schemaName: "agent:llm", payload: ["model": model],
                        startedAt: Date(timeIntervalSince1970: base + Double(offset))))
                ids.append(span.span.id)
            }
            let all = try await h.client.listSpans(instanceID: active.id)
            #expect(all.items.map(\.id) == ids)
            #expect(all.items.allSatisfy { $0.summary == nil })
            #expect(all.pagination?.itemCount == 3)

            let window = try await h.client.listSpans(
                instanceID: active.id, startTime: Date(timeIntervalSince1970: base + 5),
                endTime: Date(timeIntervalSince1970: base + 20), includeSummaries: true)
            #expect(window.items.map(\.id) == Array(ids.dropFirst()))
            #expect(window.items.map(\.summary) == ["m10", "m20"])

            let paged = try await h.client.listSpans(instanceID: active.id, page: PageRequest(offset: 2, pageSize: 2))
            #expect(paged.items.map(\.id) == [ids[2]])
            #expect(paged.pagination == Pagination(itemCount: 3, offset: 2, pageSize: 2, itemsOnPage: 1))
            #expect(h.received("GET", "/api/v1/agent_spans").count == 3)
        }
    }

    @Test func agentsCreateGetListShow() async throws {
        try await withHarness { h in
            let created = try await h.client.createAgent(
                CreateAgentRequest(
                    name: "Support bot", description: "answers", externalIdentifier: "support-bot",
                    idempotencyKey: IdempotencyKey.generate()))
            #expect(created.type == "agent")
            #expect(created.name == "Support bot")
            #expect(created.description == "answers")
            #expect(created.externalIdentifier == "support-bot")
            #expect(created.status == .pending)
            #expect(created.availableActions?.retire == true)

            let fetched = try await h.client.agent(id: created.id)
            #expect(fetched == created)

            let list = try await h.client.listAgents(page: PageRequest(sorting: "name"))
            #expect(Set(list.items.map(\.id)) == [created.id, "agent_local"])
            #expect(list.items.map(\.name) == ["Local agent", "Support bot"])
            #expect(list.items.allSatisfy { $0.instanceCounts == nil })
            #expect(list.pagination?.itemCount == 2)
            #expect(list.sorting == Sorting(field: "name", direction: "asc"))
            let descending = try await h.client.listAgents(page: PageRequest(pageSize: 1, sorting: "-name"))
            #expect(descending.items.map(\.name) == ["Support bot"])
            #expect(descending.pagination?.nextPageOffset == 1)

            let byExternal = try await h.client.showAgent(externalIdentifier: "support-bot")
            #expect(byExternal.id == created.id)
            let byID = try await h.client.showAgent(agentID: created.id, includeCounts: true)
            #expect(byID.id == created.id)
            #expect(byID.instanceCounts == InstanceCounts())

            #expect(h.received("POST", "/api/v1/agent").count == 1)
            #expect(h.received("GET", "/api/v1/agent/\(created.id)").count == 1)
            #expect(h.received("GET", "/api/v1/agent").count == 2)
            #expect(h.received("GET", "/api/v1/agent/show").count == 2)
        }
    }

    @Test func showAgentNeedsExactlyOneIdentifierAndSendsNothingOtherwise() async throws {
        try await withHarness { h in
            let neither = await httpError { try await h.client.showAgent() }
            #expect(neither?.code == .invalidRequest)
            let both = await httpError { try await h.client.showAgent(agentID: "a", externalIdentifier: "b") }
            #expect(both?.code == .invalidRequest)
            #expect(h.log.totalCount == 0)
        }
    }

    @Test func identifiersWithReservedCharactersArePercentEncoded() async throws {
        try await withHarness { h in
            let awkward = "ext id/ü&x=1+2?#"
            let created = try await h.client.createAgent(CreateAgentRequest(name: "Awkward", externalIdentifier: awkward))
            let shown = try await h.client.showAgent(externalIdentifier: awkward)
            #expect(shown.id == created.id)
            let missing = await httpError { try await h.client.agentInstance(id: "no/such id?ü") }
            #expect(missing?.code == .notFound)
            #expect(h.log.requests(method: "GET").allSatisfy { $0.path.hasPrefix("/api/v1/") })
        }
    }

    @Test func trailingSlashInTheAPIURLIsIgnored() async throws {
        try await withHarness(apiURLSuffix: "//") { h in
            try await h.client.ping()
            #expect(h.transport.last?.url == h.server.baseURL + "/api/v1/ping")
            #expect(h.received("GET", "/api/v1/ping").count == 1)
        }
    }
}
