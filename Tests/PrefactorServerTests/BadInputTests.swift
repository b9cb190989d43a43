import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// One bad request against the fixture data of ``BadInputTests``.
struct BadRequest: Sendable, CustomTestStringConvertible {
    var method: HTTPMethod
    var path: String
    var body: API.Body?
    var status: Int
    var code: String
    /// The exact field names of `errors`, when checked.
    var fields: Set<String>?
    var label: String

    init(
        _ method: HTTPMethod, _ path: String, _ body: API.Body?, _ status: Int, _ code: String, fields: Set<String>? = nil,
        label: String? = nil
    ) {
        self.method = method
        self.path = path
        self.body = body
        self.status = status
        self.code = code
        self.fields = fields
        if let label {
            self.label = label
        } else {
            switch body {
            case .json(let value)?: self.label = "\(method) \(path) \(value)"
            case .text(let text)?: self.label = "\(method) \(path) \(text)"
            default: self.label = "\(method) \(path)"
            }
        }
    }

    var testDescription: String { label }

    static let mutatingRoutes: [(HTTPMethod, String)] = [
        (.POST, "/api/v1/agent_instance/register"),
        (.POST, "/api/v1/agent_instance/ai_fx/start"),
        (.POST, "/api/v1/agent_instance/ai_fx/finish"),
        (.POST, "/api/v1/agent_instance/ai_fx/terminate"),
        (.POST, "/api/v1/agent_instance/ai_fx/record_quality"),
        (.POST, "/api/v1/agent_spans"),
        (.POST, "/api/v1/agent_spans/sp_fx/finish"),
        (.POST, "/api/v1/agent"),
        (.PUT, "/api/v1/agent/agent_fx"),
        (.POST, "/api/v1/agent/agent_fx/retire"),
        (.POST, "/api/v1/agent/agent_fx/reinstate"),
        (.DELETE, "/api/v1/agent/agent_fx"),
    ]

