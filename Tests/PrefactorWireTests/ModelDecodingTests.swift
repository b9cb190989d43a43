import Foundation
import PrefactorWire
import Testing

/// Models decode as strictly as the Python SDK's pydantic models (spec §2, conformance checks 8, 9, 20).
struct ModelDecodingTests {
    static func decode<T: Decodable>(_ type: T.Type, _ value: JSONValue) throws -> T {
        try WireCoding.decoder.decode(T.self, from: WireCoding.sortedEncoder.encode(value))
    }

    static func replacing(_ object: JSONValue, _ key: String, with value: JSONValue?) -> JSONValue {
        var members = object.objectValue ?? [:]
        members[key] = value
        return .object(members)
    }

    static let instance: JSONValue = [
        "type": "agent_instance", "id": "ai_1", "account_id": "acc_1", "agent_id": "agent_1",
        "agent_version_id": "av_1", "environment_id": "env_1", "agent_deployment_id": "dep_1", "status": "active",
        "inserted_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:01.5Z",
        "started_at": "2024-01-01T00:00:00.250000+00:00", "finished_at": nil, "termination_reason": nil,
        "span_counts": ["total": 3, "pending": 0, "active": 1, "complete": 1, "failed": 1, "cancelled": 0, "finished": 2],
        "purpose": "smoke_test", "quality_payloads": ["accuracy": ["score": 0.5]],
        "quality_summaries": ["accuracy": "0.5"], "unknown_extra_field": ["ignored": true],
    ]

    static let span: JSONValue = [
        "type": "agent_span", "id": "sp_1", "agent_instance_id": "ai_1", "schema_name": "agent:llm",
        "status": "complete", "account_id": "acc_1", "agent_id": "agent_1", "parent_span_id": "sp_0",
        "schema_title": "LLM Call", "payload": ["model": "m", "tokens": 42], "result_payload": ["response": "r"],
        "summary": "m -> r", "started_at": "2024-01-01T00:00:00Z", "inserted_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:02Z", "finished_at": "2024-01-01T00:00:02Z",
    ]

    static let agent: JSONValue = [
        "type": "agent", "id": "agent_1", "name": "Agent", "status": "dormant", "description": "d",
        "external_identifier": "ext", "owner_person_id": nil, "risk_profile_id": "rp", "team_id": "t",
        "instance_counts": [
            "total": 2, "pending": 0, "active": 1, "complete": 1, "failed": 0, "cancelled": 0, "terminated": 0,
            "finished": 1,
        ],
        "available_actions": ["update": true, "retire": true, "reinstate": false, "delete": false],
        "inserted_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
    ]

    // MARK: AgentInstance

    @Test func fullInstanceDecodes() throws {
        let instance = try Self.decode(AgentInstance.self, Self.instance)
        #expect(instance.id == "ai_1")
        #expect(instance.accountID == "acc_1")
        #expect(instance.agentDeploymentID == "dep_1")
        #expect(instance.status == .active)
        #expect(instance.purpose == .smokeTest)
        #expect(WireDate.microseconds(of: instance.updatedAt) == WireDate.parseMicroseconds("2024-01-01T00:00:01.5Z"))
        #expect(WireDate.microseconds(of: try #require(instance.startedAt)) == 1_704_067_200_250_000)
        #expect(instance.finishedAt == nil)
        #expect(instance.spanCounts == SpanCounts(total: 3, active: 1, complete: 1, failed: 1, finished: 2))
        #expect(instance.qualityPayloads == ["accuracy": ["score": 0.5]])
        #expect(instance.qualitySummaries == ["accuracy": "0.5"])
    }

    @Test func minimalInstanceDecodesWithOptionalsAbsent() throws {
        let required: Set<String> = [
            "type", "id", "account_id", "agent_id", "agent_version_id", "environment_id", "agent_deployment_id", "status",
            "inserted_at", "updated_at",
        ]
        let minimal = JSONValue.object(Self.instance.objectValue!.filter { required.contains($0.key) })
        let instance = try Self.decode(AgentInstance.self, minimal)
        #expect(instance.startedAt == nil)
        #expect(instance.spanCounts == nil)
        #expect(instance.purpose == nil)
        #expect(instance.qualityPayloads == nil)
    }

