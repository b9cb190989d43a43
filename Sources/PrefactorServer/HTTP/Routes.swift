import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PrefactorWire
import Synchronization

extension PrefactorAPIServer {
    func buildRouter() -> Router<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.middlewares.add(ErrorEnvelopeMiddleware(log: requests, logger: configuration.logger))
        router.middlewares.add(AuthMiddleware(token: configuration.token))
        if configuration.faultInjection {
            router.middlewares.add(FaultMiddleware(faults: faults))
        }

        let store = self.store
        let limit = configuration.maxBodyBytes
        let api = router.group("api/v1")

        for endpoint in Endpoint.all {
            api.on(RouterPath(endpoint.path), method: endpoint.method) { request, context in
                let call = EndpointCall(
                    id: context.parameters.get("id").map { $0.removingPercentEncoding ?? $0 },
                    body: endpoint.readsBody ? try await Self.jsonBody(request, limit: limit) : [:],
                    query: QueryParameters(query: request.uri.query), scope: Self.scope(request))
                return Self.send(try await endpoint.handle(store, call))
            }
        }
        let logger = configuration.logger
        let itemFaults = configuration.faultInjection ? faults : nil
        api.post("bulk") { request, _ in
            let body = try await Self.jsonObject(request, limit: limit)
            return Self.send(try await Bulk(store: store, logger: logger, faults: itemFaults).run(body))
        }

        // The server's own control routes: statistics, and faults when fault injection is on (tests and demos).
        let admin = router.group("__prefactor")
        let requests = self.requests
        let connections = self.connections
        admin.get("stats") { _, _ in
            var object = JSONObjectText()
            object.int("requests", requests.totalCount)
            object.int("connections", connections.count.load(ordering: .relaxed))
            return Self.send(Store.success(object.result))
        }
        guard configuration.faultInjection else { return router }
        let faults = self.faults
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
                throw APIError.badRequest(
                    "Expected a fault rule: {\"method\", \"path\", \"status\", \"count\", \"latency_ms\", \"drop\"}")
            }
            return Self.send(Store.success(String(decoding: try JSONEncoder().encode(faults.current), as: UTF8.self)))
        }
        admin.delete("faults") { _, _ in
            faults.removeAll()
            return Self.send(Store.success("[]"))
        }
        return router
    }

    static func send(_ response: StoredResponse) -> Response {
        .json(status: response.status, response.body)
    }

    static func scope(_ request: Request) -> String {
        request.method.rawValue + " " + request.uri.path
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
        // ASCII is valid UTF-8; only other bodies need the full check.
        guard bytes.allSatisfy({ $0 < 0x80 }) || String(validating: bytes, as: UTF8.self) != nil else {
            throw APIError.badRequest("Request body is not valid UTF-8")
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw APIError(status: 400, code: "invalid_json", message: "Request body is not valid JSON")
        }
        guard let object = value.objectValue else {
            throw APIError.badRequest("Request body must be a JSON object, got \(value.typeName)")
        }
        return object
    }
}
