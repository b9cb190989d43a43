import Foundation
import PrefactorWire
import Testing

@testable import PrefactorHTTP

/// The client's per-request fast paths (percent-encoding, response parsing and decoding) give what the general
/// code gives.
struct FastPathTests {
    static func foundationEncoding(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    @Test(arguments: [
        "", "sp_3283d06c107444cda9eae7f9", "ABC-xyz.0_9~", "a b", "a/b", "a?b=c&d", "100%", "a+b", "é", "日本", "🚀",
        "2025-01-02T03:04:05.123456+00:00", "pagination[offset]", "\u{0}", "\u{7F}", "ſ", "١٢٣", "Ａ",
    ])
    func percentEncodingIsFoundations(text: String) {
        #expect(APIClient.percentEncode(text) == Self.foundationEncoding(text))
        #expect(APIClient.pathComponent(text) == Self.foundationEncoding(text))
    }

    static let span: [String: JSONValue] = [
        "type": "agent_span", "id": "sp_1", "agent_instance_id": "ai_1", "schema_name": "agent:llm", "status": "active",
        "payload": ["n": 1.0], "started_at": "2024-01-01T00:00:00Z",
    ]

    /// The message `decode` gave before the fast path: `init(from:)`'s error, summarized.
    static func genericMessage(_ details: JSONValue, operation: String) -> String? {
        struct ViaInitFrom: Decodable {
            init(from decoder: any Decoder) throws { _ = try AgentSpan(from: decoder) }
        }
        do {
            _ = try JSONValueDecoder().decode(ViaInitFrom.self, from: details)
            return nil
        } catch {
            return "Invalid response payload for \(operation): \(APIClient.summarize(error))"
        }
    }

    @Test(
        arguments: [
            ("id", nil), ("type", "agent"), ("status", "running"), ("started_at", "yesterday"), ("payload", .null),
            ("payload", [1]), ("schema_name", 3), ("result_payload", "r"), ("summary", false),
        ] as [(String, JSONValue?)])
    func malformedSpansGiveTheSameMessages(field: String, value: JSONValue?) throws {
        var details = Self.span
        details[field] = value
        let operation = "agent_spans.create"
        let expected = try #require(Self.genericMessage(.object(details), operation: operation))
        do {
            _ = try APIClient.decode(AgentSpan.self, from: .object(details), operation: operation)
            Issue.record("decoded a malformed span")
        } catch {
            #expect(error.message == expected)
            #expect(error.code == .responseContract)
            #expect(error.status == 200)
        }
    }

    @Test func literalMessagesAreUnchanged() {
        func message(_ field: String, _ value: JSONValue?) -> String {
            var details = Self.span
            details[field] = value
            do {
                _ = try APIClient.decode(AgentSpan.self, from: .object(details), operation: "op")
                return "decoded"
            } catch {
                return error.message
            }
        }
        #expect(message("id", nil) == "Invalid response payload for op: missing id")
        #expect(message("started_at", "x") == "Invalid response payload for op: started_at: Expected an ISO 8601 timestamp")
        #expect(message("type", "agent") == "Invalid response payload for op: type: Expected type agent_span, got agent")
    }

    @Test func responsesParseFromTheirBytes() throws {
        let body = Array(#"{"status":"success","details":{"id":"x"},"control":null}"#.utf8)
        let object = try APIClient.interpret(HTTPResponseData(status: 200, body: body), operation: "op")
        #expect(object == ["status": "success", "details": ["id": "x"], "control": nil])
        #expect(throws: PrefactorHTTPError.self) {
            try APIClient.interpret(HTTPResponseData(status: 200, body: Array("[1]".utf8)), operation: "op")
        }
    }
}
