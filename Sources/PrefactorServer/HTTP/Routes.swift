import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PrefactorWire

extension PrefactorAPIServer {
    func buildRouter() -> Router<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.middlewares.add(ErrorEnvelopeMiddleware(log: requests, logger: configuration.logger))
        router.middlewares.add(FaultMiddleware(faults: faults))
        router.middlewares.add(AuthMiddleware(token: configuration.token))

        let store = self.store
        let limit = configuration.maxBodyBytes
        let api = router.group("api/v1")

        api.get("ping") { _, _ in
            var details = JSONObjectText()
            details.string("message", "pong")
            details.string("server", "prefactor-swift")
            return Self.send(Store.success(details.result))
        }

        // Agent instances
        api.post("agent_instance/register") { request, _ in
            let body = try await Self.jsonBody(request, limit: limit)
            return Self.send(try await store.register(body, scope: Self.scope(request)))
        }
        api.get("agent_instance") { request, _ in
            Self.send(try await store.listInstances(QueryParameters(query: request.uri.query)))
        }
        api.get("agent_instance/:id") { request, context in
            Self.send(try await store.instance(id: try Self.id(context)))
        }
        api.get("agent_instance/:id/agent_context") { request, context in
            Self.send(try await store.agentContext(id: try Self.id(context)))
        }
        api.post("agent_instance/:id/start") { request, context in
            let body = try await Self.jsonBody(request, limit: limit)
            return Self.send(try await store.startInstance(id: try Self.id(context), body: body, scope: Self.scope(request)))
        }
        api.post("agent_instance/:id/finish") { request, context in
            let body = try await Self.jsonBody(request, limit: limit)
            return Self.send(try await store.finishInstance(id: try Self.id(context), body: body, scope: Self.scope(request)))
        }
        api.post("agent_instance/:id/terminate") { request, context in
            let body = try await Self.jsonBody(request, limit: limit)
            return Self.send(try await store.terminateInstance(id: try Self.id(context), body: body, scope: Self.scope(request)))
        }
        api.post("agent_instance/:id/record_quality") { request, context in
            let body = try await Self.jsonBody(request, limit: limit)
            return Self.send(try await store.recordQuality(id: try Self.id(context), body: body, scope: Self.scope(request)))
        }

        // Spans
        api.post("agent_spans") { request, _ in
            let body = try await Self.jsonBody(request, limit: limit)
            return Self.send(try await store.createSpan(body, scope: Self.scope(request)))
        }
        api.get("agent_spans") { request, _ in
            Self.send(try await store.listSpans(QueryParameters(query: request.uri.query)))
        }
        api.post("agent_spans/:id/finish") { request, context in
            let body = try await Self.jsonBody(request, limit: limit)
            return Self.send(try await store.finishSpan(id: try Self.id(context), body: body, scope: Self.scope(request)))
        }

        // Agents
        api.post("agent") { request, _ in
            let body = try await Self.jsonBody(request, limit: limit)
            return Self.send(try await store.createAgent(body, scope: Self.scope(request)))
        }
        api.get("agent") { request, _ in
            Self.send(try await store.listAgents(QueryParameters(query: request.uri.query)))
        }
        api.get("agent/show") { request, _ in
            Self.send(try await store.showAgent(QueryParameters(query: request.uri.query)))
        }
        api.get("agent/:id") { _, context in
            Self.send(try await store.agent(id: try Self.id(context)))
        }
        api.put("agent/:id") { request, context in
            let body = try await Self.jsonBody(request, limit: limit)
            return Self.send(try await store.updateAgent(id: try Self.id(context), body: body, scope: Self.scope(request)))
        }
        api.delete("agent/:id") { request, context in
            let body = try await Self.jsonBody(request, limit: limit)
            return Self.send(
                try await store.transitionAgent(id: try Self.id(context), action: "delete", body: body, scope: Self.scope(request)))
        }
        for action in ["retire", "reinstate"] {
            api.post("agent/:id/\(action)") { request, context in
                let body = try await Self.jsonBody(request, limit: limit)
                return Self.send(
                    try await store.transitionAgent(id: try Self.id(context), action: action, body: body, scope: Self.scope(request)))
            }
        }

        // The server's own control routes: faults and statistics, for tests and demos.
        let admin = router.group("__prefactor")
        let faults = self.faults
        let requests = self.requests
        admin.get("faults") { _, _ in
            Self.send(Store.success(String(decoding: try JSONEncoder().encode(faults.current), as: UTF8.self)))
        }
        admin.post("faults") { request, _ in
            var request = request
            let buffer = try await Self.collect(&request, limit: limit)
            do {
                let rule = try JSONDecoder().decode(FaultRule.self, from: Data(buffer.readableBytesView))
                faults.add(rule)
            } catch let error as FaultRuleError {
                throw APIError.invalidField("fault", error.problem)
            } catch {
                throw APIError.badRequest("Expected a fault rule: {\"method\", \"path\", \"status\", \"count\", \"latency_ms\", \"drop\"}")
            }
            return Self.send(Store.success(String(decoding: try JSONEncoder().encode(faults.current), as: UTF8.self)))
        }
        admin.delete("faults") { _, _ in
            faults.removeAll()
            return Self.send(Store.success("[]"))
        }
        admin.get("stats") { _, _ in
            var object = JSONObjectText()
            object.int("requests", requests.totalCount)
            return Self.send(Store.success(object.result))
        }
        return router
    }

    static func send(_ response: StoredResponse) -> Response {
        .json(status: response.status, response.body)
    }

    static func scope(_ request: Request) -> String {
        request.method.rawValue + " " + request.uri.path
    }

    static func id(_ context: ServerRequestContext) throws -> String {
        guard let raw = context.parameters.get("id") else { throw APIError.notFound("Missing id") }
        let id = raw.removingPercentEncoding ?? raw
        guard !id.utf8.contains(0) else { throw APIError.notFound("No resource has an id containing NUL") }
        return id
    }

    static func collect(_ request: inout Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError.payloadTooLarge(limit: limit)
        }
        do {
            return try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge(limit: limit)
        }
    }

    /// Reads the body as a JSON object: empty bodies read as `{}`; anything else must be valid UTF-8 JSON objects.
    /// An `Idempotency-Key` header is used when the body carries no key (spec §10.3).
    static func jsonBody(_ request: Request, limit: Int) async throws -> [String: JSONValue] {
        var object = try await jsonObject(request, limit: limit)
        if object["idempotency_key"] == nil, object["details"]?["idempotency_key"] == nil,
            let header = request.headers[idempotencyKeyHeader]
        {
            object["idempotency_key"] = .string(header)
        }
        return object
    }

    static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!

    static func jsonObject(_ request: Request, limit: Int) async throws -> [String: JSONValue] {
        var request = request
        let buffer = try await collect(&request, limit: limit)
        let bytes = buffer.readableBytesView
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw APIError.badRequest("Request body is not valid UTF-8")
        }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: Data(bytes))
        } catch {
            throw APIError(status: 400, code: "invalid_json", message: "Request body is not valid JSON")
        }
        guard let object = value.objectValue else {
            throw APIError.badRequest("Request body must be a JSON object, got \(value.typeName)")
        }
        return object
    }
}
