import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// What the client puts on the wire: headers on every request, and each endpoint's body shape (spec §1.2, §3).
@Suite(.timeLimit(.minutes(1)))
struct RequestFormatTests {
    /// Drives one of every call.
    static func exerciseEveryEndpoint(_ h: Harness) async throws {
        try await h.client.ping()
        let registered = try await h.client.registerAgentInstance(Harness.registerRequest())
        _ = try await h.client.startAgentInstance(id: registered.id)
        let span = try await h.client.createSpan(CreateSpanRequest(agentInstanceID: registered.id, schemaName: "agent:llm"))
        _ = try await h.client.finishSpan(id: span.span.id)
        _ = try await h.client.listSpans(instanceID: registered.id)
        _ = try await h.client.recordQuality(instanceID: registered.id, name: "accuracy", payload: ["score": 1])
        _ = try await h.client.agentInstance(id: registered.id)
        _ = try await h.client.listAgentInstances()
        _ = try await h.client.finishAgentInstance(id: registered.id)
        let other = try await h.client.registerAgentInstance(RegisterAgentInstanceRequest())
        _ = try await h.client.terminateAgentInstance(id: other.id, reason: "r")
        let agent = try await h.client.createAgent(CreateAgentRequest(name: "n"))
        _ = try await h.client.agent(id: agent.id)
        _ = try await h.client.listAgents()
        _ = try await h.client.showAgent(agentID: agent.id)
        _ = try await h.client.executeBulk(BulkRequest(items: [BulkItem(type: "agents/list")]))
    }

    @Test func everyRequestCarriesTheRequiredHeaders() async throws {
        // Conformance check 5 and spec §1.2 (the Python client's header set).
        try await withHarness { h in
            try await Self.exerciseEveryEndpoint(h)
            let requests = h.transport.requests
            #expect(requests.count == 17)
            #expect(h.log.totalCount == 17)
            for request in requests {
                #expect(request.header("Authorization") == "Bearer \(h.server.token)", "\(request.method) \(request.path)")
                #expect(request.header("X-Prefactor-SDK") == "prefactor-swift@\(APIClient.sdkVersion)")
                #expect(request.header("Content-Type") == "application/json")
                #expect(request.header("Accept") == "application/json")
                #expect(request.headers("Idempotency-Key").isEmpty, "no endpoint uses the header (spec §1.2)")
                if request.method == "GET" {
                    #expect(request.spec.body == nil, "GET carries no body: \(request.path)")
                } else {
                    #expect(request.json?.objectValue != nil, "POST bodies are JSON objects: \(request.path)")
                }
            }
            let routes = Set(requests.map { "\($0.method) \($0.path)" })
            #expect(routes.contains("GET /api/v1/ping"))
            #expect(routes.contains("POST /api/v1/agent_instance/register"))
            #expect(routes.contains("POST /api/v1/agent_spans"))
            #expect(routes.contains("GET /api/v1/agent/show"))
            #expect(routes.contains("POST /api/v1/bulk"))
        }
    }

    @Test func registerBodyIsFlatWithUpdateCurrentVersion() async throws {
        // Conformance check 7.
        try await withHarness { h in
            _ = try await h.client.registerAgentInstance(RegisterAgentInstanceRequest(agentVersion: ["name": "a"]))
            let body = try #require(h.transport.last?.json)
            #expect(body == ["agent_version": ["name": "a"], "agent_schema_version": [:], "update_current_version": true])
        }
    }

    @Test func startWithoutTimestampSendsNullAndWithTimestampSendsPythonStyle() async throws {
        try await withHarness { h in
            let first = try await h.client.registerAgentInstance(RegisterAgentInstanceRequest())
            _ = try await h.client.startAgentInstance(id: first.id)
            #expect(h.transport.last?.json == ["timestamp": nil])
            let second = try await h.client.registerAgentInstance(RegisterAgentInstanceRequest())
            _ = try await h.client.startAgentInstance(
                id: second.id, timestamp: Date(timeIntervalSince1970: 1_735_787_045.123456), idempotencyKey: "start-key")
            #expect(h.transport.last?.json == ["timestamp": "2025-01-02T03:04:05.123456+00:00", "idempotency_key": "start-key"])
        }
    }

    @Test func instanceFinishWithoutStatusSendsNoStatus() async throws {
        // Conformance check 10.
        try await withHarness { h in
            let a = try await h.startedInstance()
            _ = try await h.client.finishAgentInstance(id: a.id)
            #expect(h.transport.last?.json == [:])
            let b = try await h.startedInstance()
            _ = try await h.client.finishAgentInstance(id: b.id, status: .failed, idempotencyKey: "k1")
            #expect(h.transport.last?.json == ["status": "failed", "idempotency_key": "k1"])
        }
    }

