import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// One event of the agent-instance state machine (spec §4.2).
enum InstanceEvent: Sendable, Hashable, CustomTestStringConvertible {
    case start
    /// Finish with this status, or with none (the server default, `complete`).
    case finish(String?)
    case terminate

    static let all: [InstanceEvent] = [
        .start, .finish(nil), .finish("complete"), .finish("failed"), .finish("cancelled"), .terminate,
    ]

    var testDescription: String {
        switch self {
        case .start: "start"
        case .finish(let status): "finish(\(status ?? "no status"))"
        case .terminate: "terminate"
        }
    }

    /// Where the event leads from `state`, or `nil` when it is illegal (409 `invalid_action`).
    func target(from state: InstanceState) -> InstanceState? {
        switch self {
        case .start: return state == .pending ? .active : nil
        case .finish(let status): return state.isTerminal ? nil : InstanceState(rawValue: status ?? "complete")
        case .terminate: return state.isTerminal ? nil : .terminated
        }
    }
}

/// A status a span is created with, and the finish statuses (spec §4.3).
enum SpanFinish: Sendable, Hashable, CustomTestStringConvertible {
    case status(String)
    case noStatus

    static let all: [SpanFinish] = [.noStatus, .status("complete"), .status("failed"), .status("cancelled")]

    var testDescription: String {
        switch self {
        case .status(let status): "finish(\(status))"
        case .noStatus: "finish(no status)"
        }
    }

    var body: JSONValue {
        switch self {
        case .status(let status): ["status": .string(status), "result_payload": ["response": "done"]]
        case .noStatus: [:]
        }
    }

    /// Where finishing a span created as `created` leads, or `nil` when it is illegal.
    func target(from created: String) -> String? {
        let status: String
        switch self {
        case .status(let value): status = value
        case .noStatus: status = "complete"
        }
        switch created {
        case "active": return status
        case "pending": return status == "cancelled" ? "cancelled" : nil
        default: return nil
        }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct InstanceStateMachineTests {
    @Test(arguments: InstanceState.allCases, InstanceEvent.all)
    func transition(from state: InstanceState, event: InstanceEvent) async throws {
        try await withAPI { api in
            let id = try await api.instance(in: state)
            let before = try await api.getInstance(id)
            let beforeDetails = try before.details()
            let path = "/api/v1/agent_instance/\(id)"
            let reply: Reply
            switch event {
            case .start: reply = try await api.post(path + "/start", ["timestamp": nil])
            case .finish(let status):
                reply = try await api.post(path + "/finish", status.map { ["status": .string($0)] } ?? [:])
            case .terminate: reply = try await api.post(path + "/terminate", ["reason": "operator"])
            }
            let after = try await api.getInstance(id)

            guard let target = event.target(from: state) else {
                reply.expectError(409, "invalid_action")
                expectIdentical(after, before, "a rejected transition changed the instance")
                return
            }
            let details = try reply.details()
            #expect(details["status"] == .string(target.rawValue))
            expectIdentical(after, reply, "GET after the transition differs from its response")
            switch event {
            case .start:
                #expect(isZuluMicroseconds(details["started_at"]))
                #expect(details["finished_at"] == .null)
            case .finish:
                #expect(isZuluMicroseconds(details["finished_at"]))
                #expect(details["started_at"] == beforeDetails["started_at"])
                #expect(details["termination_reason"] == .null)
            case .terminate:
                #expect(isZuluMicroseconds(details["finished_at"]))
                #expect(details["termination_reason"] == "operator")
            }
        }
    }

    @Test func finishOnATerminatedInstanceIsRejectedAndKeepsTheReason() async throws {
        try await withAPI { api in
            let id = try await api.instance(in: .terminated)
            try await api.post("/api/v1/agent_instance/\(id)/finish", ["status": "complete"]).expectError(409, "invalid_action")
            let details = try await api.getInstance(id).details()
            #expect(details["status"] == "terminated")
            #expect(details["termination_reason"] == "stopped by test")
        }
    }

    @Test(arguments: ["start", "finish", "terminate"])
    func transitionsOfAnUnknownInstanceAreNotFound(action: String) async throws {
        try await withAPI { api in
            try await api.post("/api/v1/agent_instance/ai_missing/\(action)", [:]).expectError(404, "not_found")
        }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct SpanStateMachineTests {
    static let creatable = ["pending", "active", "complete", "failed", "cancelled"]

    @Test(arguments: creatable)
    func createWithStatus(_ status: String) async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            let details = try await api.createSpan(instance: instance, status: status).details()
            #expect(details["status"] == .string(status))
            let terminal = status != "pending" && status != "active"
            #expect(isZuluMicroseconds(details["started_at"]))
            #expect(terminal ? isZuluMicroseconds(details["finished_at"]) : details["finished_at"] == .null)
            let counts = try await api.spanCounts(instance)
            #expect(counts[status] == 1)
            #expect(counts["total"] == 1)
            #expect(counts["finished"] == (terminal ? 1 : 0))
        }
    }

    @Test func createWithStatusTerminatedIsRejected() async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            let reply = try await api.createSpan(instance: instance, status: "terminated")
            reply.expectError(422, "validation_error")
            #expect(reply.errorFields == ["status"])
            #expect(try await api.spans(of: instance).isEmpty)
            #expect(try await api.spanCounts(instance)["total"] == 0)
        }
    }

