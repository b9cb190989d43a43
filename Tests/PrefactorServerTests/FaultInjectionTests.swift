import Foundation
import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

@Suite(.timeLimit(.minutes(1)))
struct FaultInjectionTests {
    /// The rules a server reports over `GET /__prefactor/faults`.
    ///
    /// Reads the rules from the success envelope's `details` or, as the server currently answers, from a bare array
    /// (see ``adminRoutesAnswerTheSuccessEnvelope()``).
    static func reportedRules(_ api: API, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [FaultRule] {
        try rules(in: try await api.get("/__prefactor/faults"), sourceLocation: sourceLocation)
    }

    static func rules(in reply: Reply, sourceLocation: SourceLocation = #_sourceLocation) throws -> [FaultRule] {
        #expect(reply.status == 200, "\(reply)", sourceLocation: sourceLocation)
        let value = try #require(reply.json?["details"] ?? reply.json, "\(reply)", sourceLocation: sourceLocation)
        return try JSONDecoder().decode([FaultRule].self, from: Data(JSONText.serialize(value).utf8))
    }

    // MARK: Status faults

    @Test func aStatusFaultFailsNRequestsThenTheRouteWorks() async throws {
        try await withAPI(allowServerErrors: true) { api in
            let instance = try await api.registerID()
            api.server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 503, count: 2))
            api.server.requests.reset()

            try await api.createSpan(instance: instance).expectError(503, "injected_fault")
            // Other routes, including the span finish below the same prefix, are untouched.
            try await api.get("/api/v1/ping").expectSuccess()
            try await api.post("/api/v1/agent_spans/sp_none/finish", [:]).expectError(404, "not_found")
            try await api.createSpan(instance: instance).expectError(503, "injected_fault")
            #expect(try await api.spans(of: instance).isEmpty, "a failed request must not reach the store")

            let created = try await api.createSpan(instance: instance)
            created.expectSuccess()
            #expect(try await api.spans(of: instance).count == 1)
            #expect(api.server.faults.current.isEmpty, "an exhausted rule is removed")
            #expect(try await Self.reportedRules(api).isEmpty)
            #expect(
                api.server.requests.requests(method: "POST", pathPrefix: "/api/v1/agent_spans").map(\.status) == [
                    503, 404, 503, 200,
                ])
        }
    }

    @Test func faultsGivenAtStartApplyFromTheFirstRequest() async throws {
        let faults = [
            try FaultRule(parsing: "GET /api/v1/ping:status=500,count=1"),
            try FaultRule(parsing: "POST /api/v1/agent_instance/*/finish:status=429"),
        ]
        try await withAPI(faults: faults, allowServerErrors: true) { api in
            try await api.get("/api/v1/ping").expectError(500, "injected_fault")
            try await api.get("/api/v1/ping").expectSuccess()
            let id = try await api.instance(in: .active)
            for _ in 0..<3 {
                try await api.post("/api/v1/agent_instance/\(id)/finish", [:]).expectError(429, "injected_fault")
            }
            #expect(try await api.getInstance(id).details()["status"] == "active")
            #expect(api.server.faults.current == [faults[1]], "a rule without count stays in force")
        }
    }

    @Test func wildcardsMatchMethodsAndPaths() async throws {
        try await withAPI(allowServerErrors: true) { api in
            let id = try await api.registerID()
            api.server.faults.add(try FaultRule(parsing: "GET *:status=502"))
            try await api.get("/api/v1/ping").expectError(502, "injected_fault")
            try await api.getInstance(id).expectError(502, "injected_fault")
            // A POST is not a GET.
            _ = try await api.post("/api/v1/agent_instance/\(id)/start", [:]).details()
        }
    }

    // MARK: Latency

    @Test func latencyDelaysTheResponse() async throws {
        try await withAPI { api in
            api.server.faults.add(try FaultRule(parsing: "GET /api/v1/ping:latency=300,count=1"))
            let clock = ContinuousClock()
            let start = clock.now
            let reply = try await api.get("/api/v1/ping")
            let elapsed = clock.now - start
            reply.expectSuccess()
            #expect(elapsed >= .milliseconds(300), "answered after \(elapsed)")
            #expect(api.server.faults.current.isEmpty)
        }
    }

    @Test func latencyAndStatusCombine() async throws {
        try await withAPI(allowServerErrors: true) { api in
            api.server.faults.add(FaultRule(path: "/api/v1/ping", count: 1, latencyMilliseconds: 200))
            api.server.faults.add(FaultRule(path: "/api/v1/ping", status: 504, count: 1))
            let clock = ContinuousClock()
            let start = clock.now
            let reply = try await api.get("/api/v1/ping")
            #expect(clock.now - start >= .milliseconds(200))
            reply.expectError(504, "injected_fault")
            try await api.get("/api/v1/ping").expectSuccess()
        }
    }

    // MARK: Dropped connections

    @Test func aDroppedConnectionIsAnErrorNotAResponse() async throws {
        try await withAPI(allowServerErrors: true) { api in
            let id = try await api.registerID()
            api.server.faults.add(try FaultRule(parsing: "POST /api/v1/agent_instance/*/start:drop,count=1"))
            await #expect(throws: (any Error).self) {
                let reply = try await api.post("/api/v1/agent_instance/\(id)/start", [:])
                Issue.record("expected a connection error, got \(reply)")
            }
            #expect(try await api.getInstance(id).details()["status"] == "pending", "the dropped request did nothing")
            #expect(api.server.requests.requests(method: "POST", pathPrefix: "/api/v1/agent_instance").last?.status == 0)
            // The rule is used up: the retry goes through.
            #expect(try await api.post("/api/v1/agent_instance/\(id)/start", [:]).details()["status"] == "active")
        }
    }

    // MARK: Admin routes

    @Test func adminRoutesListAddAndClearRules() async throws {
        try await withAPI(allowServerErrors: true) { api in
            #expect(try await Self.reportedRules(api).isEmpty)

            let added = try await api.post(
                "/__prefactor/faults", ["method": "get", "path": "/api/v1/ping", "status": 418, "count": 1])
            let expected = FaultRule(method: "GET", path: "/api/v1/ping", status: 418, count: 1)
            #expect(try Self.rules(in: added) == [expected])
            #expect(try await Self.reportedRules(api) == [expected])
            #expect(api.server.faults.current == [expected])

            try await api.get("/api/v1/ping").expectError(418, "injected_fault")
            try await api.get("/api/v1/ping").expectSuccess()
            #expect(try await Self.reportedRules(api).isEmpty)

            _ = try await api.post("/__prefactor/faults", ["path": "*", "status": 503])
            _ = try await api.post("/__prefactor/faults", ["path": "/api/v1/*", "latency_ms": 5, "drop": false])
            // Faults never apply to the admin routes themselves.
            #expect(try await Self.reportedRules(api).count == 2)
            try await api.get("/api/v1/ping").expectError(503, "injected_fault")

            let cleared = try await api.delete("/__prefactor/faults")
            #expect(try Self.rules(in: cleared).isEmpty)
            #expect(api.server.faults.current.isEmpty)
            try await api.get("/api/v1/ping").expectSuccess()
        }
    }

    @Test(arguments: [
        (API.Body.json(["path": "/api/v1/ping"]), 422, "validation_error"),
        (.json(["path": "/api/v1/ping", "status": 1000]), 422, "validation_error"),
        (.json(["path": "/api/v1/ping", "latency_ms": 600_001]), 422, "validation_error"),
        (.json(["path": "/api/v1/ping", "status": "503"]), 400, "bad_request"),
        (.text("status=503"), 400, "bad_request"),
        (.text("[]"), 400, "bad_request"),
    ])
    func adminRoutesRejectBadRules(body: API.Body, status: Int, code: String) async throws {
        try await withAPI { api in
            let reply = try await api.send(.POST, "/__prefactor/faults", body: body)
            reply.expectError(status, code)
            #expect(api.server.faults.current.isEmpty)
            try await api.get("/api/v1/ping").expectSuccess()
        }
    }

    /// The JSON form must be validated like the command-line form, which rejects negative numbers.
    @Test(
        arguments: [
            ["path": "/api/v1/ping", "latency_ms": -5],
            ["path": "/api/v1/ping", "status": 503, "count": -1],
        ] as [JSONValue])
    func adminRoutesRejectNegativeNumbersLikeTheParser(rule: JSONValue) async throws {
        try await withAPI(allowServerErrors: true) { api in
            let reply = try await api.post("/__prefactor/faults", rule)
            reply.expectError(422, "validation_error")
            #expect(api.server.faults.current.isEmpty)
        }
    }

    @Test func statsCountRequests() async throws {
        try await withAPI { api in
            for _ in 0..<3 { try await api.get("/api/v1/ping").expectSuccess() }
            let reply = try await api.get("/__prefactor/stats")
            #expect(reply.status == 200)
            let stats = try #require(reply.json?["details"] ?? reply.json)
            // Three pings, plus this request once it is logged (the count is taken before).
            #expect(stats["requests"] == 3)
        }
    }

    /// Spec §1.4 and §10.7: every answer is a JSON object, successes in the `{"status": "success", "details": …}`
    /// envelope. The admin routes answer a bare array (faults) or a bare object (stats).
    @Test func adminRoutesAnswerTheSuccessEnvelope() async throws {
        try await withAPI { api in
            let replies = [
                try await api.get("/__prefactor/faults"),
                try await api.post("/__prefactor/faults", ["path": "/nowhere", "status": 500]),
                try await api.delete("/__prefactor/faults"),
                try await api.get("/__prefactor/stats"),
            ]
            for reply in replies {
                #expect(reply.status == 200)
                #expect(reply.json?["status"] == "success", "\(reply)")
                #expect(reply.json?["details"] != nil, "\(reply)")
            }
        }
    }

    // MARK: Parsing

    @Test(arguments: [
        (
            "POST /api/v1/agent_spans:status=503,count=3",
            FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 503, count: 3)
        ),
        ("*:latency=50", FaultRule(path: "*", latencyMilliseconds: 50)),
        (
            "post /api/v1/agent_spans/*/finish:drop,count=1",
            FaultRule(method: "POST", path: "/api/v1/agent_spans/*/finish", count: 1, dropConnection: true)
        ),
        (":status=500", FaultRule(path: "*", status: 500)),
        ("GET  /api/v1/ping : status = 404 , count = 2", FaultRule(method: "GET", path: "/api/v1/ping", status: 404, count: 2)),
        ("/a:status=500,latency=10", FaultRule(path: "/a", status: 500, latencyMilliseconds: 10)),
        ("/a:status=100", FaultRule(path: "/a", status: 100)),
        ("/a:status=599", FaultRule(path: "/a", status: 599)),
        ("/a:latency=600000", FaultRule(path: "/a", latencyMilliseconds: 600_000)),
    ])
    func parsingAcceptsTheCommandLineForm(text: String, expected: FaultRule) throws {
        #expect(try FaultRule(parsing: text) == expected)
    }

    @Test(arguments: [
        "POST /api/v1/agent_spans", "/a:", "/a:count=3", "/a:status", "/a:status=abc", "/a:status=99", "/a:status=600",
        "/a:status=-1", "/a:latency=-5", "/a:latency=600001", "/a:bogus=1", "/a:status=500,colour=red",
    ])
    func parsingRejectsBadRules(text: String) {
        #expect(throws: FaultRuleError.self) { try FaultRule(parsing: text) }
    }

    @Test func parsingErrorsNameTheRuleAndTheProblem() {
        let error = #expect(throws: FaultRuleError.self) { try FaultRule(parsing: "/a:colour=red") }
        #expect(error?.description.contains("colour") == true)
        #expect(error?.text == "/a:colour=red")
    }

    /// `count=N` is "how many matching requests the rule applies to", so `count=0` must apply to none.
    @Test func aRuleWithCountZeroAppliesToNoRequest() async throws {
        try await withAPI(allowServerErrors: true) { api in
            // Rejecting such a rule would be fine too.
            guard let rule = try? FaultRule(parsing: "GET /api/v1/ping:status=503,count=0") else { return }
            api.server.faults.add(rule)
            let reply = try await api.get("/api/v1/ping")
            #expect(reply.status == 200, "\(reply)")
        }
    }
}