    @Test func spanCreateIsWrappedInDetailsWithTheKeyInside() async throws {
        // Conformance check 16 and spec §1.5 (Python places the key inside `details`).
        try await withHarness { h in
            let a = try await h.startedInstance()
            _ = try await h.client.createSpan(
                CreateSpanRequest(
                    agentInstanceID: a.id, schemaName: "agent:llm", status: .complete, payload: ["p": 1],
                    resultPayload: ["r": 2], idempotencyKey: "span-key"))
            #expect(
                h.transport.last?.json == [
                    "details": [
                        "agent_instance_id": .string(a.id), "schema_name": "agent:llm", "status": "complete",
                        "payload": ["p": 1], "result_payload": ["r": 2], "idempotency_key": "span-key",
                    ]
                ])
        }
    }

    @Test func spanFinishOmitsAbsentFieldsAndEmptyResults() async throws {
        // Conformance check 18.
        try await withHarness { h in
            let a = try await h.startedInstance()
            let first = try await h.client.createSpan(CreateSpanRequest(agentInstanceID: a.id, schemaName: "agent:llm"))
            _ = try await h.client.finishSpan(id: first.span.id, resultPayload: [:])
            #expect(h.transport.last?.json == [:])
            let second = try await h.client.createSpan(CreateSpanRequest(agentInstanceID: a.id, schemaName: "agent:llm"))
            _ = try await h.client.finishSpan(
                id: second.span.id, status: .complete, resultPayload: ["n": 1],
                timestamp: Date(timeIntervalSince1970: 1_800_000_000), idempotencyKey: "fk")
            #expect(
                h.transport.last?.json == [
                    "status": "complete", "result_payload": ["n": 1], "timestamp": "2027-01-15T08:00:00.000000+00:00",
                    "idempotency_key": "fk",
                ])
        }
    }

    @Test func recordQualityAlwaysSendsPayload() async throws {
        // Conformance check 14.
        try await withHarness { h in
            let a = try await h.startedInstance()
            _ = try await h.client.recordQuality(instanceID: a.id, name: "accuracy", payload: nil)
            #expect(h.transport.last?.json == ["name": "accuracy", "payload": nil])
        }
    }

    @Test func terminateAndAgentCreateBodies() async throws {
        try await withHarness { h in
            let a = try await h.startedInstance()
            _ = try await h.client.terminateAgentInstance(id: a.id, reason: "stop now")
            #expect(h.transport.last?.json == ["reason": "stop now"])
            _ = try await h.client.createAgent(CreateAgentRequest(name: "n", idempotencyKey: "ak"))
            #expect(h.transport.last?.json == ["details": ["name": "n"], "idempotency_key": "ak"])
        }
    }

    @Test func listQueriesCarryFiltersAndPagination() async throws {
        // Conformance check 38.
        try await withHarness { h in
            let a = try await h.startedInstance()
            _ = try await h.client.listSpans(
                instanceID: a.id, startTime: Date(timeIntervalSince1970: 1_735_787_045),
                endTime: Date(timeIntervalSince1970: 1_735_787_046.5), includeSummaries: true,
                page: PageRequest(offset: 0, pageSize: 5, sorting: "-started_at"))
            let spans = try #require(h.transport.last)
            #expect(spans.path == "/api/v1/agent_spans")
            let items = Dictionary(spans.queryItems, uniquingKeysWith: { first, _ in first })
            #expect(items["agent_instance_id"] == a.id)
            #expect(items["start_time"] == "2025-01-02T03:04:05.000000+00:00")
            #expect(items["end_time"] == "2025-01-02T03:04:06.500000+00:00")
            #expect(items["include_summaries"] == "true")
            #expect(items["pagination[offset]"] == "0")
            #expect(items["pagination[page_size]"] == "5")
            #expect(items["sorting"] == "-started_at")
            #expect(spans.query?.contains("+") == false, "a literal + would read as a space")

            _ = try await h.client.listAgentInstances(agentID: "agent_local")
            #expect(h.transport.last?.query == "agent_id=agent_local")
            _ = try await h.client.listAgents(riskProfileID: "rp", teamID: "t", ownerPersonID: "o")
            let agents = Dictionary(try #require(h.transport.last).queryItems, uniquingKeysWith: { first, _ in first })
            #expect(agents == ["risk_profile_id": "rp", "team_id": "t", "owner_person_id": "o"])
            _ = await httpError {
                try await h.client.showAgent(externalIdentifier: "e", environmentID: "env_local", includeCounts: true)
            }
            let show = Dictionary(try #require(h.transport.last).queryItems, uniquingKeysWith: { first, _ in first })
            #expect(show == ["external_identifier": "e", "environment_id": "env_local", "include_counts": "true"])
        }
    }
}

/// `X-Prefactor-SDK` composition (spec §8.8, conformance check 6).
struct SDKHeaderTests {
    static let own = "prefactor-swift@\(APIClient.sdkVersion)"

    @Test(arguments: [
        ([String](), own),
        (["prefactor-langchain@0.2.5"], "prefactor-langchain@0.2.5 \(own)"),
        ([" prefactor-langchain@0.2.5 "], "prefactor-langchain@0.2.5 \(own)"),
        (["a@1", "b@2"], "a@1 b@2 \(own)"),
        (["a@1", "a@1", "b@2", "a@1"], "a@1 b@2 \(own)"),
        (["a@1", " a@1"], "a@1 \(own)"),
        ([own], own),
        (["a@1", own], "a@1 \(own)"),
        (["", "  ", "a@1"], "a@1 \(own)"),
    ])
    func composition(entries: [String], expected: String) {
        let configuration = APIClient.Configuration(apiURL: "http://127.0.0.1:1", apiToken: "t", sdkEntries: entries)
        #expect(configuration.sdkHeader == expected)
    }

    @Test func sdkVersionIsSemantic() {
        let parts = APIClient.sdkVersion.split(separator: ".")
        #expect(parts.count == 3)
        #expect(parts.allSatisfy { Int($0) != nil })
    }

    @Test(.timeLimit(.minutes(1)))
    func adapterEntriesGoFirstOnTheWire() async throws {
        try await withHarness(sdkEntries: ["prefactor-langchain@0.2.5", "prefactor-langchain@0.2.5"]) { h in
            try await h.client.ping()
            #expect(h.transport.last?.header("X-Prefactor-SDK") == "prefactor-langchain@0.2.5 \(Self.own)")
        }
    }
}