    @Test(arguments: creatable, SpanFinish.all)
    func finish(createdAs created: String, with finish: SpanFinish) async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            let span = try await api.createSpanID(instance: instance, status: created)
            let beforeSpans = try await api.spans(of: instance)
            let beforeCounts = try await api.spanCounts(instance)
            let reply = try await api.post("/api/v1/agent_spans/\(span)/finish", finish.body)

            guard let target = finish.target(from: created) else {
                reply.expectError(409, "invalid_action")
                #expect(try await api.spans(of: instance) == beforeSpans)
                #expect(try await api.spanCounts(instance) == beforeCounts)
                return
            }
            let details = try reply.details()
            #expect(details["status"] == .string(target))
            #expect(isZuluMicroseconds(details["finished_at"]))
            #expect(details["control"] == nil)
            #expect(reply.json?["control"] == nil)
            if case .status = finish { #expect(details["result_payload"] == ["response": "done"]) }
            let listed = try await api.spans(of: instance)
            #expect(listed.count == 1)
            #expect(listed.first?["status"] == .string(target))

            var expected = beforeCounts
            expected[created, default: 0] -= 1
            expected[target, default: 0] += 1
            expected["finished", default: 0] += 1
            #expect(try await api.spanCounts(instance) == expected)
        }
    }

    @Test func cancellingANeverStartedSpanIsPendingThenCancelled() async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            let created = try await api.createSpan(
                instance: instance, status: "pending", ["payload": [:], "idempotency_key": "create-key-0001"]
            ).details()
            #expect(created["status"] == "pending")
            let span = try #require(created["id"]?.stringValue)
            let cancelled = try await api.post(
                "/api/v1/agent_spans/\(span)/finish", ["status": "cancelled", "idempotency_key": "finish-key-0001"]
            ).details()
            #expect(cancelled["status"] == "cancelled")
            #expect(
                try await api.spanCounts(instance) == [
                    "total": 1, "pending": 0, "active": 0, "complete": 0, "failed": 0, "cancelled": 1, "finished": 1,
                ])
        }
    }

    @Test func finishingAPendingSpanAsCompleteIsInvalidAction() async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            let span = try await api.createSpanID(instance: instance, status: "pending")
            let reply = try await api.post("/api/v1/agent_spans/\(span)/finish", ["status": "complete"])
            reply.expectError(409, "invalid_action")
            #expect(try await api.spans(of: instance).first?["status"] == "pending")
        }
    }

    @Test func finishingTwiceIsInvalidActionAndKeepsTheFirstResult() async throws {
        try await withAPI { api in
            let instance = try await api.instance(in: .active)
            let span = try await api.createSpanID(instance: instance)
            let first = try await api.post(
                "/api/v1/agent_spans/\(span)/finish", ["status": "failed", "result_payload": ["n": 1]])
            _ = try first.details()
            let second = try await api.post(
                "/api/v1/agent_spans/\(span)/finish", ["status": "complete", "result_payload": ["n": 2]])
            second.expectError(409, "invalid_action")
            let listed = try await api.spans(of: instance)
            #expect(listed.first?["status"] == "failed")
            #expect(listed.first?["result_payload"] == ["n": 1])
        }
    }

    @Test func finishingAnUnknownSpanIsNotFound() async throws {
        try await withAPI { api in
            try await api.post("/api/v1/agent_spans/sp_missing/finish", ["status": "complete"]).expectError(404, "not_found")
        }
    }
}
