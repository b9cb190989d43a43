import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Each error kind of spec §5.2, produced by the real server (or, for malformed responses, by a transport double).
@Suite(.timeLimit(.minutes(1)))
struct ErrorTests {
    @Test func wrongTokenIsAnAuthError() async throws {
        // Conformance check 2.
        try await withHarness(token: "wrong-token") { h in
            let error = try #require(await httpError { try await h.client.ping() })
            #expect(error.code == .auth)
            #expect(error.status == 401)
            #expect(error.serverCode == "unauthorized")
            #expect(error.operation == "ping")
            #expect(error.attempts == 1)
            #expect(error.isTransient == false)
            #expect(error.isPermanent)
            #expect(h.log.totalCount == 1, "401 is not retried")
        }
    }

    @Test func unknownInstanceIsNotFound() async throws {
        // Conformance check 24 (404 half).
        try await withHarness { h in
            let error = try #require(await httpError { try await h.client.agentInstance(id: "ai_missing") })
            #expect(error.code == .notFound)
            #expect(error.status == 404)
            #expect(error.serverCode == "not_found")
            #expect(error.message.contains("ai_missing"))
            #expect(error.operation == "agent_instances.get")
            #expect(!error.isTransient)
            #expect(h.log.totalCount == 1)
        }
    }