    /// Bodies that are not a JSON object, sent to every mutating route.
    static let unparsable: [BadRequest] = mutatingRoutes.flatMap { method, path in
        [
            BadRequest(method, path, .text(#"{"status": "#), 400, "invalid_json"),
            BadRequest(method, path, .text(#"{"status": "complete"} trailing"#), 400, "invalid_json"),
            BadRequest(method, path, .text("{'single': 'quotes'}"), 400, "invalid_json"),
            BadRequest(method, path, .text("[1, 2]"), 400, "bad_request"),
            BadRequest(method, path, .text(#""a string""#), 400, "bad_request"),
            BadRequest(method, path, .text("null"), 400, "bad_request"),
            BadRequest(method, path, .text("42"), 400, "bad_request"),
            BadRequest(
                method, path, .bytes([0x7B, 0x22, 0x72, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0x22, 0x7D]), 400, "bad_request",
                label: "\(method) \(path) invalid UTF-8"),
        ]
    }

    /// Well-formed JSON objects with wrong types, missing fields or unknown ids.
    static let invalid: [BadRequest] = [
        // Register
        BadRequest(
            .POST, "/api/v1/agent_instance/register", .json(["agent_version": [:], "agent_id": 5]), 422, "validation_error",
            fields: ["agent_id"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register", .json(["agent_version": [:], "purpose": "production"]), 422,
            "validation_error",
            fields: ["purpose"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register", .json(["agent_version": "v1"]), 422, "validation_error",
            fields: ["agent_version"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register", .json(["agent_version": ["external_identifier": 3]]), 422,
            "validation_error",
            fields: ["agent_version.external_identifier"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register",
            .json(["agent_version": [:], "agent_schema_version": ["span_type_schemas": ["a": 1]]]), 422,
            "validation_error", fields: ["agent_schema_version.span_type_schemas"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register",
            .json(["agent_version": [:], "agent_schema_version": ["span_type_schemas": [["params_schema": [:]]]]]), 422,
            "validation_error",
            fields: ["agent_schema_version.span_type_schemas[0].name"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register", .json(["agent_version": [:], "update_current_version": "yes"]), 422,
            "validation_error",
            fields: ["update_current_version"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register", .json(["agent_version": [:], "id": ""]), 422, "validation_error",
            fields: ["id"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register", .json(["agent_version": [:], "idempotency_key": 12]), 422,
            "validation_error",
            fields: ["idempotency_key"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register", .json(["agent_version": [:], "agent_id": "agent_nobody"]), 404, "not_found"),
        // The official SDKs always send agent_version ({} at least).
        BadRequest(.POST, "/api/v1/agent_instance/register", .json([:]), 422, "validation_error", fields: ["agent_version"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register", .json(["agent_version": nil, "purpose": "eval"]), 422, "validation_error",
            fields: ["agent_version"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/register", .json(["agent_version": [:], "agent_id": ""]), 422, "validation_error",
            fields: ["agent_id"]),
        BadRequest(.POST, "/api/v1/agent_instance/register", .json(["agent_version": [:], "id": "ai_fx"]), 409, "conflict"),
        // Start
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/start", .json(["timestamp": 5]), 422, "validation_error", fields: ["timestamp"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/start", .json(["timestamp": "yesterday"]), 422, "validation_error",
            fields: ["timestamp"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/start", .json(["timestamp": "2025-02-30T00:00:00Z"]), 422, "validation_error",
            fields: ["timestamp"]),
        BadRequest(.POST, "/api/v1/agent_instance/ai_nobody/start", .json([:]), 404, "not_found"),
        // Finish
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/finish", .json(["status": 3]), 422, "validation_error", fields: ["status"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/finish", .json(["status": "done"]), 422, "validation_error", fields: ["status"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/finish", .json(["status": "terminated"]), 422, "validation_error",
            fields: ["status"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/finish", .json(["status": "active"]), 422, "validation_error", fields: ["status"]
        ),
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/finish", .json(["timestamp": false]), 422, "validation_error",
            fields: ["timestamp"]),
        BadRequest(.POST, "/api/v1/agent_instance/ai_nobody/finish", .json([:]), 404, "not_found"),
        // Terminate
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/terminate", .json(["reason": 5]), 422, "validation_error", fields: ["reason"]),
        BadRequest(.POST, "/api/v1/agent_instance/ai_nobody/terminate", .json(["reason": "x"]), 404, "not_found"),
        // Record quality
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/record_quality", .json([:]), 422, "validation_error",
            fields: ["name", "payload"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/record_quality", .json(["name": "accuracy", "payload": "great"]), 422,
            "validation_error",
            fields: ["payload"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/record_quality", .json(["name": 1, "payload": [:]]), 422, "validation_error",
            fields: ["name"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_fx/record_quality", .json(["name": "unknown", "payload": [:]]), 422,
            "validation_error",
            fields: ["name"]),
        BadRequest(
            .POST, "/api/v1/agent_instance/ai_nobody/record_quality", .json(["name": "accuracy", "payload": [:]]), 404,
            "not_found"),
        // Span create
        BadRequest(.POST, "/api/v1/agent_spans", .json([:]), 422, "validation_error", fields: ["details"]),
        BadRequest(.POST, "/api/v1/agent_spans", .json(["details": "x"]), 422, "validation_error", fields: ["details"]),
        BadRequest(.POST, "/api/v1/agent_spans", .json(["details": []]), 422, "validation_error", fields: ["details"]),
        BadRequest(
            .POST, "/api/v1/agent_spans", .json(["details": ["schema_name": "agent:llm", "status": "active"]]), 422,
            "validation_error",
            fields: ["agent_instance_id"]),
        BadRequest(
            .POST, "/api/v1/agent_spans", .json(["details": ["agent_instance_id": "ai_fx", "status": "active"]]), 422,
            "validation_error",
            fields: ["schema_name"]),
        BadRequest(
            .POST, "/api/v1/agent_spans",
            .json(["details": ["agent_instance_id": "ai_fx", "schema_name": "", "status": "active"]]), 422,
            "validation_error",
            fields: ["schema_name"]),
        BadRequest(
            .POST, "/api/v1/agent_spans", .json(["details": ["agent_instance_id": 12, "schema_name": "s", "status": "active"]]),
            422,
            "validation_error",
            fields: ["agent_instance_id"]),
        span(["payload": "a string"], fields: ["payload"]),
        span(["payload": [1, 2]], fields: ["payload"]),
        span(["result_payload": "x"], fields: ["result_payload"]),
        span(["status": 5], fields: ["status"]),
        // Both official SDKs always send the status.
        span(["status": nil], fields: ["status"]),
        span(["status": "running"], fields: ["status"]),
        span(["started_at": "noon"], fields: ["started_at"]),
        span(["finished_at": 7], fields: ["finished_at"]),
        span(["parent_span_id": 7], fields: ["parent_span_id"]),
        span(["id": ""], fields: ["id"]),
        span(["id": 9], fields: ["id"]),
        span(["idempotency_key": 5], fields: ["idempotency_key"]),
        BadRequest(
            .POST, "/api/v1/agent_spans",
            .json(["details": ["agent_instance_id": "ai_fx", "schema_name": "s", "status": "active"], "idempotency_key": 5]), 422,
            "validation_error", fields: ["idempotency_key"]),
        BadRequest(
            .POST, "/api/v1/agent_spans",
            .json(["details": ["agent_instance_id": "ai_nobody", "schema_name": "s", "status": "active"]]), 404,
            "not_found"),
        span(["id": "sp_fx"], status: 409, code: "conflict"),
        // Span finish
        BadRequest(.POST, "/api/v1/agent_spans/sp_fx/finish", .json(["status": 1]), 422, "validation_error", fields: ["status"]),
        BadRequest(
            .POST, "/api/v1/agent_spans/sp_fx/finish", .json(["status": "pending"]), 422, "validation_error", fields: ["status"]),
        BadRequest(
            .POST, "/api/v1/agent_spans/sp_fx/finish", .json(["result_payload": []]), 422, "validation_error",
            fields: ["result_payload"]),
        BadRequest(
            .POST, "/api/v1/agent_spans/sp_fx/finish", .json(["timestamp": "bad"]), 422, "validation_error", fields: ["timestamp"]
        ),
        BadRequest(.POST, "/api/v1/agent_spans/sp_nobody/finish", .json(["status": "complete"]), 404, "not_found"),
        // Agents
        BadRequest(.POST, "/api/v1/agent", .json([:]), 422, "validation_error", fields: ["details"]),
        BadRequest(.POST, "/api/v1/agent", .json(["details": "name"]), 422, "validation_error", fields: ["details"]),
        BadRequest(.POST, "/api/v1/agent", .json(["details": [:]]), 422, "validation_error", fields: ["name"]),
        BadRequest(.POST, "/api/v1/agent", .json(["details": ["name": 5]]), 422, "validation_error", fields: ["name"]),
        BadRequest(.POST, "/api/v1/agent", .json(["details": ["name": ""]]), 422, "validation_error", fields: ["name"]),
        // An agent with an empty id could never be addressed.
        BadRequest(.POST, "/api/v1/agent", .json(["details": ["name": "n", "id": ""]]), 422, "validation_error", fields: ["id"]),
        BadRequest(
            .POST, "/api/v1/agent", .json(["details": ["name": "x", "team_id": []]]), 422, "validation_error", fields: ["team_id"]
        ),
        BadRequest(
            .POST, "/api/v1/agent", .json(["details": ["name": "x"], "idempotency_key": 1]), 422, "validation_error",
            fields: ["idempotency_key"]),
        BadRequest(
            .PUT, "/api/v1/agent/agent_fx", .json(["details": ["description": 1]]), 422, "validation_error",
            fields: ["description"]),
        BadRequest(.PUT, "/api/v1/agent/agent_nobody", .json(["details": ["name": "x"]]), 404, "not_found"),
        BadRequest(
            .POST, "/api/v1/agent/agent_fx/retire", .json(["idempotency_key": 5]), 422, "validation_error",
            fields: ["idempotency_key"]),
        BadRequest(
            .DELETE, "/api/v1/agent/agent_fx", .json(["idempotency_key": []]), 422, "validation_error",
            fields: ["idempotency_key"]),
        BadRequest(.DELETE, "/api/v1/agent/agent_nobody", nil, 404, "not_found"),
    ]

    static func span(
        _ extra: [String: JSONValue], fields: Set<String>? = nil, status: Int = 422, code: String = "validation_error"
    ) -> BadRequest {
        var details: [String: JSONValue] = ["agent_instance_id": "ai_fx", "schema_name": "agent:llm", "status": "active"]
        details.merge(extra, uniquingKeysWith: { _, new in new })
        return BadRequest(.POST, "/api/v1/agent_spans", .json(["details": .object(details)]), status, code, fields: fields)
    }
}

@Suite(.timeLimit(.minutes(1)))
struct BadInputTests {
    /// Fixture data every bad request aims at: agent `agent_fx`, active instance `ai_fx` with quality and span `sp_fx`.
    static func makeFixture(_ api: API) async throws {
        _ = try await api.createAgent(["id": "agent_fx", "name": "Fixture"])
        _ = try await api.register(["id": "ai_fx"])
        _ = try await api.post("/api/v1/agent_instance/ai_fx/start", [:]).details()
        _ = try await api.post("/api/v1/agent_instance/ai_fx/record_quality", ["name": "accuracy", "payload": ["score": 1]])
            .details()
        _ = try await api.createSpan(instance: "ai_fx", ["id": "sp_fx"]).details()
    }

    static func state(_ api: API) async throws -> String {
        try await api.snapshot(instances: ["ai_fx"]) + (try await api.get("/api/v1/agent/agent_fx").text)
    }

    @Test(arguments: BadRequest.unparsable + BadRequest.invalid)
    func badRequestIsRejectedAndChangesNothing(_ bad: BadRequest) async throws {
        try await withAPI { api in
            try await Self.makeFixture(api)
            let before = try await Self.state(api)
            let reply = try await api.send(bad.method, bad.path, body: bad.body)
            reply.expectError(bad.status, bad.code)
            if let fields = bad.fields { #expect(reply.errorFields == fields, "\(reply)") }
            #expect(try await Self.state(api) == before, "a rejected request changed stored data")
        }
    }

    // MARK: Oversized bodies

    /// A JSON object of exactly `size` bytes: `{"reason":"aaaa…"}`.
    static func paddedBody(size: Int) -> [UInt8] {
        let overhead = #"{"reason":""}"#.utf8.count
        return Array((#"{"reason":""# + String(repeating: "a", count: size - overhead) + #""}"#).utf8)
    }

    @Test func aBodyOfExactlyTheLimitIsAccepted() async throws {
        try await withAPI { api in
            let id = try await api.instance(in: .active)
            let body = Self.paddedBody(size: ServerConfiguration.defaultMaxBodyBytes)
            #expect(body.count == 1 << 20)
            let details = try await api.send(.POST, "/api/v1/agent_instance/\(id)/terminate", body: .bytes(body)).details()
            #expect(details["termination_reason"]?.stringValue?.count == (1 << 20) - 13)
        }
    }

    @Test(arguments: [false, true])
    func aBodyOverTheLimitIsTooLarge(chunked: Bool) async throws {
        try await withAPI { api in
            try await Self.makeFixture(api)
            let before = try await Self.state(api)
            let body = Self.paddedBody(size: ServerConfiguration.defaultMaxBodyBytes + 1)
            let reply = try await api.send(
                .POST, "/api/v1/agent_instance/ai_fx/terminate", body: chunked ? .chunked(body) : .bytes(body))
            reply.expectError(413, "payload_too_large")
            #expect(try await Self.state(api) == before)
            // The server is still healthy afterwards.
            try await api.get("/api/v1/ping").expectSuccess()
        }
    }

    @Test func aContentLengthOverTheLimitIsRefusedBeforeTheBodyArrives() async throws {
        try await withAPI { api in
            try await Self.makeFixture(api)
            let before = try await Self.state(api)
            let request =
                "POST /api/v1/agent_spans HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(api.server.token)\r\n"
                + "Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{\"details\":"
            let response = try await RawHTTP.exchange(port: api.server.port, request: request)
            #expect(response.status == 413, "\(response.head)")
            let json = try JSONValue(parsing: .init(response.body))
            #expect(json["status"] == "error")
            #expect(json["code"] == "payload_too_large")
            #expect(try await Self.state(api) == before)
        }
    }

    @Test func aRawRequestWithAMalformedBodyGetsTheJSONEnvelope() async throws {
        try await withAPI { api in
            let body = "{\"details\": nope}"
            let request =
                "POST /api/v1/agent_spans HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(api.server.token)\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            let response = try await RawHTTP.exchange(port: api.server.port, request: request)
            #expect(response.status == 400)
            #expect(response.head.lowercased().contains("content-type: application/json"))
            #expect(try JSONValue(parsing: .init(response.body))["code"] == "invalid_json")
        }
    }

    @Test func deeplyNestedJSONIsRejectedWithoutAServerError() async throws {
        try await withAPI { api in
            let id = try await api.instance(in: .active)
            let before = try await api.snapshot(instances: [id])
            let depth = 5_000
            let body = #"{"reason":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
            let reply = try await api.send(.POST, "/api/v1/agent_instance/\(id)/terminate", body: .text(body))
            #expect(reply.status == 400 || reply.status == 422, "\(reply)")
            reply.expectError(reply.status)
            #expect(try await api.snapshot(instances: [id]) == before)
        }
    }

    @Test func aChunkedBodyWithinTheLimitIsRead() async throws {
        try await withAPI { api in
            let body = Array(#"{"agent_version": {}, "purpose": "eval", "id": "ai_chunked"}"#.utf8)
            let details = try await api.send(.POST, "/api/v1/agent_instance/register", body: .chunked(body)).details()
            #expect(details["id"] == "ai_chunked")
            #expect(details["purpose"] == "eval")
        }
    }

    @Test func emptyBodiesReadAsAnEmptyObject() async throws {
        try await withAPI { api in
            let id = try await api.registerID()
            #expect(try await api.send(.POST, "/api/v1/agent_instance/\(id)/start").details()["status"] == "active")
            #expect(
                try await api.send(.POST, "/api/v1/agent_instance/\(id)/finish", body: .text("  \n")).details()["status"]
                    == "complete")
        }
    }
}
