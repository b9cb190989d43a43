import Foundation
import PrefactorWire
import Testing

/// The hand-written JSON text of the server's hot paths must parse back to what was written.
struct JSONTextTests {
    static func parse(_ text: String) throws -> JSONValue {
        try JSONValue(parsing: Data(text.utf8))
    }

    static let awkwardStrings: [String] = [
        "", "plain", "say \"hi\"", #"back\slash"#, "a/b", "line\nbreak", "cr\rtab\t", "\u{0}", "\u{1}\u{2}\u{1F}",
        "\u{7F}", "\u{8}\u{C}", "é ü ß", "日本語", "🚀👩‍👩‍👧", "e\u{301}", "\u{2028}\u{2029}", "\u{FEFF}bom",
        "mixed \"\\\n\u{0}🚀",
        String((0..<32).map { Character(Unicode.Scalar(UInt8($0))) }),
    ]

    @Test(arguments: awkwardStrings)
    func quotedStringsParseBackUnchanged(text: String) throws {
        let quoted = JSONText.quoted(text)
        #expect(quoted.hasPrefix("\"") && quoted.hasSuffix("\""))
        #expect(try Self.parse(quoted) == .string(text))
        #expect(!quoted.unicodeScalars.contains { $0.value < 0x20 }, "no raw control characters")
    }

    @Test func escapesUseTheShortFormsWhereJSONHasThem() {
        #expect(JSONText.quoted("\"") == #""\"""#)
        #expect(JSONText.quoted("\\") == #""\\""#)
        #expect(JSONText.quoted("\n\r\t") == #""\n\r\t""#)
        #expect(JSONText.quoted("\u{0}\u{1F}") == #""\u0000\u001f""#)
        #expect(JSONText.quoted("é🚀") == "\"é🚀\"")
    }

    @Test func serializedValuesParseBack() throws {
        let value: JSONValue = [
            "s": .string(Self.awkwardStrings.joined()), "i": 42, "neg": -9_223_372_036_854_775_807, "d": 0.1,
            "small": 1e-7, "big": 6.02e23, "t": true, "f": false, "n": nil, "a": [1, "two", [3.5], [:]],
            "o": ["nested \"key\"\n": ["deep": []]], "🚀": "key with emoji",
        ]
        let text = JSONText.serialize(value)
        #expect(try Self.parse(text) == value)
        #expect(try Self.parse(JSONText.serialize(value.objectValue!)) == value)
    }

    @Test func integersAreWrittenAsIntegers() {
        #expect(JSONText.serialize(42) == "42")
        #expect(JSONText.serialize(["n": 0]) == #"{"n":0}"#)
    }

    @Test func nonFiniteNumbersBecomeNull() throws {
        #expect(JSONText.serialize(.double(.infinity)) == "null")
        #expect(JSONText.serialize(.double(-.infinity)) == "null")
        #expect(JSONText.serialize(.double(.nan)) == "null")
        #expect(try Self.parse(JSONText.serialize([.double(.nan), 1])) == [nil, 1])
    }

    @Test func objectBuilderWritesMembersInOrderAndParsesBack() throws {
        var object = JSONObjectText()
        object.string("name", "a \"quoted\"\nname")
        object.string("missing", nil)
        object.int("count", 3)
        object.int("none", nil)
        object.bool("flag", false)
        object.timestamp("at", microseconds: 1_735_787_045_123_456)
        object.timestamp("never", microseconds: nil)
        object.value("payload", ["k": [1, nil]])
        object.raw("raw", #"{"x":1}"#)
        let text = object.result
        #expect(text.hasPrefix(#"{"name":"#))
        #expect(
            try Self.parse(text) == [
                "name": "a \"quoted\"\nname", "missing": nil, "count": 3, "none": nil, "flag": false,
                "at": "2025-01-02T03:04:05.123456Z", "never": nil, "payload": ["k": [1, nil]], "raw": ["x": 1],
            ])
        #expect(JSONObjectText().result == "{}")
    }
}
