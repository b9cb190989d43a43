import Foundation
import Testing

@testable import PrefactorWire

/// Decodes a model through its `init(from:)` only: the generic path, which the fast one must match exactly.
struct ViaInitFrom<Model: Decodable>: Decodable {
    var model: Model

    init(from decoder: any Decoder) throws {
        model = try Model(from: decoder)
    }
}

/// `JSONValueDecoder` reads spans, instances and span counts with `init(jsonObject:)`; it must accept exactly what
/// `init(from:)` accepts, yield the same values, and leave the errors to `init(from:)`.
struct FastDecodingTests {
    static let span: [String: JSONValue] = [
        "type": "agent_span", "id": "sp_1", "agent_instance_id": "ai_1", "schema_name": "agent:llm",
        "status": "complete", "account_id": "acc_1", "agent_id": "agent_1", "parent_span_id": "sp_0",
        "schema_title": "LLM Call", "summary": "m -> r \u{1F680}",
        "payload": ["model": "m", "tokens": 42, "score": 1.0, "nested": ["a": [1, 2.5, nil, "é"]], "empty": [:]],
        "result_payload": ["response": "line\nbreak \"quoted\"", "ok": true],
        "started_at": "2024-01-01T00:00:00.250000+00:00", "inserted_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:02.5Z", "finished_at": "2024-01-01T01:00:02.123456+01:00",
        "unknown_extra_field": ["ignored": true],
    ]

    static let spanCounts: [String: JSONValue] = [
        "total": 3, "pending": 0, "active": 1, "complete": 1, "failed": 1, "cancelled": 0, "finished": 2,
    ]

    static let instance: [String: JSONValue] = [
        "type": "agent_instance", "id": "ai_1", "account_id": "acc_1", "agent_id": "agent_1",
        "agent_version_id": "av_1", "environment_id": "env_1", "agent_deployment_id": "dep_1", "status": "active",
        "inserted_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:01.5Z",
        "started_at": "2024-01-01T00:00:00.250000+00:00", "finished_at": nil, "termination_reason": "r",
        "span_counts": .object(spanCounts), "purpose": "smoke_test", "quality_payloads": ["accuracy": ["score": 0.5]],
        "quality_summaries": ["accuracy": "0.5"], "unknown_extra_field": ["ignored": true],
    ]

    /// Values every member is tried with (`nil`: the member is removed): of every JSON type, valid and not.
    static let probes: [JSONValue?] = [
        nil, .null, true, false, 0, 1, -3, 2.0, 1.5, 1e300, "", "x", "agent_span", "agent_instance", "active",
        "complete", "terminated", "Active", "smoke_test", "live", "production", "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00.123456789-05:30", "2024-13-01T00:00:00Z", "2024-01-01", "not a date", [], ["a"], [:],
        ["k": "v"], ["k": 1], ["k": nil], .object(spanCounts), .object(spanCounts.mapValues { _ in .double(2.0) }),
        .object(spanCounts.merging(["total": 1.5]) { $1 }), .object(spanCounts.filter { $0.key != "failed" }),
        .object(spanCounts.merging(["total": .null]) { $1 }),
    ]

    /// `object` with `key` set to `probe`, or removed for `nil`.
    static func replacing(_ object: [String: JSONValue], _ key: String, with probe: JSONValue?) -> [String: JSONValue] {
        var changed = object
        changed[key] = probe
        return changed
    }

    /// Checks that the fast path and `init(from:)` agree on `object`, and that the decoder's result (value or
    /// error text) is the generic one.
    static func expectSameDecoding<Model: JSONObjectDecodable & Equatable>(
        _ type: Model.Type, _ object: [String: JSONValue], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let fast = try? Model(jsonObject: JSONObjectReader(object))
        let generic = Result { try JSONValueDecoder().decode(ViaInitFrom<Model>.self, from: .object(object)).model }
        let decoded = Result { try JSONValueDecoder().decode(Model.self, from: .object(object)) }
        switch (generic, decoded) {
        case (.success(let expected), .success(let actual)):
            #expect(fast == expected, "\(object)", sourceLocation: sourceLocation)
            #expect(actual == expected, "\(object)", sourceLocation: sourceLocation)
        case (.failure(let expected), .failure(let actual)):
            #expect(fast == nil, "fast path accepted what init(from:) rejects: \(object)", sourceLocation: sourceLocation)
            #expect("\(actual)" == "\(expected)", sourceLocation: sourceLocation)
        default:
            Issue.record("init(from:) gave \(generic), the decoder \(decoded), for \(object)", sourceLocation: sourceLocation)
        }
    }

