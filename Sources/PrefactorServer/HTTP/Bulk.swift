import Foundation
import HTTPTypes
import Logging
import PrefactorWire

/// `POST /api/v1/bulk` (spec §3.9): many API calls in one request, run in order, each in its own transaction,
/// stopping at the first that fails (which is reported; the ones after it are not run).
///
/// Two dialects, told apart by the first item:
/// - the Python SDK's: items `{"_type": "agent_spans/create", "idempotency_key": "...", ...parameters}`, answered
///   with `{"status": "success", "outputs": {"<key>": <the action's response envelope>}}`;
/// - the TypeScript CLI's: items `{"method": "POST", "path": "/agent_spans", "body": {...}}`, answered with
///   `{"status": "success", "details": {"items": [{"status": 200, "body": <the response envelope>}]}}`.
///
/// Each item runs the ``Endpoint`` its own request would, with the same idempotency scope, so a key replays across
/// bulk and single requests alike. A request that breaks its dialect's rules is rejected whole with 422
/// `validation_errors` and runs nothing.
struct Bulk {
    let store: Store
    let logger: Logger
    /// Scripted faults (when fault injection is on): a rule with a status fails a matching item as it would fail the
    /// item's own request.
    var faults: FaultInjector?

    /// A `_type` of the Python dialect: the endpoint it runs, and whether its parameters are that endpoint's `details`.
    struct Action {
        var endpoint: Endpoint
        var wrapsDetails: Bool

        init(_ method: HTTPRequest.Method, _ path: String, wrapsDetails: Bool = false) {
            self.endpoint = Endpoint.all.first { $0.method == method && $0.path == path }!
            self.wrapsDetails = wrapsDetails
        }

        var scope: String { "\(endpoint.method.rawValue) /api/v1/\(endpoint.path)" }
    }

    /// The `_type`s the official Python SDK names (spec §3.9).
    static let actions: [String: Action] = [
        "agents/list": Action(.get, "agent"),
        "agents/show": Action(.get, "agent/show"),
        "agents/create": Action(.post, "agent", wrapsDetails: true),
        "agent_instances/register": Action(.post, "agent_instance/register"),
        "agent_spans/create": Action(.post, "agent_spans", wrapsDetails: true),
    ]

    /// How long an item's idempotency key must be, in characters.
    static let keyLength = 8...64

    /// The methods of the CLI dialect.
    static let methods: [HTTPRequest.Method] = [.get, .post, .put, .delete]

    /// An item of the Python dialect: everything but `_type` is a parameter, `idempotency_key` included.
    struct TypedItem {
        var type: String
        var key: String
        var parameters: [String: JSONValue]
    }

    /// An item of the CLI dialect.
    struct HTTPItem {
        var method: HTTPRequest.Method
        var path: String
        var body: [String: JSONValue]
    }

    enum Items {
        case typed([TypedItem])
        case http([HTTPItem])
    }

    /// Runs a bulk request.
    ///
    /// - Parameter body: The request body.
    /// - Returns: The response envelope of the request's dialect.
    /// - Throws: 422 `validation_errors` when the request breaks its dialect's rules; nothing ran then.
    func run(_ body: [String: JSONValue]) async throws(APIError) -> StoredResponse {
        var envelope = JSONObjectText()
        envelope.string("status", "success")
        switch try Self.parse(body) {
        case .typed(let items):
            var outputs = JSONObjectText()
            for item in items {
                let response = await respond { try await self.call(item) }
                outputs.raw(item.key, response.body)
                if !response.succeeded { break }
            }
            envelope.raw("outputs", outputs.result)
        case .http(let items):
            var results: [String] = []
            for item in items {
                let response = await respond { try await self.call(item) }
                var result = JSONObjectText()
                result.int("status", response.status)
                result.raw("body", response.body)
                results.append(result.result)
                if !response.succeeded { break }
            }
            var details = JSONObjectText()
            details.raw("items", "[" + results.joined(separator: ",") + "]")
            envelope.raw("details", details.result)
        }
        return .success(envelope.result)
    }

    // MARK: Validation

