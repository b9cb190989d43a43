import Foundation
import HTTPTypes
import Logging
import PrefactorWire

/// `POST /api/v1/bulk` (spec §3.9): many API calls in one request, run in order, each as if in its own transaction,
/// stopping at the first that fails (which is reported; the ones after it are not run). Consecutive writes share one
/// transaction, each in its own savepoint, so that a backlog of span creates costs one commit, not one per item.
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
            await run(items, step: step) { item, response in outputs.raw(item.key, response.body) }
            envelope.raw("outputs", outputs.result)
        case .http(let items):
            var results: [String] = []
            await run(items, step: step) { _, response in
                var result = JSONObjectText()
                result.int("status", response.status)
                result.raw("body", response.body)
                results.append(result.result)
            }
            var details = JSONObjectText()
            details.raw("items", "[" + results.joined(separator: ",") + "]")
            envelope.raw("details", details.result)
        }
        return .success(envelope.result)
    }

    /// What running an item takes: a write, which can share a transaction with the writes next to it, or anything
    /// else (a read, or an item that fails before it could write), run on its own.
    enum Step {
        case write(PreparedWrite)
        case call(() async throws -> StoredResponse)
    }

    /// Runs the items in order and hands each one's response to `output`, up to and including the first that fails.
    ///
    /// Consecutive writes run in one transaction (``Store/perform(run:)``), each in its own savepoint: the first that
    /// fails is rolled back alone and ends the request, so the outcome is the one of running each item as a request
    /// of its own, with one commit instead of one per item. Validating an item ahead of the ones before it is safe:
    /// it reads nothing and changes nothing; anything that could (a scripted fault) happens when the item runs.
    func run<Item>(
        _ items: [Item], step: (Item) -> Step, output: (Item, StoredResponse) -> Void
    ) async {
        var index = 0
        while index < items.count {
            var writes: [PreparedWrite] = []
            var other: (() async throws -> StoredResponse)?
            while index + writes.count < items.count, other == nil {
                switch step(items[index + writes.count]) {
                case .write(let write): writes.append(write)
                case .call(let call): other = call
                }
            }
            if !writes.isEmpty {
                let outcomes = await store.perform(run: writes)
                for (offset, outcome) in outcomes.enumerated() {
                    let response = respond(outcome)
                    output(items[index + offset], response)
                    if !response.succeeded { return }
                }
                guard outcomes.count == writes.count else { return }
                index += writes.count
            }
            if let other {
                let response = await respond(other)
                output(items[index], response)
                if !response.succeeded { return }
                index += 1
            }
        }
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

    func step(_ item: TypedItem) -> Step {
        guard let action = Self.actions[item.type] else {
            return .call {
                throw APIError.invalidField(
                    "_type",
                    "must be one of \(Self.actions.keys.sorted().joined(separator: ", ")), got \(JSONText.quoted(String(item.type.prefix(40))))"
                )
            }
        }
        let endpoint = action.endpoint
        // A scripted fault fails the item when it runs, ahead of anything else the item does.
        let faults = self.faults
        let checkFaults: @Sendable () throws -> Void = {
            if let faults, faults.isActive,
                let status = faults.itemStatus(method: endpoint.method.rawValue, path: "/api/v1/\(endpoint.path)")
            {
                throw APIError.injected(status: status)
            }
        }
        var parameters = item.parameters
        guard endpoint.readsBody else {
            parameters["idempotency_key"] = nil
            return .call { [store] in
                try checkFaults()
                let call = EndpointCall(
                    id: nil, body: [:], query: try QueryParameters(fields: parameters), scope: action.scope)
                return try await endpoint.handle(store, call)
            }
        }
        if action.wrapsDetails, parameters["details"] == nil {
            parameters["idempotency_key"] = nil
            parameters = ["details": .object(parameters), "idempotency_key": .string(item.key)]
        }
        let call = EndpointCall(id: nil, body: parameters, query: QueryParameters(query: nil), scope: action.scope)
        return Self.step(endpoint, call, store: store, before: checkFaults)
    }

    func step(_ item: HTTPItem) -> Step {
        let parts = item.path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var path = parts[0]
        if path.hasPrefix("/api/v1/") { path = path.dropFirst("/api/v1".count) }
        if path.hasPrefix("/") { path = path.dropFirst() }
        let method = item.method.rawValue
        guard let (endpoint, id) = Endpoint.route(method: item.method, path: path) else {
            return .call { [path] in throw APIError.noRoute(method: method, path: "/api/v1/\(path)") }
        }
        guard endpoint.method == item.method else {
            return .call { [path] in throw APIError.methodNotAllowed(method: method, path: "/api/v1/\(path)") }
        }
        let call = EndpointCall(
            id: id.map { $0.removingPercentEncoding ?? String($0) }, body: endpoint.readsBody ? item.body : [:],
            query: QueryParameters(query: parts.count > 1 ? String(parts[1]) : nil), scope: "\(method) /api/v1/\(path)")
        return Self.step(endpoint, call, store: store)
    }

    /// The step of a call of an endpoint; `before` runs first when the item runs, and may fail it.
    static func step(
        _ endpoint: Endpoint, _ call: EndpointCall, store: Store, before: @escaping @Sendable () throws -> Void = {}
    ) -> Step {
        switch endpoint.handler {
        case .read(let read):
            return .call {
                try before()
                return try await read(store, call)
            }
        case .write(let prepare):
            let write: PreparedWrite
            do {
                write = try prepare(store, call)
            } catch {
                return .call {
                    try before()
                    throw error
                }
            }
            return .write(
                PreparedWrite(isolated: write.isolated) { db, time in
                    try before()
                    return try write.job(db, time)
                })
        }
    }

    /// The response of one item: its own, or its error envelope.
    func respond(_ operation: () async throws -> StoredResponse) async -> StoredResponse {
        do {
            return try await operation()
        } catch {
            return respond(.failure(error))
        }
    }

    /// The response of one item: its own, or its error envelope.
    func respond(_ outcome: Result<StoredResponse, any Error>) -> StoredResponse {
        switch outcome {
        case .success(let response):
            return response
        case .failure(let error as APIError):
            return StoredResponse(status: error.status, body: error.body)
        case .failure(let error):
            logger.error("Unhandled error in a bulk item", metadata: ["error": "\(error)"])
            return StoredResponse(status: APIError.internalError.status, body: APIError.internalError.body)
        }
    }
}
