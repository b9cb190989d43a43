import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

@Suite(.timeLimit(.minutes(1)))
struct PingAndAuthTests {
    @Test func pingAnswersSuccessWithAJSONObject() async throws {
        try await withAPI { api in
            let reply = try await api.get("/api/v1/ping")
            reply.expectSuccess()
            #expect(reply.json?.objectValue != nil)
            let logged = api.server.requests.requests(method: "GET", pathPrefix: "/api/v1/ping")
            #expect(logged.map(\.status) == [200])
        }
    }

    @Test(arguments: [
        API.Authorization.none,
        .header("Bearer wrong-token"),
        .header("Bearer test-token-and-more"),
        .header("Bearer test-toke"),
        .header("Bearer "),
        .header("Basic dGVzdDp0ZXN0"),
        .header("test-token"),
    ])
    func missingOrWrongTokenIsUnauthorized(authorization: API.Authorization) async throws {
        try await withAPI { api in
            let reply = try await api.get("/api/v1/ping", authorization: authorization)
            reply.expectError(401, "unauthorized")
        }
    }

    @Test func theUnauthorizedAnswerNeverEchoesThePresentedToken() async throws {
        try await withAPI { api in
            let reply = try await api.get("/api/v1/ping", authorization: .header("Bearer pf_secret_value_123"))
            reply.expectError(401, "unauthorized")
            #expect(!reply.text.contains("pf_secret_value_123"))
            #expect(!reply.text.contains(api.server.token))
        }
    }

    @Test func everyRouteRequiresTheToken() async throws {
        try await withAPI { api in
            let instance = try await api.registerID()
            let before = try await api.snapshot(instances: [instance])
            let attempts: [(HTTPMethod, String)] = [
                (.POST, "/api/v1/agent_instance/register"),
                (.GET, "/api/v1/agent_instance/\(instance)"),
                (.POST, "/api/v1/agent_instance/\(instance)/start"),
                (.POST, "/api/v1/agent_instance/\(instance)/finish"),
                (.POST, "/api/v1/agent_instance/\(instance)/terminate"),
                (.GET, "/api/v1/agent_instance"),
                (.POST, "/api/v1/agent_spans"),
                (.GET, "/api/v1/agent_spans?agent_instance_id=\(instance)"),
                (.POST, "/api/v1/agent"),
                (.GET, "/api/v1/agent"),
                (.DELETE, "/api/v1/agent/agent_local"),
                (.GET, "/__prefactor/faults"),
                (.DELETE, "/__prefactor/faults"),
            ]
            for (method, path) in attempts {
                let reply = try await api.send(method, path, body: .text("{}"), authorization: .header("Bearer nope"))
                reply.expectError(401, "unauthorized")
            }
            #expect(try await api.snapshot(instances: [instance]) == before)
        }
    }

    @Test(arguments: [
        (HTTPMethod.GET, "/api/v1/nothing-here"),
        (.GET, "/api/v2/ping"),
        (.POST, "/api/v1/agent_instance/x/explode"),
        (.GET, "/"),
        (.GET, "/api/v1/agent_spans/sp_1/finish/more"),
    ])
    func unknownRoutesAnswerAJSONNotFoundEnvelope(method: HTTPMethod, path: String) async throws {
        try await withAPI { api in
            let reply = try await api.send(method, path, body: method == .POST ? .text("{}") : nil)
            reply.expectError(404, "not_found")
        }
    }

    @Test func aKnownPathWithTheWrongMethodAnswersAJSONError() async throws {
        try await withAPI { api in
            let reply = try await api.send(.DELETE, "/api/v1/ping")
            #expect(reply.status == 404 || reply.status == 405, "\(reply)")
            reply.expectError(reply.status)
        }
    }
}