    static func parse(_ body: [String: JSONValue]) throws(APIError) -> Items {
        var request = FieldReader(body)
        guard case .array(let values)? = body["items"] else {
            if let items = body["items"], !items.isNull {
                request.fail("items", "must be an array, got \(items.typeName)")
            } else {
                request.fail("items", "is required")
            }
            try request.check(code: "validation_errors")
            return .typed([])
        }
        if values.isEmpty { request.fail("items", "must contain at least one item") }
        let isHTTP = values.first?.objectValue.map { $0["_type"] == nil && $0["method"] != nil } ?? false
        var typed: [TypedItem] = []
        var http: [HTTPItem] = []
        var indexOfKey: [String: Int] = [:]
        for (index, value) in values.enumerated() {
            let name = "items[\(index)]"
            guard let object = value.objectValue else {
                request.fail(name, "must be an object, got \(value.typeName)")
                continue
            }
            var fields = FieldReader(object)
            if isHTTP {
                let methodName = fields.requiredString("method")
                let method = Self.methods.first { $0.rawValue == methodName }
                if methodName != nil, method == nil {
                    fields.fail("method", "must be one of \(Self.methods.map(\.rawValue).joined(separator: ", "))")
                }
                let path = fields.requiredString("path")
                let body = fields.optionalObject("body") ?? [:]
                if let method, let path { http.append(HTTPItem(method: method, path: path, body: body)) }
            } else {
                let type = fields.requiredString("_type")
                let key = fields.requiredString("idempotency_key")
                if let key {
                    let length = key.count
                    if length < Self.keyLength.lowerBound {
                        fields.fail("idempotency_key", "must be at least \(Self.keyLength.lowerBound) characters, got \(length)")
                    } else if length > Self.keyLength.upperBound {
                        fields.fail("idempotency_key", "must be at most \(Self.keyLength.upperBound) characters, got \(length)")
                    } else if let first = indexOfKey[key] {
                        fields.fail("idempotency_key", "must be unique within the request: items[\(first)] has the same key")
                    } else {
                        indexOfKey[key] = index
                    }
                }
                var parameters = object
                parameters["_type"] = nil
                if let type, let key { typed.append(TypedItem(type: type, key: key, parameters: parameters)) }
            }
            request.absorb(fields, prefix: name + ".")
        }
        try request.check(code: "validation_errors")
        return isHTTP ? .http(http) : .typed(typed)
    }

    // MARK: Items

    func call(_ item: TypedItem) async throws -> StoredResponse {
        guard let action = Self.actions[item.type] else {
            throw APIError.invalidField(
                "_type",
                "must be one of \(Self.actions.keys.sorted().joined(separator: ", ")), got \(JSONText.quoted(String(item.type.prefix(40))))"
            )
        }
        if let faults, faults.isActive,
            let status = faults.itemStatus(method: action.endpoint.method.rawValue, path: "/api/v1/\(action.endpoint.path)")
        {
            throw APIError.injected(status: status)
        }
        var parameters = item.parameters
        let call: EndpointCall
        if action.endpoint.readsBody {
            if action.wrapsDetails, parameters["details"] == nil {
                parameters["idempotency_key"] = nil
                parameters = ["details": .object(parameters), "idempotency_key": .string(item.key)]
            }
            call = EndpointCall(id: nil, body: parameters, query: QueryParameters(query: nil), scope: action.scope)
        } else {
            parameters["idempotency_key"] = nil
            call = EndpointCall(id: nil, body: [:], query: try QueryParameters(fields: parameters), scope: action.scope)
        }
        return try await action.endpoint.handle(store, call)
    }

    func call(_ item: HTTPItem) async throws -> StoredResponse {
        let parts = item.path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var path = parts[0]
        if path.hasPrefix("/api/v1/") { path = path.dropFirst("/api/v1".count) }
        if path.hasPrefix("/") { path = path.dropFirst() }
        let method = item.method.rawValue
        guard let (endpoint, id) = Endpoint.route(method: item.method, path: path) else {
            throw APIError.noRoute(method: method, path: "/api/v1/\(path)")
        }
        guard endpoint.method == item.method else { throw APIError.methodNotAllowed(method: method, path: "/api/v1/\(path)") }
        let call = EndpointCall(
            id: id.map { $0.removingPercentEncoding ?? String($0) }, body: endpoint.readsBody ? item.body : [:],
            query: QueryParameters(query: parts.count > 1 ? String(parts[1]) : nil), scope: "\(method) /api/v1/\(path)")
        return try await endpoint.handle(store, call)
    }

    /// The response of one item: its own, or its error envelope.
    func respond(_ operation: () async throws -> StoredResponse) async -> StoredResponse {
        do {
            return try await operation()
        } catch let error as APIError {
            return StoredResponse(status: error.status, body: error.body)
        } catch {
            logger.error("Unhandled error in a bulk item", metadata: ["error": "\(error)"])
            return StoredResponse(status: APIError.internalError.status, body: APIError.internalError.body)
        }
    }
}

extension StoredResponse {
    /// Whether the status is 2xx.
    var succeeded: Bool { (200..<300).contains(status) }
}
