import Foundation
import PrefactorWire
import Testing

/// Request bodies in the shapes spec §3 prescribes, beyond what the fixture run happened to exercise.
struct RequestBodyTests {
    static func encode(_ value: some Encodable) throws -> JSONValue {
        try JSONValue(parsing: WireCoding.encoder(style: .python).encode(value))
    }

    static let instant = Date(timeIntervalSince1970: 1_735_787_045.123456)

    @Test func registerDefaultsSendUpdateCurrentVersionAndOmitAgentAndEnvironment() throws {
        // Conformance check 7.
        let body = try Self.encode(RegisterAgentInstanceRequest())
        #expect(body == ["agent_version": [:], "agent_schema_version": [:], "update_current_version": true])
    }

    @Test func registerWritesEveryOptionalFieldWhenGiven() throws {
        let body = try Self.encode(
            RegisterAgentInstanceRequest(
                agentVersion: ["name": "a"], agentSchemaVersion: ["external_identifier": "s"], updateCurrentVersion: false,
                agentID: "agent_1", environmentID: "env_1", id: "ai_1", idempotencyKey: "k", purpose: .smokeTest,
                externalIdentifier: "ext"))
        #expect(
            body == [
                "agent_version": ["name": "a"], "agent_schema_version": ["external_identifier": "s"],
                "update_current_version": false, "agent_id": "agent_1", "environment_id": "env_1", "id": "ai_1",
                "idempotency_key": "k", "purpose": "smoke_test", "external_identifier": "ext",
            ])
    }

    @Test func startWithoutTimestampSendsExplicitNull() throws {
        // Spec §3.4: the Python client always includes `timestamp`, `null` when not supplied.
        #expect(try Self.encode(StartAgentInstanceRequest()) == ["timestamp": nil])
        #expect(
            try Self.encode(StartAgentInstanceRequest(timestamp: Self.instant, idempotencyKey: "k"))
                == ["timestamp": "2025-01-02T03:04:05.123456+00:00", "idempotency_key": "k"])
    }

    @Test func instanceFinishWithoutStatusSendsNoStatusKey() throws {
        // Conformance check 10.
        #expect(try Self.encode(FinishAgentInstanceRequest()) == [:])
        #expect(try Self.encode(FinishAgentInstanceRequest(status: .failed)) == ["status": "failed"])
    }

    @Test func spanFinishOmitsStatusAndResultWhenNotGiven() throws {
        // Conformance check 18, and spec §3.7: `result_payload` only when non-empty.
        #expect(try Self.encode(FinishSpanRequest()) == [:])
        #expect(try Self.encode(FinishSpanRequest(resultPayload: [:])) == [:])
        #expect(
            try Self.encode(FinishSpanRequest(status: .failed, resultPayload: ["error": "boom", "code": 7]))
                == ["status": "failed", "result_payload": ["error": "boom", "code": 7]])
    }

    @Test func recordQualityAlwaysSendsPayloadEvenNull() throws {
        // Conformance check 14.
        #expect(try Self.encode(RecordQualityRequest(name: "accuracy", payload: nil)) == ["name": "accuracy", "payload": nil])
        #expect(
            try Self.encode(RecordQualityRequest(name: "accuracy", payload: ["score": 1], idempotencyKey: "k"))
                == ["name": "accuracy", "payload": ["score": 1], "idempotency_key": "k"])
    }

    @Test func spanCreateWrapsInDetailsAndCarriesStatusAndResultAsGiven() throws {
        // Conformance check 16.
        let body = try Self.encode(
            CreateSpanRequest(
                agentInstanceID: "ai_1", schemaName: "agent:llm", status: .complete, payload: ["n": 1],
                resultPayload: ["ok": true], id: "sp_1", parentSpanID: "sp_0", startedAt: Self.instant,
                finishedAt: Self.instant, idempotencyKey: "k"))
        #expect(
            body == [
                "details": [
                    "agent_instance_id": "ai_1", "schema_name": "agent:llm", "status": "complete", "payload": ["n": 1],
                    "result_payload": ["ok": true], "id": "sp_1", "parent_span_id": "sp_0",
                    "started_at": "2025-01-02T03:04:05.123456+00:00", "finished_at": "2025-01-02T03:04:05.123456+00:00",
                    "idempotency_key": "k",
                ]
            ])
    }

    @Test func spanCreateSendsAnEmptyPayloadObjectByDefault() throws {
        let body = try Self.encode(CreateSpanRequest(agentInstanceID: "ai_1", schemaName: "agent:llm"))
        #expect(
            body == ["details": ["agent_instance_id": "ai_1", "schema_name": "agent:llm", "status": "active", "payload": [:]]])
    }

    @Test func agentCreateWrapsInDetailsWithTheKeyAtTopLevel() throws {
        #expect(try Self.encode(CreateAgentRequest(name: "n")) == ["details": ["name": "n"]])
        #expect(
            try Self.encode(
                CreateAgentRequest(name: "n", description: "d", externalIdentifier: "e", id: "agent_1", idempotencyKey: "k"))
                == [
                    "details": ["name": "n", "description": "d", "external_identifier": "e", "id": "agent_1"],
                    "idempotency_key": "k",
                ])
    }

    @Test func terminateSendsTheReason() throws {
        #expect(try Self.encode(TerminateAgentInstanceRequest(reason: "stop")) == ["reason": "stop"])
        #expect(try Self.encode(TerminateAgentInstanceRequest(reason: nil)) == [:])
    }

    @Test func pythonStyleWritesMicrosecondsAndUTCOffsetZuluStyleWritesZ() throws {
        let python = try JSONValue(parsing: WireCoding.encoder(style: .python).encode(["t": Self.instant]))
        let zulu = try JSONValue(parsing: WireCoding.encoder(style: .zulu).encode(["t": Self.instant]))
        #expect(python == ["t": "2025-01-02T03:04:05.123456+00:00"])
        #expect(zulu == ["t": "2025-01-02T03:04:05.123456Z"])
        let whole = Date(timeIntervalSince1970: 1_735_787_045)
        #expect(
            try JSONValue(parsing: WireCoding.encoder(style: .python).encode(["t": whole])) == [
                "t": "2025-01-02T03:04:05.000000+00:00"
            ])
    }

    @Test func encoderDoesNotEscapeSlashesOrRewriteKeys() throws {
        let text = String(decoding: try WireCoding.encoder(style: .python).encode(["a/b_cD": "x/y"] as JSONValue), as: UTF8.self)
        #expect(text == #"{"a/b_cD":"x/y"}"#)
    }
}
