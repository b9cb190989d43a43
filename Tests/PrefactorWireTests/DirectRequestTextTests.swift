import Foundation
import PrefactorWire
import Testing

/// Span create and finish bodies write their JSON text directly; it must be the text ``JSONText`` writes for their
/// `jsonValue`, members in the official Python SDK's order (the tree's own order is its dictionary's, which varies
/// from process to process).
struct DirectRequestTextTests {
    /// The members of the span create `details` object, in the order they are sent.
    static let createOrder = [
        "agent_instance_id", "schema_name", "status", "payload", "result_payload", "id", "parent_span_id", "started_at",
        "finished_at", "idempotency_key",
    ]
    /// The members of the span finish body, in the order they are sent.
    static let finishOrder = ["status", "result_payload", "timestamp", "idempotency_key"]

    /// The tree writer's text for `object` with its members in `order`; each member written with ``JSONText``.
    static func treeText(_ object: JSONValue, order: [String], sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let members = object.objectValue ?? [:]
        #expect(Set(members.keys).isSubset(of: order), "unordered members: \(members.keys)", sourceLocation: sourceLocation)
        var text = "{"
        for key in order {
            guard let member = members[key] else { continue }
            if text.count > 1 { text.append(",") }
            JSONText.quote(key, into: &text)
            text.append(":")
            JSONText.write(member, into: &text)
        }
        return text + "}"
    }

    static let awkward =
        "quote \" backslash \\ slash / newline \n cr \r tab \t nul \u{0} unit \u{1F} del \u{7F} é 日本 🚀 \u{2028}"

    static let payload: [String: JSONValue] = [
        "model": "gpt-4", "tokens": 42, "negative": -9_223_372_036_854_775_807, "whole": 1.0, "fraction": 0.1,
        "tiny": 1e-7, "huge": 6.02e23, "flag": false, "nothing": nil, "list": [1, "two", [3.5], [:], []],
        "nested": ["deeper": ["key \"quoted\"\n": .string(awkward)]], awkward: "awkward key",
    ]

    static let instant = Date(timeIntervalSince1970: 1_735_787_045.123456)

    static let creates: [CreateSpanRequest] = [
        CreateSpanRequest(agentInstanceID: "ai_1", schemaName: "agent:llm"),
        CreateSpanRequest(agentInstanceID: "ai_1", schemaName: "agent:llm", payload: payload, idempotencyKey: "k-1"),
        CreateSpanRequest(
            agentInstanceID: "ai_\u{1F680}", schemaName: awkward, status: .complete, payload: payload,
            resultPayload: ["response": .string(awkward), "n": 2.0], id: "sp_1", parentSpanID: "sp_\"0\"",
            startedAt: instant, finishedAt: Date(timeIntervalSince1970: -1.5), idempotencyKey: awkward),
        CreateSpanRequest(
            agentInstanceID: "ai_1", schemaName: "agent:tool", status: .pending, resultPayload: [:], parentSpanID: "sp_0",
            startedAt: Date(timeIntervalSince1970: 0)),
        CreateSpanRequest(agentInstanceID: "ai_1", schemaName: "s", finishedAt: Date(timeIntervalSince1970: 253_402_300_800)),
    ]

    static let finishes: [FinishSpanRequest] = [
        FinishSpanRequest(),
        FinishSpanRequest(resultPayload: [:]),
        FinishSpanRequest(status: .cancelled, idempotencyKey: "k"),
        FinishSpanRequest(status: .failed, resultPayload: payload, timestamp: instant, idempotencyKey: awkward),
        FinishSpanRequest(resultPayload: ["error": .string(awkward)], timestamp: Date(timeIntervalSince1970: -86_400.000001)),
    ]

    @Test(arguments: creates.indices)
    func spanCreateTextIsTheTreeText(index: Int) throws {
        let request = Self.creates[index]
        let text = String(decoding: request.jsonBytes, as: UTF8.self)
        let details = try #require(request.jsonValue["details"])
        #expect(text == #"{"details":"# + Self.treeText(details, order: Self.createOrder) + "}")
        #expect(try JSONParser.parse(request.jsonBytes) == request.jsonValue)
    }

    @Test func nonFiniteNumbersAreWrittenAsTheTreeWritesThem() throws {
        let payload: [String: JSONValue] = ["inf": .double(.infinity), "nan": .double(.nan)]
        let create = CreateSpanRequest(agentInstanceID: "ai_1", schemaName: "s", payload: payload)
        let details = try #require(create.jsonValue["details"])
        #expect(
            String(decoding: create.jsonBytes, as: UTF8.self)
                == #"{"details":"# + Self.treeText(details, order: Self.createOrder) + "}")
        let finish = FinishSpanRequest(resultPayload: payload)
        #expect(String(decoding: finish.jsonBytes, as: UTF8.self) == Self.treeText(finish.jsonValue, order: Self.finishOrder))
        #expect(try JSONParser.parse(finish.jsonBytes)["result_payload"] == ["inf": nil, "nan": nil])
    }

    @Test(arguments: finishes.indices)
    func spanFinishTextIsTheTreeText(index: Int) throws {
        let request = Self.finishes[index]
        let text = String(decoding: request.jsonBytes, as: UTF8.self)
        #expect(text == Self.treeText(request.jsonValue, order: Self.finishOrder))
        #expect(try JSONParser.parse(request.jsonBytes) == request.jsonValue)
    }

    @Test func emptyBodiesAreEmptyObjects() {
        #expect(String(decoding: FinishSpanRequest().jsonBytes, as: UTF8.self) == "{}")
        #expect(String(decoding: FinishSpanRequest(resultPayload: [:]).jsonBytes, as: UTF8.self) == "{}")
        #expect(
            String(decoding: CreateSpanRequest(agentInstanceID: "a", schemaName: "s").jsonBytes, as: UTF8.self)
                == #"{"details":{"agent_instance_id":"a","schema_name":"s","status":"active","payload":{}}}"#)
    }

    @Test func singleMemberBodiesAreExactlyWhatTheTreeWriterWrites() {
        // With one member per object, dictionary order cannot differ: the texts must be equal to the byte.
        let finish = FinishSpanRequest(status: .complete)
        #expect(finish.jsonBytes == Array(JSONText.serialize(finish.jsonValue).utf8))
        let withResult = FinishSpanRequest(resultPayload: ["text": .string(Self.awkward)])
        #expect(withResult.jsonBytes == Array(JSONText.serialize(withResult.jsonValue).utf8))
    }

    @Test func otherRequestsKeepTheTreeWriter() {
        let register = RegisterAgentInstanceRequest(agentVersion: ["name": "a"], idempotencyKey: "k")
        #expect(register.jsonBytes.count == JSONText.serialize(register.jsonValue).utf8.count)
        #expect(throws: Never.self) { try JSONParser.parse(register.jsonBytes) }
    }
}
