import Foundation
import PrefactorWire

/// A span returned by span create or finish, with the control signal the response carried, if any.
public struct SpanResponse: Sendable, Hashable {
    /// The span.
    public var span: AgentSpan
    /// A termination request for the span's instance (spec §6).
    public var control: ControlSignal?

    /// Creates a span response.
    public init(span: AgentSpan, control: ControlSignal?) {
        self.span = span
        self.control = control
    }
}

/// One page of a list endpoint.
public struct ListPage<Item: Sendable & Decodable>: Sendable {
    /// The items on this page.
    public var items: [Item]
    /// Where the page lies in the result.
    public var pagination: Pagination?
    /// How the result is sorted.
    public var sorting: Sorting?
}

extension ListPage: Equatable where Item: Equatable {}

/// Which page of a list to fetch.
public struct PageRequest: Sendable, Hashable {
    /// 0-based offset.
    public var offset: Int?
    /// Items per page (1–100).
    public var pageSize: Int?
    /// Sort field, `-` prefixed for descending.
    public var sorting: String?

    /// Creates a page request.
    public init(offset: Int? = nil, pageSize: Int? = nil, sorting: String? = nil) {
        self.offset = offset
        self.pageSize = pageSize
        self.sorting = sorting
    }

    var query: [(String, String)] {
        var items: [(String, String)] = []
        if let sorting { items.append(("sorting", sorting)) }
        if let offset { items.append(("pagination[offset]", String(offset))) }
        if let pageSize { items.append(("pagination[page_size]", String(pageSize))) }
        return items
    }
}

extension APIClient {
    func single<T: Decodable>(_ type: T.Type, _ object: [String: JSONValue], operation: String) throws(PrefactorHTTPError) -> T {
        guard object["status"]?.stringValue != nil else {
            throw PrefactorHTTPError(
                code: .responseContract, message: "Invalid response payload for \(operation): missing status", status: 200,
                operation: operation)
        }
        return try Self.decode(T.self, from: object["details"], operation: operation)
    }

    func list<T: Decodable>(_ type: T.Type, _ object: [String: JSONValue], operation: String) throws(PrefactorHTTPError)
        -> ListPage<T>
    {
        for key in ["status", "summaries", "pagination", "sorting"] where object[key] == nil {
            throw PrefactorHTTPError(
                code: .responseContract, message: "Invalid response payload for \(operation): missing \(key)", status: 200,
                operation: operation)
        }
        return ListPage(
            items: try Self.decode([T].self, from: object["summaries"], operation: operation),
            pagination: object["pagination"]?.isNull == false
                ? try Self.decode(Pagination.self, from: object["pagination"], operation: operation) : nil,
            sorting: object["sorting"]?.isNull == false
                ? try Self.decode(Sorting.self, from: object["sorting"], operation: operation) : nil)
    }

    func spanResponse(_ object: [String: JSONValue], operation: String) throws(PrefactorHTTPError) -> SpanResponse {
        SpanResponse(
            span: try single(AgentSpan.self, object, operation: operation), control: ControlSignal.lenient(object["control"]))
    }

    // MARK: Ping

    /// Checks the token: `GET /api/v1/ping`.
    ///
    /// - Returns: The response object.
    /// - Throws: ``PrefactorHTTPError`` with code ``PrefactorHTTPError/Code/auth`` for a bad token.
    @discardableResult
    public func ping() async throws(PrefactorHTTPError) -> [String: JSONValue] {
        try await send("GET", "/api/v1/ping", body: nil, operation: "ping")
    }

    // MARK: Agent instances

    /// Registers an instance: `POST /api/v1/agent_instance/register`.
    ///
    /// - Parameter request: The register body.
    /// - Returns: The new instance (status `pending`).
    /// - Throws: ``PrefactorHTTPError``.
    public func registerAgentInstance(_ request: RegisterAgentInstanceRequest) async throws(PrefactorHTTPError) -> AgentInstance {
        let operation = "agent_instances.register"
        try Self.checkKey(request.idempotencyKey, operation: operation)
        let object = try await send(
            "POST", "/api/v1/agent_instance/register", body: encode(request, operation: operation), operation: operation)
        return try single(AgentInstance.self, object, operation: operation)
    }

