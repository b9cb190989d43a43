import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// `APIClient.executeBulk` against the real emulator (spec §3.9, conformance check 37).
@Suite(.timeLimit(.minutes(1)))
struct BulkEndpointTests {
    @Test func sendsThePythonSDKBodyAndDecodesEachOutput() async throws {
        try await withHarness { h in
            let request = BulkRequest(items: [
                .registerAgentInstance(Harness.registerRequest(), idempotencyKey: "register-key-1"),
                .createSpan(
                    CreateSpanRequest(agentInstanceID: "ai_later", schemaName: "agent:llm", payload: ["model": "gpt-4"]),
                    idempotencyKey: "span-key-1"),
                .createAgent(CreateAgentRequest(name: "Bulk", id: "agent_bulk"), idempotencyKey: "agent-key-1"),
                BulkItem(type: "agents/list", idempotencyKey: "list-key-1", parameters: ["sorting": "name"]),
                BulkItem(type: "agents/show", idempotencyKey: "show-key-1", parameters: ["agent_id": "agent_bulk"]),
            ])
            var register = try #require(Harness.registerRequest().jsonValue.objectValue)
            register["_type"] = "agent_instances/register"
            register["idempotency_key"] = "register-key-1"
            _ = try await h.client.registerAgentInstance(RegisterAgentInstanceRequest(id: "ai_later"))
            let response = try await h.client.executeBulk(request)

            let sent = try #require(h.transport.last)
            #expect(sent.method == "POST")
            #expect(sent.path == "/api/v1/bulk")
            #expect(
                sent.json == [
                    "items": [
                        .object(register),
                        [
                            "_type": "agent_spans/create", "idempotency_key": "span-key-1", "agent_instance_id": "ai_later",
                            "schema_name": "agent:llm", "status": "active", "payload": ["model": "gpt-4"],
                        ],
                        ["_type": "agents/create", "idempotency_key": "agent-key-1", "name": "Bulk", "id": "agent_bulk"],
                        ["_type": "agents/list", "idempotency_key": "list-key-1", "sorting": "name"],
                        ["_type": "agents/show", "idempotency_key": "show-key-1", "agent_id": "agent_bulk"],
                    ]
                ])

            #expect(response.status == "success")
            #expect(response.failure == nil)
            #expect(Set(response.outputs.keys) == ["register-key-1", "span-key-1", "agent-key-1", "list-key-1", "show-key-1"])
            let instance = try #require(response.outputs["register-key-1"]).details(as: AgentInstance.self)
            #expect(instance.status == .pending)
            let span = try #require(response.outputs["span-key-1"]).details(as: AgentSpan.self)
            #expect(span.agentInstanceID == "ai_later")
            #expect(span.status == .active)
            #expect(try #require(response.outputs["agent-key-1"]).details(as: Agent.self).id == "agent_bulk")
            #expect(response.outputs["list-key-1"]?.summaries?.count == 2)
            #expect(try #require(response.outputs["show-key-1"]).details(as: Agent.self).name == "Bulk")
            #expect(h.received("POST", "/api/v1/bulk").count == 1)
        }
    }

    @Test func theFirstFailingItemEndsTheRequestAndLaterItemsHaveNoOutput() async throws {
        try await withHarness { h in
            let response = try await h.client.executeBulk(
                BulkRequest(items: [
                    .registerAgentInstance(RegisterAgentInstanceRequest(id: "ai_first"), idempotencyKey: "register-key-1"),
                    .createSpan(
                        CreateSpanRequest(agentInstanceID: "ai_missing", schemaName: "agent:llm"), idempotencyKey: "span-key-1"),
                    .registerAgentInstance(RegisterAgentInstanceRequest(id: "ai_after"), idempotencyKey: "register-key-2"),
                ]))
            #expect(Set(response.outputs.keys) == ["register-key-1", "span-key-1"])
            let failure = try #require(response.failure)
            #expect(failure.key == "span-key-1")
            #expect(failure.output.status == .error)
            #expect(failure.output.code == "not_found")
            #expect(failure.output.message?.contains("ai_missing") == true)
            #expect(failure.output.details == nil)
            #expect(try await h.client.agentInstance(id: "ai_first").id == "ai_first")
            #expect(await httpError { try await h.client.agentInstance(id: "ai_after") }?.code == .notFound)
        }
    }

    @Test func anItemRejectedForItsParametersCarriesFieldErrors() async throws {
        try await withHarness { h in
            let response = try await h.client.executeBulk(
                BulkRequest(items: [BulkItem(type: "agents/create", idempotencyKey: "agent-key-1", parameters: ["name": 7])]))
            let output = try #require(response.outputs["agent-key-1"])
            #expect(output.status == .error)
            #expect(output.code == "validation_error")
            #expect(output.errors?["name"] != nil)
        }
    }

    @Test func aRepeatedRequestReplaysEveryItem() async throws {
        try await withHarness { h in
            let request = BulkRequest(items: [
                .registerAgentInstance(RegisterAgentInstanceRequest(), idempotencyKey: "register-key-1"),
                .createAgent(CreateAgentRequest(name: "Once"), idempotencyKey: "agent-key-1"),
            ])
            let first = try await h.client.executeBulk(request)
            let second = try await h.client.executeBulk(request)
            #expect(second == first)
            #expect(try await h.client.listAgentInstances().items.count == 1)
            #expect(try await h.client.listAgents().items.filter { $0.name == "Once" }.count == 1)
        }
    }

    @Test(arguments: [
        ("no items", [BulkItem]()),
        ("a key of 7 characters", [BulkItem(type: "agents/list", idempotencyKey: "1234567")]),
        ("a key of 65 characters", [BulkItem(type: "agents/list", idempotencyKey: String(repeating: "k", count: 65))]),
        (
            "a repeated key",
            [
                BulkItem(type: "agents/list", idempotencyKey: "same-key-1"),
                BulkItem(type: "agents/show", idempotencyKey: "same-key-1"),
            ]
        ),
    ])
    func invalidRequestsAreRejectedBeforeSending(name: String, items: [BulkItem]) async throws {
        try await withHarness { h in
            let error = await httpError { try await h.client.executeBulk(BulkRequest(items: items)) }
            #expect(error?.code == .invalidRequest, "\(name)")
            #expect(h.transport.requests.isEmpty, "\(name)")
        }
    }

    @Test func keysOf8And64CharactersAreSent() async throws {
        try await withHarness { h in
            let keys = ["12345678", String(repeating: "k", count: 64)]
            let response = try await h.client.executeBulk(
                BulkRequest(items: keys.map { BulkItem(type: "agents/list", idempotencyKey: $0) }))
            #expect(Set(response.outputs.keys) == Set(keys))
        }
    }

    @Test func theServersRejectionIsAValidationError() async throws {
        // Only a client that skips its own checks can send this; the server's 422 must still map cleanly.
        try await withHarness { h in
            let error = await httpError {
                try await h.client.executeBulk(BulkRequest(items: [BulkItem(type: "", idempotencyKey: "list-key-1")]))
            }
            #expect(error?.code == .validation)
            #expect(error?.status == 422)
            #expect(error?.serverCode == "validation_errors")
            #expect(error?.fieldErrors["items[0]._type"] != nil)
        }
    }

    @Test(arguments: [
        #"{"status":"success","outputs":{"k":{"status":"done"}}}"#,
        #"{"status":"success","outputs":{"k":{"details":{}}}}"#,
        #"{"status":"success","outputs":[]}"#,
        #"{"status":"success"}"#,
    ])
    func outputsThatBreakTheContractAreContractErrors(body: String) async throws {
        let transport = ScriptedTransport(status: 200, body: body)
        try await withScriptedClient(transport) { client in
            let error = await httpError {
                try await client.executeBulk(BulkRequest(items: [BulkItem(type: "agents/list", idempotencyKey: "k-12345678")]))
            }
            #expect(error?.code == .responseContract)
        }
    }
}