    @Test func instanceWithOnlyAnIDFails() {
        // Conformance check 8.
        #expect(throws: DecodingError.self) { try Self.decode(AgentInstance.self, ["id": "ai_1"]) }
        #expect(throws: DecodingError.self) { try Self.decode(AgentInstance.self, ["type": "agent_instance", "id": "ai_1"]) }
    }

    @Test(arguments: [
        "type", "id", "account_id", "agent_id", "agent_version_id", "environment_id", "agent_deployment_id", "status",
        "inserted_at", "updated_at",
    ])
    func instanceMissingARequiredFieldFails(field: String) {
        #expect(throws: DecodingError.self) {
            try Self.decode(AgentInstance.self, Self.replacing(Self.instance, field, with: nil))
        }
        #expect(throws: DecodingError.self) {
            try Self.decode(AgentInstance.self, Self.replacing(Self.instance, field, with: .null))
        }
    }

    @Test(arguments: AgentStatus.allCases)
    func everyInstanceStatusDecodes(status: AgentStatus) throws {
        // Conformance check 9.
        let value = Self.replacing(Self.instance, "status", with: .string(status.rawValue))
        #expect(try Self.decode(AgentInstance.self, value).status == status)
    }

    @Test(arguments: ["running", "Active", "", "success", "done"])
    func unknownInstanceStatusFails(status: String) {
        #expect(throws: DecodingError.self) {
            try Self.decode(AgentInstance.self, Self.replacing(Self.instance, "status", with: .string(status)))
        }
    }

    @Test func instanceWithTheWrongTypeFails() {
        #expect(throws: DecodingError.self) {
            try Self.decode(AgentInstance.self, Self.replacing(Self.instance, "type", with: "agent_span"))
        }
    }

    @Test(
        arguments: [
            ("id", JSONValue.int(5)), ("status", .int(1)), ("inserted_at", .int(1_704_067_200)),
            ("inserted_at", "not a date"), ("started_at", "2024-13-01T00:00:00Z"), ("span_counts", "3"),
            ("span_counts", ["total": 1]),
            (
                "span_counts",
                ["total": 1.5, "pending": 0, "active": 0, "complete": 0, "failed": 0, "cancelled": 0, "finished": 0]
            ),
            ("purpose", "production"), ("quality_payloads", ["accuracy"]), ("quality_summaries", ["accuracy": 1]),
            ("termination_reason", .bool(true)),
        ] as [(String, JSONValue)])
    func instanceTypeMismatchFails(field: String, value: JSONValue) {
        #expect(throws: DecodingError.self) {
            try Self.decode(AgentInstance.self, Self.replacing(Self.instance, field, with: value))
        }
    }

    @Test func instanceRoundTripsThroughItsEncoding() throws {
        let instance = try Self.decode(AgentInstance.self, Self.instance)
        let back = try WireCoding.decoder.decode(AgentInstance.self, from: WireCoding.encoder(style: .zulu).encode(instance))
        #expect(back == instance)
    }

    // MARK: AgentSpan

    @Test func fullSpanDecodesAndKeepsIntegerPayloads() throws {
        let span = try Self.decode(AgentSpan.self, Self.span)
        #expect(span.id == "sp_1")
        #expect(span.parentSpanID == "sp_0")
        #expect(span.status == .complete)
        #expect(span.payload == ["model": "m", "tokens": .int(42)])
        #expect(span.resultPayload == ["response": "r"])
        #expect(span.summary == "m -> r")
    }

    @Test func spanPayloadDefaultsToEmptyButMustNotBeNull() throws {
        let absent = try Self.decode(AgentSpan.self, Self.replacing(Self.span, "payload", with: nil))
        #expect(absent.payload == [:])
        #expect(throws: DecodingError.self) { try Self.decode(AgentSpan.self, Self.replacing(Self.span, "payload", with: .null)) }
        #expect(throws: DecodingError.self) { try Self.decode(AgentSpan.self, Self.replacing(Self.span, "payload", with: "x")) }
        let nullResult = try Self.decode(AgentSpan.self, Self.replacing(Self.span, "result_payload", with: .null))
        #expect(nullResult.resultPayload == nil)
    }

    @Test(arguments: ["type", "id", "agent_instance_id", "schema_name", "status"])
    func spanMissingARequiredFieldFails(field: String) {
        #expect(throws: DecodingError.self) { try Self.decode(AgentSpan.self, Self.replacing(Self.span, field, with: nil)) }
    }

    @Test func spanWithUnknownStatusOrWrongTypeFails() {
        #expect(throws: DecodingError.self) {
            try Self.decode(AgentSpan.self, Self.replacing(Self.span, "status", with: "running"))
        }
        #expect(throws: DecodingError.self) {
            try Self.decode(AgentSpan.self, Self.replacing(Self.span, "type", with: "agent_instance"))
        }
        #expect(throws: DecodingError.self) {
            try Self.decode(AgentSpan.self, Self.replacing(Self.span, "parent_span_id", with: 3))
        }
    }

    // MARK: Agent

    @Test func fullAgentDecodes() throws {
        let agent = try Self.decode(Agent.self, Self.agent)
        #expect(agent.status == .dormant)
        #expect(agent.externalIdentifier == "ext")
        #expect(agent.ownerPersonID == nil)
        #expect(agent.instanceCounts?.finished == 1)
        #expect(agent.availableActions == AvailableActions(update: true, retire: true))
    }

    @Test func agentSummaryWithoutCountsDecodes() throws {
        let summary = Self.replacing(Self.replacing(Self.agent, "instance_counts", with: nil), "risk_profile_id", with: nil)
        let agent = try Self.decode(Agent.self, summary)
        #expect(agent.instanceCounts == nil)
        #expect(agent.riskProfileID == nil)
    }

    @Test func agentStrictness() {
        for field in ["type", "id", "name", "status"] {
            #expect(throws: DecodingError.self, "\(field)") {
                try Self.decode(Agent.self, Self.replacing(Self.agent, field, with: nil))
            }
        }
        #expect(throws: DecodingError.self) {
            try Self.decode(Agent.self, Self.replacing(Self.agent, "status", with: "complete"))
        }
        #expect(throws: DecodingError.self) { try Self.decode(Agent.self, Self.replacing(Self.agent, "type", with: "agents")) }
        #expect(throws: DecodingError.self) { try Self.decode(Agent.self, Self.replacing(Self.agent, "name", with: 1)) }
    }

    @Test(arguments: AgentLifecycleStatus.allCases)
    func everyAgentStatusDecodes(status: AgentLifecycleStatus) throws {
        #expect(
            try Self.decode(Agent.self, Self.replacing(Self.agent, "status", with: .string(status.rawValue))).status == status)
    }

    // MARK: Envelopes and control

    @Test func singleEnvelopeRequiresStatusAndDetails() throws {
        let envelope = try Self.decode(SingleEnvelope<AgentSpan>.self, ["status": "success", "details": Self.span])
        #expect(envelope.details.id == "sp_1")
        #expect(envelope.control == nil)
        #expect(throws: DecodingError.self) { try Self.decode(SingleEnvelope<AgentSpan>.self, ["details": Self.span]) }
        #expect(throws: DecodingError.self) { try Self.decode(SingleEnvelope<AgentSpan>.self, ["status": "success"]) }
    }

    struct ControlCase: Sendable {
        var control: JSONValue
        var expected: ControlSignal?
        init(_ control: JSONValue, _ expected: ControlSignal?) {
            self.control = control
            self.expected = expected
        }
    }

    @Test(arguments: [
        ControlCase(
            ["terminate": true, "reason": "demo termination"], ControlSignal(terminate: true, reason: "demo termination")),
        ControlCase(["terminate": true, "reason": nil], ControlSignal(terminate: true, reason: nil)),
        ControlCase(["terminate": true], ControlSignal(terminate: true, reason: nil)),
        ControlCase(["terminate": 1, "reason": "r"], ControlSignal(terminate: true, reason: "r")),
        ControlCase(["terminate": "yes"], ControlSignal(terminate: true, reason: nil)),
        ControlCase(["terminate": false, "reason": "r"], nil), ControlCase(["terminate": nil], nil),
        ControlCase(["terminate": 0], nil), ControlCase(["terminate": ""], nil), ControlCase(["reason": "r"], nil),
        ControlCase([:], nil), ControlCase(.null, nil), ControlCase("terminate", nil), ControlCase(["terminate", true], nil),
        ControlCase(.bool(true), nil), ControlCase(.int(1), nil),
    ])
    func controlIsReadLeniently(_ c: ControlCase) {
        // Spec §6 and conformance check 20: only an object with a truthy `terminate` counts.
        #expect(ControlSignal.lenient(c.control) == c.expected, "\(c.control)")
    }

    @Test func absentControlIsNoSignal() {
        #expect(ControlSignal.lenient(nil) == nil)
    }

    @Test func envelopeWithNonObjectControlStillDecodes() throws {
        for control: JSONValue in ["terminate", ["terminate", true], 5] {
            let envelope = try Self.decode(
                SingleEnvelope<AgentSpan>.self, ["status": "success", "details": Self.span, "control": control])
            #expect(ControlSignal.lenient(envelope.control) == nil)
        }
        let terminated = try Self.decode(
            SingleEnvelope<AgentSpan>.self,
            ["status": "success", "details": Self.span, "control": ["terminate": true, "reason": "stop"]])
        #expect(ControlSignal.lenient(terminated.control) == ControlSignal(terminate: true, reason: "stop"))
    }

    @Test func singleEnvelopeEncodesWithoutControlWhenAbsent() throws {
        let details: JSONValue = ["a": 1]
        let text = String(decoding: try WireCoding.sortedEncoder.encode(SingleEnvelope(details: details)), as: UTF8.self)
        #expect(text == #"{"details":{"a":1},"status":"success"}"#)
    }

    @Test func listEnvelopeDecodesAndEncodesAllFourKeys() throws {
        let value: JSONValue = [
            "status": "success", "summaries": [Self.agent],
            "pagination": [
                "item_count": 1, "item_start": 1, "item_end": 1, "page_count": 1, "page_index": 1, "page_offset": 0,
                "page_size": 20, "next_page_offset": nil, "previous_page_offset": nil,
            ],
            "sorting": ["field": "name", "direction": "asc"],
        ]
        let list = try Self.decode(ListEnvelope<Agent>.self, value)
        #expect(list.summaries.map(\.id) == ["agent_1"])
        #expect(list.pagination == Pagination(itemCount: 1, offset: 0, pageSize: 20, itemsOnPage: 1))
        #expect(list.sorting == Sorting(field: "name", direction: "asc"))
        let empty = ListEnvelope<Agent>(summaries: [], pagination: nil, sorting: nil)
        let encoded = try JSONValue(parsing: WireCoding.sortedEncoder.encode(empty))
        #expect(encoded == ["status": "success", "summaries": [], "pagination": nil, "sorting": nil])
    }

    @Test func errorEnvelopeCarriesFieldErrors() throws {
        let value: JSONValue = [
            "status": "error", "code": "validation_error", "message": "bad", "errors": ["agent_id": ["Required field"]],
        ]
        let envelope = try Self.decode(ErrorEnvelope.self, value)
        #expect(envelope.errors == ["agent_id": ["Required field"]])
        #expect(try JSONValue(parsing: WireCoding.sortedEncoder.encode(envelope)) == value)
        let bare = try JSONValue(parsing: WireCoding.sortedEncoder.encode(ErrorEnvelope(code: "not_found", message: "m")))
        #expect(bare == ["status": "error", "code": "not_found", "message": "m"])
    }

    @Test func finishStatusMapsToAgentStatus() {
        #expect(FinishStatus.allCases.map(\.agentStatus) == [.complete, .failed, .cancelled])
        #expect(AgentStatus.allCases.filter(\.isTerminal) == [.complete, .failed, .cancelled, .terminated])
    }
}
