import Foundation
import PrefactorWire
import Testing

/// `JSONValue(parsing:)` is strict RFC 8259 (it parses the server's request bodies and every client response).
struct JSONParserTests {
    static func parse(_ text: String) throws -> JSONValue {
        try JSONValue(parsing: Data(text.utf8))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "[,1]", "[1 2]", "{'a': 1}", "{a: 1}", "{\"a\" 1}", "nul", "True",
        "01", "-01", "1.", ".5", "+1", "-", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity", "1e400", "[1]x",
        "\"unterminated", "\"tab\there\"", "\"new\nline\"", "\"\\x41\"", "\"\\u12\"", "\"\\uZZZZ\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"\\ud800\\u0041\"", "// comment\n1", "/* c */ 1", "[1] [2]", "\u{FEFF}1",
    ])
    func rejectsWhatIsNotJSON(text: String) {
        #expect(throws: (any Error).self, "\(text.debugDescription)") { try Self.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: (any Error).self) { try JSONValue(parsing: Data([0x22, 0xC3, 0x28, 0x22])) }
        #expect(throws: (any Error).self) { try JSONValue(parsing: Data([0x22, 0xFF, 0x22])) }
        #expect(throws: (any Error).self) { try JSONValue(parsing: Data([0x22, 0xED, 0xA0, 0x80, 0x22])) }
    }

    @Test(
        arguments: [
            (" \t\r\n{ \"a\" : [ 1 , 2 ] } \n", ["a": [1, 2]] as JSONValue),
            (#""\"\\\/\b\f\n\r\t""#, .string("\"\\/\u{8}\u{C}\n\r\t")),
            (#""\u0041\u00e9\u4e2d""#, .string("Aé中")),
            (#""\ud83d\ude80""#, .string("🚀")),
            ("\"🚀 raw\"", .string("🚀 raw")),
            ("-0", .int(0)),
            ("0", .int(0)),
            ("1E2", .double(100)),
            ("1e-2", .double(0.01)),
            ("-1.5E+2", .double(-150)),
            ("123456789012345678901234567890", .double(123_456_789_012_345_678_901_234_567_890.0)),
            ("9223372036854775808", .double(9_223_372_036_854_775_808.0)),
            (#"{"a":1,"a":2}"#, ["a": 2] as JSONValue),
            ("[[[]]]", [[[]]] as JSONValue),
        ] as [(String, JSONValue)])
    func acceptsValidJSON(text: String, expected: JSONValue) throws {
        #expect(try Self.parse(text) == expected)
    }

    @Test func nestingIsLimited() throws {
        let depth = JSONParser.maximumDepth
        let deepest = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(throws: Never.self) { try Self.parse(deepest) }
        let tooDeep = String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1)
        #expect(throws: (any Error).self) { try Self.parse(tooDeep) }
        let hostile = String(repeating: "{\"a\":", count: 100_000)
        #expect(throws: (any Error).self) { try Self.parse(hostile) }
    }

    @Test func errorsSayWhereTheProblemIs() {
        do {
            _ = try JSONParser.parse(Array("[1, 2,]".utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 6)
            #expect(error.description.contains("at byte 6"))
        }
    }

    /// Models decode their payloads through `JSONValueDecoder` (the path `APIClient` uses); a number written with a
    /// fraction or an exponent must stay a `.double` there, and an integer an `.int`.
    @Test(arguments: ["1.0", "42.0", "1.5e3", "1E2", "-2.0"])
    func modelDecodingKeepsFractionalNumbersAsDoubles(text: String) throws {
        let tree = try JSONParser.parse(Array("[\(text)]".utf8))
        let decoded = try JSONValueDecoder().decode([JSONValue].self, from: tree)
        #expect(decoded == [.double(Double(text)!)], "\(text) decoded as \(decoded)")
        let span = try JSONParser.parse(
            Array(
                #"{"type":"agent_span","id":"s","agent_instance_id":"i","schema_name":"x","status":"active","payload":{"score":\#(text),"n":3}}"#
                    .utf8))
        let model = try JSONValueDecoder().decode(AgentSpan.self, from: span)
        #expect(model.payload["score"] == .double(Double(text)!))
        #expect(model.payload["n"] == .int(3))
    }

    /// Request bodies are written with `JSONText`; a `.double` must go out as a JSON number with a fraction or
    /// exponent, so that the receiver (Python: `float`, not `int`) sees the kind the caller chose.
    @Test(arguments: [1.0, 42.0, -2.0, 1500.0, 0.0])
    func requestBodiesKeepIntegralDoublesAsFloats(number: Double) throws {
        let body = FinishSpanRequest(status: .complete, resultPayload: ["n": .double(number), "i": 2])
        let text = String(decoding: body.jsonBytes, as: UTF8.self)
        #expect(try Self.parse(text)["result_payload"] == ["n": .double(number), "i": .int(2)], "encoded as \(text)")
        #expect(try Self.parse(JSONText.serialize(["n": .double(number)])) == ["n": .double(number)], "JSONText does")
    }

    @Test func codableDecodingKeepsIntegersAsIntegers() throws {
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"n":42,"m":-7,"z":0}"#.utf8))
        #expect(decoded == ["n": 42, "m": -7, "z": 0])
        #expect(decoded["n"] == .int(42))
    }
}