    /// Starts an instance: `POST /api/v1/agent_instance/{id}/start`.
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - timestamp: When it started; sent as `null` when omitted.
    ///   - idempotencyKey: The key (at most 64 characters).
    /// - Returns: The instance, now `active`.
    /// - Throws: ``PrefactorHTTPError``.
    public func startAgentInstance(
        id: String, timestamp: Date? = nil, idempotencyKey: String? = nil
    ) async throws(PrefactorHTTPError) -> AgentInstance {
        let operation = "agent_instances.start"
        try Self.checkKey(idempotencyKey, operation: operation)
        let body = StartAgentInstanceRequest(timestamp: timestamp, idempotencyKey: idempotencyKey)
        let object = try await send(
            "POST", "/api/v1/agent_instance/\(Self.pathComponent(id))/start", body: encode(body, operation: operation),
            operation: operation)
        return try single(AgentInstance.self, object, operation: operation)
    }

    /// Finishes an instance: `POST /api/v1/agent_instance/{id}/finish`.
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - status: The final status; omitted means the server's default (`complete`).
    ///   - timestamp: When it finished.
    ///   - idempotencyKey: The key.
    /// - Returns: The finished instance.
    /// - Throws: ``PrefactorHTTPError`` (``PrefactorHTTPError/Code/conflict`` when already finished).
    public func finishAgentInstance(
        id: String, status: FinishStatus? = nil, timestamp: Date? = nil, idempotencyKey: String? = nil
    ) async throws(PrefactorHTTPError) -> AgentInstance {
        let operation = "agent_instances.finish"
        try Self.checkKey(idempotencyKey, operation: operation)
        let body = FinishAgentInstanceRequest(status: status, timestamp: timestamp, idempotencyKey: idempotencyKey)
        let object = try await send(
            "POST", "/api/v1/agent_instance/\(Self.pathComponent(id))/finish", body: encode(body, operation: operation),
            operation: operation)
        return try single(AgentInstance.self, object, operation: operation)
    }

    /// Fetches an instance: `GET /api/v1/agent_instance/{id}`.
    ///
    /// - Parameter id: The instance id.
    /// - Returns: The instance.
    /// - Throws: ``PrefactorHTTPError`` (``PrefactorHTTPError/Code/notFound`` for an unknown id).
    public func agentInstance(id: String) async throws(PrefactorHTTPError) -> AgentInstance {
        let operation = "agent_instances.get"
        let object = try await send("GET", "/api/v1/agent_instance/\(Self.pathComponent(id))", body: nil, operation: operation)
        return try single(AgentInstance.self, object, operation: operation)
    }

    /// Lists instances: `GET /api/v1/agent_instance?agent_id=`.
    ///
    /// - Parameters:
    ///   - agentID: The agent whose instances to list; all instances when `nil`.
    ///   - status: Only instances with this status (a filter of the local server; other servers may ignore it).
    ///   - updatedSince: Only instances changed at or after this time.
    ///   - page: Which page.
    /// - Returns: One page of instances.
    /// - Throws: ``PrefactorHTTPError``.
    public func listAgentInstances(
        agentID: String? = nil, status: AgentStatus? = nil, updatedSince: Date? = nil, page: PageRequest = PageRequest()
    ) async throws(PrefactorHTTPError) -> ListPage<AgentInstance> {
        let operation = "agent_instances.list"
        var query: [(String, String)] = []
        if let agentID { query.append(("agent_id", agentID)) }
        if let status { query.append(("status", status.rawValue)) }
        if let updatedSince { query.append(("updated_since", WireDate.format(updatedSince, style: .zulu))) }
        let object = try await send("GET", "/api/v1/agent_instance", query: query + page.query, body: nil, operation: operation)
        return try list(AgentInstance.self, object, operation: operation)
    }

    /// Records or clears a quality payload: `POST /api/v1/agent_instance/{id}/record_quality`.
    ///
    /// - Parameters:
    ///   - instanceID: The instance id.
    ///   - name: A quality schema name registered with the instance's schema version.
    ///   - payload: The record, or `nil` to remove the record of that name.
    ///   - idempotencyKey: The key.
    /// - Returns: The instance.
    /// - Throws: ``PrefactorHTTPError``.
    public func recordQuality(
        instanceID: String, name: String, payload: [String: JSONValue]?, idempotencyKey: String? = nil
    ) async throws(PrefactorHTTPError) -> AgentInstance {
        let operation = "agent_instances.record_quality"
        try Self.checkKey(idempotencyKey, operation: operation)
        let body = RecordQualityRequest(name: name, payload: payload, idempotencyKey: idempotencyKey)
        let object = try await send(
            "POST", "/api/v1/agent_instance/\(Self.pathComponent(instanceID))/record_quality",
            body: encode(body, operation: operation), operation: operation)
        return try single(AgentInstance.self, object, operation: operation)
    }

