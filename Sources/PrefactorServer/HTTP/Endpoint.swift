import Foundation
import HTTPTypes
import PrefactorWire

/// What one call of an API route gets: its `:id` path parameter, its JSON body, its query, and the scope its
/// idempotency keys live in.
struct EndpointCall: Sendable {
    /// The `:id` path parameter, percent-decoded.
    var id: String?
    /// The JSON body (`{}` for routes that read none).
    var body: [String: JSONValue]
    /// The query parameters.
    var query: QueryParameters
    /// Method and path, e.g. `POST /api/v1/agent_spans`: idempotency keys are unique per scope.
    var scope: String

    /// The `:id` path parameter; 404 when it is missing or holds a NUL character.
    func requireID() throws(APIError) -> String {
        guard let id else { throw APIError.notFound("Missing id") }
        guard !id.utf8.contains(0) else { throw APIError.notFound("No resource has an id containing NUL") }
        return id
    }
}

/// One route under `/api/v1` and the store call that serves it.
///
/// The router serves every endpoint over HTTP, and `POST /api/v1/bulk` calls them directly, so a bulk item runs
/// exactly the code its own request would.
struct Endpoint: Sendable {
    /// The HTTP method.
    var method: HTTPRequest.Method
    /// The path under `/api/v1`, with `:id` for the path parameter.
    var path: String
    /// How the endpoint serves a call.
    var handler: Handler

    enum Handler: Sendable {
        /// Serves a call that writes nothing.
        case read(@Sendable (Store, EndpointCall) async throws -> StoredResponse)
        /// Validates a call that writes and returns its write, to run alone (a request of its own) or in a run with
        /// the writes next to it (the items of a bulk request).
        case write(@Sendable (Store, EndpointCall) throws -> PreparedWrite)
    }

    init(
        _ method: HTTPRequest.Method, _ path: String,
        _ handle: @escaping @Sendable (Store, EndpointCall) async throws -> StoredResponse
    ) {
        self.method = method
        self.path = path
        self.handler = .read(handle)
    }

    init(
        _ method: HTTPRequest.Method, _ path: String,
        writes prepare: @escaping @Sendable (Store, EndpointCall) throws -> PreparedWrite
    ) {
        self.method = method
        self.path = path
        self.handler = .write(prepare)
    }

    /// Serves one call.
    func handle(_ store: Store, _ call: EndpointCall) async throws -> StoredResponse {
        switch handler {
        case .read(let read): try await read(store, call)
        case .write(let prepare): try await store.perform(prepare(store, call))
        }
    }

    /// Whether the route reads a JSON body (every method but `GET`).
    var readsBody: Bool { method != .get }

    /// Every route of the API, in routing order (`agent/show` before `agent/:id`).
    static let all: [Endpoint] = [
        Endpoint(.get, "ping") { _, _ in
            var details = JSONObjectText()
            details.string("message", "pong")
            details.string("server", "prefactor-swift")
            return Store.success(details.result)
        },

        // Agent instances
        Endpoint(.post, "agent_instance/register", writes: { store, call in try store.register(call.body, scope: call.scope) }),
        Endpoint(.get, "agent_instance") { store, call in try await store.listInstances(call.query) },
        Endpoint(.get, "agent_instance/:id") { store, call in try await store.instance(id: call.requireID()) },
        Endpoint(.get, "agent_instance/:id/agent_context") { store, call in try await store.agentContext(id: call.requireID()) },
        Endpoint(
            .post, "agent_instance/:id/start",
            writes: { store, call in
                try store.startInstance(id: call.requireID(), body: call.body, scope: call.scope)
            }),
        Endpoint(
            .post, "agent_instance/:id/finish",
            writes: { store, call in
                try store.finishInstance(id: call.requireID(), body: call.body, scope: call.scope)
            }),
        Endpoint(
            .post, "agent_instance/:id/terminate",
            writes: { store, call in
                try store.terminateInstance(id: call.requireID(), body: call.body, scope: call.scope)
            }),
        Endpoint(
            .post, "agent_instance/:id/record_quality",
            writes: { store, call in
                try store.recordQuality(id: call.requireID(), body: call.body, scope: call.scope)
            }),

        // Spans
        Endpoint(.post, "agent_spans", writes: { store, call in try store.createSpan(call.body, scope: call.scope) }),
        Endpoint(.get, "agent_spans") { store, call in try await store.listSpans(call.query) },
        Endpoint(
            .post, "agent_spans/:id/finish",
            writes: { store, call in
                try store.finishSpan(id: call.requireID(), body: call.body, scope: call.scope)
            }),

        // Agents
        Endpoint(.post, "agent", writes: { store, call in try store.createAgent(call.body, scope: call.scope) }),
        Endpoint(.get, "agent") { store, call in try await store.listAgents(call.query) },
        Endpoint(.get, "agent/show") { store, call in try await store.showAgent(call.query) },
        Endpoint(.get, "agent/:id") { store, call in try await store.agent(id: call.requireID()) },
        Endpoint(
            .put, "agent/:id",
            writes: { store, call in
                try store.updateAgent(id: call.requireID(), body: call.body, scope: call.scope)
            }),
        Endpoint(
            .delete, "agent/:id",
            writes: { store, call in
                try store.transitionAgent(id: call.requireID(), action: "delete", body: call.body, scope: call.scope)
            }),
        Endpoint(
            .post, "agent/:id/retire",
            writes: { store, call in
                try store.transitionAgent(id: call.requireID(), action: "retire", body: call.body, scope: call.scope)
            }),
        Endpoint(
            .post, "agent/:id/reinstate",
            writes: { store, call in
                try store.transitionAgent(id: call.requireID(), action: "reinstate", body: call.body, scope: call.scope)
            }),
    ]

    /// The endpoint a method and a path under `/api/v1` (e.g. `agent/ag_1/retire`) lead to, with the `:id` segment.
    ///
    /// - Returns: The first endpoint in routing order with that method and path, else the first with that path and
    ///   another method (so callers can tell 405 from 404), else `nil`.
    static func route(method: HTTPRequest.Method, path: Substring) -> (endpoint: Endpoint, id: Substring?)? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var otherMethod: (endpoint: Endpoint, id: Substring?)?
        for endpoint in all {
            var id: Substring?
            guard endpoint.matches(segments, id: &id) else { continue }
            if endpoint.method == method { return (endpoint, id) }
            if otherMethod == nil { otherMethod = (endpoint, id) }
        }
        return otherMethod
    }

    private func matches(_ segments: [Substring], id: inout Substring?) -> Bool {
        let pattern = path.split(separator: "/")
        guard pattern.count == segments.count else { return false }
        for (expected, actual) in zip(pattern, segments) {
            if expected == ":id", !actual.isEmpty {
                id = actual
            } else if expected != actual {
                return false
            }
        }
        return true
    }
}