    @Test func validationErrorCarriesFieldErrors() async throws {
        // Conformance check 24 (422 half).
        try await withHarness { h in
            let a = try await h.startedInstance()
            let error = try #require(
                await httpError {
                    try await h.client.createSpan(
                        CreateSpanRequest(agentInstanceID: a.id, schemaName: "agent:llm", parentSpanID: "sp_missing"))
                })
            #expect(error.code == .validation)
            #expect(error.status == 422)
            #expect(error.serverCode == "validation_error")
            let messages = try #require(error.fieldErrors["parent_span_id"]?.arrayValue)
            #expect(messages.count == 1)
            #expect(messages.first?.stringValue?.contains("sp_missing") == true)
            #expect(!error.isTransient)
            #expect(h.received("POST", "/api/v1/agent_spans").count == 1)

            let quality = try #require(
                await httpError { try await h.client.recordQuality(instanceID: a.id, name: "unknown", payload: [:]) })
            #expect(quality.code == .validation)
            #expect(quality.fieldErrors.keys.sorted() == ["name"])
        }
    }

    @Test func finishingASpanTwiceIsAConflict() async throws {
        // Conformance check 19.
        try await withHarness { h in
            let a = try await h.startedInstance()
            let span = try await h.client.createSpan(CreateSpanRequest(agentInstanceID: a.id, schemaName: "agent:llm"))
            _ = try await h.client.finishSpan(id: span.span.id, status: .complete)
            let error = try #require(await httpError { try await h.client.finishSpan(id: span.span.id, status: .complete) })
            #expect(error.code == .conflict)
            #expect(error.status == 409)
            #expect(error.serverCode == "invalid_action")
            #expect(error.operation == "agent_spans.finish")
            #expect(!error.isTransient)
            #expect(h.received("POST", "/api/v1/agent_spans/\(span.span.id)/finish").count == 2, "409 is not retried")
        }
    }

    @Test func finishingAnInstanceTwiceIsAConflict() async throws {
        // Conformance check 11.
        try await withHarness { h in
            let a = try await h.startedInstance()
            _ = try await h.client.finishAgentInstance(id: a.id, status: .complete)
            let error = try #require(await httpError { try await h.client.finishAgentInstance(id: a.id, status: .failed) })
            #expect(error.code == .conflict)
            #expect(error.status == 409)
            #expect(error.serverCode == "invalid_action")
            #expect(h.received("POST", "/api/v1/agent_instance/\(a.id)/finish").count == 2)
        }
    }

    @Test func repeatingAKeyReplaysTheOriginalResultInsteadOfConflicting() async throws {
        // Spec §1.5: a repeated key returns the original result.
        try await withHarness { h in
            let a = try await h.startedInstance()
            let first = try await h.client.finishAgentInstance(id: a.id, status: .failed, idempotencyKey: "finish-once")
            let again = try await h.client.finishAgentInstance(id: a.id, status: .failed, idempotencyKey: "finish-once")
            #expect(again == first)
        }
    }

    @Test func successWithHTMLIsAContractErrorAndIsNotRetried() async throws {
        // Conformance check 25 (second half).
        let transport = ScriptedTransport(status: 200, body: "<html><body>Welcome</body></html>")
        try await withScriptedClient(transport) { client in
            let error = try #require(await httpError { try await client.ping() })
            #expect(error.code == .responseContract)
            #expect(error.status == 200)
            #expect(error.message.contains("<html>"))
            #expect(error.isPermanent)
            #expect(error.attempts == 1)
            #expect(transport.requests.count == 1)
        }
    }

    @Test func unavailableWithHTMLIsRetriedThenExhaustedWithAContractLastError() async throws {
        // Conformance check 25 (first half).
        let transport = ScriptedTransport(status: 503, body: "<html>Service Unavailable</html>")
        try await withScriptedClient(transport, retryPolicy: .fast(maxRetries: 2)) { client in
            let error = try #require(await httpError { try await client.ping() })
            #expect(error.code == .retriesExhausted)
            #expect(error.attempts == 3)
            #expect(error.isTransient)
            let last = try #require(error.lastError)
            #expect(last.code == .responseContract)
            #expect(last.status == 503)
            #expect(last.message.contains("Service Unavailable"))
            #expect(transport.requests.count == 3)
        }
    }

    @Test(arguments: [
        #"[1, 2, 3]"#, #""just a string""#, "", "null", "{\"status\": \"success\"", "42",
    ])
    func successBodiesThatAreNotJSONObjectsAreContractErrors(body: String) async throws {
        let transport = ScriptedTransport(status: 200, body: body)
        try await withScriptedClient(transport) { client in
            let error = try #require(await httpError { try await client.ping() })
            #expect(error.code == .responseContract)
            #expect(error.status == 200)
            #expect(transport.requests.count == 1)
        }
    }

    @Test func registerResponseWithOnlyAnIDIsAContractError() async throws {
        // Conformance check 8.
        let transport = ScriptedTransport(status: 200, body: #"{"status":"success","details":{"id":"ai_1"}}"#)
        try await withScriptedClient(transport) { client in
            let error = try #require(await httpError { try await client.registerAgentInstance(RegisterAgentInstanceRequest()) })
            #expect(error.code == .responseContract)
            #expect(error.message.contains("Invalid response payload"))
            #expect(error.operation == "agent_instances.register")
            #expect(error.isPermanent)
        }
    }

    @Test(arguments: [
        #"{"details":{"type":"agent","id":"a","name":"n","status":"active"}}"#,
        #"{"status":"success"}"#,
        #"{"status":"success","details":null}"#,
        #"{"status":"success","details":{"type":"agent","id":"a","name":"n","status":"archived"}}"#,
        #"{"status":"success","details":{"type":"agent_span","id":"a","name":"n","status":"active"}}"#,
    ])
    func malformedSingleEnvelopesAreContractErrors(body: String) async throws {
        let transport = ScriptedTransport(status: 200, body: body)
        try await withScriptedClient(transport) { client in
            let error = try #require(await httpError { try await client.agent(id: "a") })
            #expect(error.code == .responseContract)
        }
    }

    @Test(arguments: [
        #"{"summaries":[],"pagination":null,"sorting":null}"#,
        #"{"status":"success","pagination":null,"sorting":null}"#,
        #"{"status":"success","summaries":[],"sorting":null}"#,
        #"{"status":"success","summaries":[],"pagination":null}"#,
        #"{"status":"success","summaries":[{"id":"a"}],"pagination":null,"sorting":null}"#,
        #"{"status":"success","summaries":[],"pagination":{"item_count":0},"sorting":null}"#,
    ])
    func malformedListEnvelopesAreContractErrors(body: String) async throws {
        // Spec §1.4: all four keys are required; pagination and sorting may be null.
        let transport = ScriptedTransport(status: 200, body: body)
        try await withScriptedClient(transport) { client in
            let error = try #require(await httpError { try await client.listAgents() })
            #expect(error.code == .responseContract)
        }
    }

    @Test func listWithNullPaginationAndSortingIsAccepted() async throws {
        let transport = ScriptedTransport(
            status: 200, body: #"{"status":"success","summaries":[],"pagination":null,"sorting":null}"#)
        try await withScriptedClient(transport) { client in
            let page = try await client.listAgents()
            #expect(page.items.isEmpty)
            #expect(page.pagination == nil)
            #expect(page.sorting == nil)
        }
    }

    @Test func errorBodyWithoutCodeOrMessageGetsPythonDefaults() async throws {
        // Spec §5.1: code "unknown", message "HTTP <status>", errors {}.
        let transport = ScriptedTransport(status: 404, body: "{}")
        try await withScriptedClient(transport) { client in
            let error = try #require(await httpError { try await client.agent(id: "a") })
            #expect(error.code == .notFound)
            #expect(error.serverCode == "unknown")
            #expect(error.message == "HTTP 404")
            #expect(error.fieldErrors.isEmpty)
        }
    }

    @Test func nonJSONErrorBodyIsAContractErrorWithItsStatus() async throws {
        let transport = ScriptedTransport(status: 404, body: "<html>Not Found</html>")
        try await withScriptedClient(transport) { client in
            let error = try #require(await httpError { try await client.agent(id: "a") })
            #expect(error.code == .responseContract)
            #expect(error.status == 404)
            #expect(error.isPermanent)
            #expect(transport.requests.count == 1)
        }
    }

    @Test func contractErrorSnippetIsAtMostTwoHundredCharacters() async throws {
        let transport = ScriptedTransport(status: 200, body: String(repeating: "x", count: 5000))
        try await withScriptedClient(transport) { client in
            let error = try #require(await httpError { try await client.ping() })
            #expect(error.code == .responseContract)
            #expect(error.message.count < 300)
        }
    }

    @Test func closedPortIsATransportError() async throws {
        let (closedPort, holder) = try boundClosedPort()
        defer { close(holder) }
        let client = try APIClient(
            configuration: .init(
                apiURL: "http://127.0.0.1:\(closedPort)", apiToken: "t", requestTimeout: .seconds(2),
                retryPolicy: .fast(maxRetries: 0)))
        let error = await httpError { try await client.ping() }
        try await client.shutdown()
        let failure = try #require(error)
        #expect(failure.code == .transport)
        #expect(failure.status == nil)
        #expect(failure.isTransient)
        #expect(failure.operation == "ping")
    }

    @Test func closedPortFailsAtOnceNotAtTheRequestTimeout() async throws {
        // A refused connection is a network error (spec §5.2/§5.3) that the Python SDK sees immediately; it must not
        // hang for the whole per-attempt request timeout (30 s by default, times four attempts).
        let (closedPort, holder) = try boundClosedPort()
        defer { close(holder) }
        let client = try APIClient(
            configuration: .init(
                apiURL: "http://127.0.0.1:\(closedPort)", apiToken: "t", requestTimeout: .seconds(8),
                retryPolicy: .fast(maxRetries: 0)))
        let clock = ContinuousClock()
        let start = clock.now
        let error = await httpError { try await client.ping() }
        let elapsed = clock.now - start
        try await client.shutdown()
        #expect(error?.code == .transport)
        #expect(elapsed < .seconds(4), "a refused connection took \(elapsed) to surface")
    }

    @Test func absurdRequestTimeoutsAreRejectedByTheConfiguration() {
        // 10^10 s (as PREFACTOR_REQUEST_TIMEOUT=10000000000 would give) is refused with a clear error, not accepted.
        let configuration = APIClient.Configuration(
            apiURL: "http://127.0.0.1:1", apiToken: "t", requestTimeout: .seconds(10_000_000_000))
        #expect(throws: PrefactorHTTPError.self) { try configuration.validate() }
        #expect((try? APIClient(configuration: configuration)) == nil)
    }

    @Test func theTransportDoesNotOverflowOnAHugeTimeout() async {
        // The transport is public and takes any Duration: converting 10^10 s to nanoseconds must not trap.
        await #expect(processExitsWith: .success) {
            try await withTestServer { server in
                let transport = AsyncHTTPClientTransport()
                let response = try await transport.send(
                    HTTPRequestSpec(
                        method: "GET", url: server.baseURL + "/api/v1/ping",
                        headers: [("Authorization", "Bearer \(server.token)")], body: nil),
                    timeout: .seconds(10_000_000_000))
                guard response.status == 200 else { exit(1) }
            }
        }
    }

    @Test func responseLargerThanTheLimitIsAContractError() async throws {
        try await withTestServer { server in
            var configuration = APIClient.Configuration(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .fast())
            configuration.maxResponseBytes = 64
            let client = try APIClient(configuration: configuration)
            let error = await httpError { try await client.listAgents() }
            configuration.maxResponseBytes = 1 << 20
            let roomy = try APIClient(configuration: configuration)
            let page = try await roomy.listAgents()
            try await client.shutdown()
            try await roomy.shutdown()
            #expect(error?.code == .responseContract)
            #expect(error?.isPermanent == true)
            #expect(server.requests.totalCount == 2, "an oversized body is not retried")
            #expect(page.items.count == 1)
        }
    }

    @Test func clientWithItsOwnConnectTimeoutWorksAndShutsDown() async throws {
        try await withTestServer { server in
            let client = try APIClient(
                configuration: .init(apiURL: server.baseURL, apiToken: server.token, connectTimeout: .seconds(3)))
            let response = try await client.ping()
            try await client.shutdown()
            #expect(response["status"] == "success")
        }
    }

    @Test func slowServerIsATimeout() async throws {
        try await withHarness(retryPolicy: .fast(maxRetries: 0), requestTimeout: .milliseconds(200)) { h in
            h.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", latencyMilliseconds: 1500))
            let error = try #require(await httpError { try await h.client.ping() })
            #expect(error.code == .timeout)
            #expect(error.status == nil)
            #expect(error.isTransient)
            #expect(error.attempts == 1)
        }
    }

    @Test func persistentFailureExhaustsRetries() async throws {
        try await withHarness(retryPolicy: .fast(maxRetries: 2)) { h in
            h.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", status: 503))
            let error = try #require(await httpError { try await h.client.ping() })
            #expect(error.code == .retriesExhausted)
            #expect(error.attempts == 3)
            #expect(error.status == 503)
            #expect(error.isTransient)
            let last = try #require(error.lastError)
            #expect(last.code == .api)
            #expect(last.status == 503)
            #expect(last.serverCode == "injected_fault")
            #expect(last.attempts == 3)
            #expect(h.received("GET", "/api/v1/ping").count == 3)
            #expect(error.description.contains("last error"))
        }
    }

    @Test(arguments: [
        (400, PrefactorHTTPError.Code.validation), (401, .auth), (403, .auth), (404, .notFound), (409, .conflict),
        (422, .validation), (405, .api), (410, .api), (413, .api), (418, .api),
    ])
    func statusesMapToCodes(status: Int, code: PrefactorHTTPError.Code) async throws {
        let transport = ScriptedTransport(
            status: status, body: #"{"status":"error","code":"some_code","message":"m","errors":{"f":["bad"]}}"#)
        try await withScriptedClient(transport) { client in
            let error = try #require(await httpError { try await client.ping() })
            #expect(error.code == code)
            #expect(error.status == status)
            #expect(error.serverCode == "some_code")
            #expect(error.message == "m")
            #expect(error.fieldErrors == ["f": ["bad"]])
            #expect(error.isPermanent)
            #expect(transport.requests.count == 1, "\(status) is not retried")
        }
    }

    @Test(arguments: [429, 500, 502, 503, 504, 599])
    func transientStatusesAreTransient(status: Int) {
        let error = PrefactorHTTPError(code: .api, message: "m", status: status)
        #expect(error.isTransient)
        let contract = PrefactorHTTPError(code: .responseContract, message: "m", status: status)
        #expect(contract.isTransient)
    }

    @Test func transienceFollowsSpecSection5_3() {
        #expect(PrefactorHTTPError(code: .transport, message: "m").isTransient)
        #expect(PrefactorHTTPError(code: .timeout, message: "m").isTransient)
        #expect(!PrefactorHTTPError(code: .responseContract, message: "m", status: 200).isTransient)
        #expect(!PrefactorHTTPError(code: .invalidRequest, message: "m").isTransient)
        #expect(!PrefactorHTTPError(code: .configuration, message: "m").isTransient)
        #expect(!PrefactorHTTPError(code: .api, message: "m", status: 418).isTransient)
        let transientLast = PrefactorHTTPError(code: .api, message: "m", status: 503)
        let permanentLast = PrefactorHTTPError(code: .notFound, message: "m", status: 404)
        #expect(PrefactorHTTPError(code: .retriesExhausted, message: "m", lastError: transientLast).isTransient)
        #expect(!PrefactorHTTPError(code: .retriesExhausted, message: "m", lastError: permanentLast).isTransient)
        #expect(!PrefactorHTTPError(code: .retriesExhausted, message: "m").isTransient)
    }

    @Test func codesDescribeThemselvesAndDescriptionsNameTheFailure() {
        #expect(PrefactorHTTPError.Code.notFound.description == "notFound")
        #expect(PrefactorHTTPError.Code.retriesExhausted.description == "retriesExhausted")
        let error = PrefactorHTTPError(
            code: .validation, message: "Validation failed", status: 422, serverCode: "validation_error",
            fieldErrors: ["agent_id": ["Required field"]], operation: "agent_instances.register")
        #expect(
            error.description
                == #"PrefactorHTTPError.validation (agent_instances.register) HTTP 422 [validation_error]: Validation failed {"agent_id":["Required field"]}"#
        )
        #expect(error.shortDescription == "PrefactorHTTPError.validation")
    }
}

/// A loopback port that refuses connections and that no other test can take while the returned socket is open: bound,
/// never listening. (A port freed by a stopped server may be handed to a server of a test running in parallel.)
func boundClosedPort() throws -> (port: Int, socket: Int32) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    guard bound == 0 else {
        close(descriptor)
        throw POSIXError(.EADDRINUSE)
    }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else {
        close(descriptor)
        throw POSIXError(.EINVAL)
    }
    return (Int(UInt16(bigEndian: address.sin_port)), descriptor)
}