    /// Terminates an instance: `POST /api/v1/agent_instance/{id}/terminate`.
    ///
    /// The agent learns of it from the control block of its next span response, or its instance poll.
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - reason: Why.
    /// - Returns: The instance, now `terminated`.
    /// - Throws: ``PrefactorHTTPError``.
    public func terminateAgentInstance(id: String, reason: String?) async throws(PrefactorHTTPError) -> AgentInstance {
        let operation = "agent_instances.terminate"
        let body = TerminateAgentInstanceRequest(reason: reason)
        let object = try await send(
            "POST", "/api/v1/agent_instance/\(Self.pathComponent(id))/terminate", body: encode(body, operation: operation),
            operation: operation)
        return try single(AgentInstance.self, object, operation: operation)
    }

    // MARK: Spans

    /// Creates a span: `POST /api/v1/agent_spans` with the fields wrapped in `details`.
    ///
    /// - Parameter request: The span.
    /// - Returns: The created span and any control signal.
    /// - Throws: ``PrefactorHTTPError``.
    public func createSpan(_ request: CreateSpanRequest) async throws(PrefactorHTTPError) -> SpanResponse {
        let operation = "agent_spans.create"
        try Self.checkKey(request.idempotencyKey, operation: operation)
        let object = try await send(
            "POST", "/api/v1/agent_spans", body: encode(request, operation: operation), operation: operation)
        return try spanResponse(object, operation: operation)
    }

    /// Finishes a span: `POST /api/v1/agent_spans/{id}/finish`.
    ///
    /// - Parameters:
    ///   - id: The span's API id.
    ///   - status: The final status; omitted means `complete`.
    ///   - resultPayload: The result; sent only when not empty.
    ///   - timestamp: When it finished.
    ///   - idempotencyKey: The key.
    /// - Returns: The finished span and any control signal.
    /// - Throws: ``PrefactorHTTPError`` (``PrefactorHTTPError/Code/conflict`` with server code `invalid_action` when
    ///   already finished).
    public func finishSpan(
        id: String, status: FinishStatus? = nil, resultPayload: [String: JSONValue]? = nil, timestamp: Date? = nil,
        idempotencyKey: String? = nil
    ) async throws(PrefactorHTTPError) -> SpanResponse {
        let operation = "agent_spans.finish"
        try Self.checkKey(idempotencyKey, operation: operation)
        let body = FinishSpanRequest(
            status: status, resultPayload: resultPayload, timestamp: timestamp, idempotencyKey: idempotencyKey)
        let object = try await send(
            "POST", "/api/v1/agent_spans/\(Self.pathComponent(id))/finish", body: encode(body, operation: operation),
            operation: operation)
        return try spanResponse(object, operation: operation)
    }

    /// Lists an instance's spans: `GET /api/v1/agent_spans?agent_instance_id=&start_time=&end_time=`.
    ///
    /// - Parameters:
    ///   - instanceID: The instance.
    ///   - startTime: Earliest `started_at`.
    ///   - endTime: Latest `started_at`.
    ///   - updatedSince: Only spans changed at or after this time.
    ///   - includeSummaries: Whether the server renders summaries.
    ///   - page: Which page.
    /// - Returns: One page of spans, ordered by `started_at` unless sorted otherwise.
    /// - Throws: ``PrefactorHTTPError``.
    public func listSpans(
        instanceID: String, startTime: Date? = nil, endTime: Date? = nil, updatedSince: Date? = nil,
        includeSummaries: Bool = false, page: PageRequest = PageRequest()
    ) async throws(PrefactorHTTPError) -> ListPage<AgentSpan> {
        let operation = "agent_spans.list"
        var query: [(String, String)] = [("agent_instance_id", instanceID)]
        if let startTime { query.append(("start_time", WireDate.format(startTime, style: .python))) }
        if let endTime { query.append(("end_time", WireDate.format(endTime, style: .python))) }
        if let updatedSince { query.append(("updated_since", WireDate.format(updatedSince, style: .zulu))) }
        if includeSummaries { query.append(("include_summaries", "true")) }
        let object = try await send("GET", "/api/v1/agent_spans", query: query + page.query, body: nil, operation: operation)
        return try list(AgentSpan.self, object, operation: operation)
    }