    static func expectSameDecodingOfEveryVariant<Model: JSONObjectDecodable & Equatable>(
        _ type: Model.Type, of object: [String: JSONValue], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectSameDecoding(type, object, sourceLocation: sourceLocation)
        for key in object.keys {
            for probe in probes {
                expectSameDecoding(type, replacing(object, key, with: probe), sourceLocation: sourceLocation)
            }
        }
    }

    @Test func fullSpanDecodesToTheSameValueBothWays() throws {
        let fast = try AgentSpan(jsonObject: JSONObjectReader(Self.span))
        let generic = try JSONValueDecoder().decode(ViaInitFrom<AgentSpan>.self, from: .object(Self.span)).model
        #expect(fast == generic)
        #expect(fast.payload["score"] == .double(1.0))
        #expect(fast.payload["tokens"] == .int(42))
        #expect(fast.finishedAt == WireDate.parse("2024-01-01T00:00:02.123456Z"))
        let minimal = Self.span.filter { ["type", "id", "agent_instance_id", "schema_name", "status"].contains($0.key) }
        #expect(try AgentSpan(jsonObject: JSONObjectReader(minimal)).payload == [:])
        Self.expectSameDecoding(AgentSpan.self, minimal)
    }

    @Test func spanVariantsDecodeOrFailTheSameWayBothWays() {
        Self.expectSameDecodingOfEveryVariant(AgentSpan.self, of: Self.span)
        Self.expectSameDecodingOfEveryVariant(AgentSpan.self, of: Self.replacing(Self.span, "payload", with: nil))
    }

    @Test func instanceVariantsDecodeOrFailTheSameWayBothWays() throws {
        let fast = try AgentInstance(jsonObject: JSONObjectReader(Self.instance))
        #expect(fast == (try JSONValueDecoder().decode(ViaInitFrom<AgentInstance>.self, from: .object(Self.instance)).model))
        #expect(fast.spanCounts == SpanCounts(total: 3, active: 1, complete: 1, failed: 1, finished: 2))
        Self.expectSameDecodingOfEveryVariant(AgentInstance.self, of: Self.instance)
    }

    @Test func spanCountVariantsDecodeOrFailTheSameWayBothWays() {
        Self.expectSameDecodingOfEveryVariant(SpanCounts.self, of: Self.spanCounts)
    }

    @Test func errorsNameTheSameFieldAsBefore() {
        // The messages `APIClient` builds come from these errors; the fast path must not change them.
        func error(_ object: [String: JSONValue]) -> String {
            do {
                _ = try JSONValueDecoder().decode(AgentSpan.self, from: .object(object))
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(error(Self.replacing(Self.span, "id", with: nil)).contains("Missing id"))
        #expect(error(Self.replacing(Self.span, "started_at", with: "nope")).contains("Expected an ISO 8601 timestamp"))
        #expect(error(Self.replacing(Self.span, "type", with: "agent")).contains("Expected type agent_span, got agent"))
        #expect(error(Self.replacing(Self.span, "payload", with: .null)).contains("found null"))
    }

    @Test func spansInAnArrayDecodeTheSameWayBothWays() throws {
        let spans: JSONValue = [.object(Self.span), .object(Self.replacing(Self.span, "id", with: "sp_2"))]
        let fast = try JSONValueDecoder().decode([AgentSpan].self, from: spans)
        let generic = try JSONValueDecoder().decode([ViaInitFrom<AgentSpan>].self, from: spans).map(\.model)
        #expect(fast == generic)
        #expect(fast.map(\.id) == ["sp_1", "sp_2"])

        let broken: JSONValue = [.object(Self.span), .object(Self.replacing(Self.span, "status", with: "running"))]
        let fastError = Result { try JSONValueDecoder().decode([AgentSpan].self, from: broken) }
        let genericError = Result { try JSONValueDecoder().decode([ViaInitFrom<AgentSpan>].self, from: broken) }
        guard case .failure(let actual) = fastError, case .failure(let expected) = genericError else {
            Issue.record("a span with an unknown status decoded")
            return
        }
        #expect("\(actual)" == "\(expected)")
    }
}
