import Foundation
import PrefactorWire
import Testing

/// `JSONParser.parse` reads contiguous input in place and copies anything else; the result, and the error with
/// its offset, must not depend on which.
struct JSONParserInputTests {
    static func outcome(_ parse: () throws(JSONParser.Error) -> JSONValue) -> Result<JSONValue, JSONParser.Error> {
        do throws(JSONParser.Error) {
            return .success(try parse())
        } catch {
            return .failure(error)
        }
    }

    static let texts = [
        #"{"status":"success","details":{"type":"agent_span","id":"sp_1","payload":{"n":1,"d":1.0,"s":"é\n"}}}"#,
        #"{"a":{"b":1,"c":{"d":2,"d":3},"e":{}},"f":[{"g":null},{}],"a2":true}"#, "[1, 2,]", "{\"a\":1,}",
        "\"\\ud83d\\ude80\"", "  [ ]  ", "{\"a\" 1}", "", "nul", "[1] x",
    ]

    @Test(arguments: texts)
    func contiguousAndOtherInputsParseAlike(text: String) {
        let bytes = Array(text.utf8)
        let expected = Self.outcome { () throws(JSONParser.Error) in try JSONParser.parse(bytes) }
        #expect(Self.outcome { () throws(JSONParser.Error) in try JSONParser.parse(Data(bytes)) } == expected)
        #expect(Self.outcome { () throws(JSONParser.Error) in try JSONParser.parse(bytes[...]) } == expected)
        #expect(Self.outcome { () throws(JSONParser.Error) in try JSONParser.parse(text.utf8.lazy.map { $0 }) } == expected)
        #expect(Self.outcome { () throws(JSONParser.Error) in try JSONParser.parse(AnySequence(bytes)) } == expected)
    }

    @Test func stringsAreValidatedAsUTF8BothWithAndWithoutEscapes() throws {
        // Fast path (no escape) and escape path; ASCII and not.
        #expect(try JSONParser.parse([0x22, 0x61, 0xC3, 0xA9, 0x22]) == "aé")
        #expect(try JSONParser.parse([0x22, 0x5C, 0x6E, 0xC3, 0xA9, 0xF0, 0x9F, 0x9A, 0x80, 0x22]) == "\né🚀")
        #expect(try JSONParser.parse(Array(#""\uFFFD \u0000""#.utf8)) == "\u{FFFD} \u{0}")
        #expect(try JSONParser.parse([0x22, 0xEF, 0xBF, 0xBD, 0x22]) == "\u{FFFD}", "a real U+FFFD is valid")
        for invalid: [UInt8] in [
            [0x22, 0xFF, 0x22], [0x22, 0x5C, 0x6E, 0xFF, 0x22], [0x22, 0x5C, 0x6E, 0xC3, 0x22], [0x22, 0xC0, 0xAF, 0x22],
            [0x22, 0x5C, 0x74, 0xED, 0xA0, 0x80, 0x22], [0x22, 0x61, 0xF4, 0x90, 0x80, 0x80, 0x22],
        ] {
            guard case .failure(let error) = Self.outcome({ () throws(JSONParser.Error) in try JSONParser.parse(invalid) })
            else {
                Issue.record("accepted invalid UTF-8 \(invalid)")
                continue
            }
            #expect(error.reason == "invalid UTF-8 in string", "\(invalid)")
            #expect(error.offset == 1, "\(invalid)")
        }
    }

    @Test func nestedObjectsKeepTheirOwnMembers() throws {
        let value = try JSONParser.parse(
            Array(#"{"a":{"b":1,"c":{"d":2,"d":3},"e":{}},"f":[{"g":null},{}],"b":"x","a2":true}"#.utf8))
        #expect(value == ["a": ["b": 1, "c": ["d": 3], "e": [:]], "f": [["g": nil], [:]], "b": "x", "a2": true])
    }

    @Test(
        arguments: [
            ("0", JSONValue.int(0)), ("-0", .int(0)), ("7", .int(7)), ("-7", .int(-7)),
            ("999999999999999999", .int(999_999_999_999_999_999)), ("-999999999999999999", .int(-999_999_999_999_999_999)),
            ("1000000000000000000", .int(1_000_000_000_000_000_000)), ("9223372036854775807", .int(.max)),
            ("-9223372036854775808", .int(.min)), ("9223372036854775808", .double(9_223_372_036_854_775_808.0)),
            ("-9223372036854775809", .double(-9_223_372_036_854_775_809.0)), ("12.5", .double(12.5)), ("1e3", .double(1000)),
        ] as [(String, JSONValue)])
    func integersAreReadExactly(text: String, expected: JSONValue) throws {
        #expect(try JSONParser.parse(Array(text.utf8)) == expected)
        #expect(try JSONParser.parse(Array("[\(text)]".utf8)) == [expected])
    }
}