    // MARK: Agents

    /// Creates an agent: `POST /api/v1/agent`.
    ///
    /// - Parameter request: The agent.
    /// - Returns: The agent.
    /// - Throws: ``PrefactorHTTPError``.
    public func createAgent(_ request: CreateAgentRequest) async throws(PrefactorHTTPError) -> Agent {
        let operation = "agents.create"
        try Self.checkKey(request.idempotencyKey, operation: operation)
        let object = try await send("POST", "/api/v1/agent", body: encode(request, operation: operation), operation: operation)
        return try single(Agent.self, object, operation: operation)
    }

    /// Fetches an agent: `GET /api/v1/agent/{id}`.
    ///
    /// - Parameter id: The agent id.
    /// - Returns: The agent.
    /// - Throws: ``PrefactorHTTPError``.
    public func agent(id: String) async throws(PrefactorHTTPError) -> Agent {
        let operation = "agents.get"
        let object = try await send("GET", "/api/v1/agent/\(Self.pathComponent(id))", body: nil, operation: operation)
        return try single(Agent.self, object, operation: operation)
    }

    /// Lists agents: `GET /api/v1/agent`.
    ///
    /// - Parameters:
    ///   - riskProfileID: Filter by risk profile.
    ///   - teamID: Filter by team.
    ///   - ownerPersonID: Filter by owner.
    ///   - updatedSince: Only agents changed, or with instances changed, at or after this time (a filter of the local
    ///     server; other servers may ignore it).
    ///   - page: Which page and sort (`name`, `-id`, ...).
    /// - Returns: One page of agents.
    /// - Throws: ``PrefactorHTTPError``.
    public func listAgents(
        riskProfileID: String? = nil, teamID: String? = nil, ownerPersonID: String? = nil, updatedSince: Date? = nil,
        page: PageRequest = PageRequest()
    ) async throws(PrefactorHTTPError) -> ListPage<Agent> {
        let operation = "agents.list"
        var query: [(String, String)] = []
        if let riskProfileID { query.append(("risk_profile_id", riskProfileID)) }
        if let teamID { query.append(("team_id", teamID)) }
        if let ownerPersonID { query.append(("owner_person_id", ownerPersonID)) }
        if let updatedSince { query.append(("updated_since", WireDate.format(updatedSince, style: .zulu))) }
        let object = try await send("GET", "/api/v1/agent", query: query + page.query, body: nil, operation: operation)
        return try list(Agent.self, object, operation: operation)
    }

    /// Finds one agent by id or external identifier: `GET /api/v1/agent/show`.
    ///
    /// - Parameters:
    ///   - agentID: The agent id (exactly one of this and `externalIdentifier`).
    ///   - externalIdentifier: The agent's external identifier.
    ///   - environmentID: The environment for counts.
    ///   - includeCounts: Whether to include instance counts.
    /// - Returns: The agent.
    /// - Throws: ``PrefactorHTTPError``; ``PrefactorHTTPError/Code/invalidRequest`` unless exactly one identifier is given.
    public func showAgent(
        agentID: String? = nil, externalIdentifier: String? = nil, environmentID: String? = nil, includeCounts: Bool = false
    ) async throws(PrefactorHTTPError) -> Agent {
        let operation = "agents.show"
        guard (agentID == nil) != (externalIdentifier == nil) else {
            throw PrefactorHTTPError(
                code: .invalidRequest, message: "Pass exactly one of agentID and externalIdentifier", operation: operation)
        }
        var query: [(String, String)] = []
        if let agentID { query.append(("agent_id", agentID)) }
        if let externalIdentifier { query.append(("external_identifier", externalIdentifier)) }
        if let environmentID { query.append(("environment_id", environmentID)) }
        if includeCounts { query.append(("include_counts", "true")) }
        let object = try await send("GET", "/api/v1/agent/show", query: query, body: nil, operation: operation)
        return try single(Agent.self, object, operation: operation)
    }
}
