import Foundation
import PrefactorWire
import Testing

struct JSONValueTests {
    static func text(_ value: JSONValue) throws -> String {
        String(decoding: try WireCoding.encoder(style: .python).encode(value), as: UTF8.self)
    }

    static func parse(_ text: String) throws -> JSONValue {
        try JSONValue(parsing: Data(text.utf8))
    }

    @Test func literalsBuildTheMatchingCases() {
        let value: JSONValue = [
            "null": nil, "bool": true, "int": 42, "double": 2.5, "string": "s", "array": [1, "two", false, nil],
            "object": ["nested": ["deeper": -1]],
        ]
        #expect(
            value
                == .object([
                    "null": .null, "bool": .bool(true), "int": .int(42), "double": .double(2.5), "string": .string("s"),
                    "array": .array([.int(1), .string("two"), .bool(false), .null]),
                    "object": .object(["nested": .object(["deeper": .int(-1)])]),
                ]))
    }

    @Test func repeatedLiteralKeyKeepsTheLastValue() {
        let value: JSONValue = ["a": 1, "a": 2]
        #expect(value == ["a": 2])
    }

    @Test func integersAreWrittenWithoutAFraction() throws {
        #expect(try Self.text(42) == "42")
        #expect(try Self.text(-7) == "-7")
        #expect(try Self.text(0) == "0")
        #expect(try Self.text(["n": 42]) == #"{"n":42}"#)
        #expect(try Self.text([1, 2, 3]) == "[1,2,3]")
        #expect(try Self.text(.int(Int64.max)) == "9223372036854775807")
        #expect(try Self.text(.int(Int64.min)) == "-9223372036854775808")
    }

    @Test(arguments: [
        ("42", JSONValue.int(42)), ("-7", .int(-7)), ("0", .int(0)), ("9223372036854775807", .int(Int64.max)),
        ("-9223372036854775808", .int(Int64.min)), ("2.5", .double(2.5)), ("-0.125", .double(-0.125)),
        ("1.5e-3", .double(0.0015)), ("1.5e3", .double(1500)), ("true", .bool(true)), ("false", .bool(false)), ("null", .null),
        (#""text""#, .string("text")), (#""\u00e9\n""#, .string("é\n")), ("[]", .array([])), ("{}", .object([:])),
    ])
    func parsesScalarsIntoTheRightCase(text: String, expected: JSONValue) throws {
        #expect(try Self.parse(text) == expected)
    }

    /// `JSONValue.int` is documented as "a number without a fraction or exponent"; any other number is `.double`.
    @Test(arguments: ["42.0", "1.5e3", "1E2", "-0.0", "100.00"])
    func numbersWithAFractionOrExponentStayDoubles(text: String) throws {
        let value = try Self.parse(text)
        #expect(value == .double(Double(text)!), "\(text) parsed as \(value)")
        #expect(try Self.parse("[\(text)]") == [.double(Double(text)!)])
    }

    @Test func integersStayIntegersThroughARoundTrip() throws {
        let value: JSONValue = ["tokens": 42, "list": [1, 2], "nested": ["count": 0]]
        let back = try Self.parse(try Self.text(value))
        #expect(back == value)
        #expect(back["tokens"] == .int(42))
        #expect(back["nested"]?["count"] == .int(0))
        #expect(try Self.text(back).contains("42.0") == false)
    }

    @Test func oneAndZeroAreNumbersNotBooleans() throws {
        #expect(try Self.parse("1") == .int(1))
        #expect(try Self.parse("0") == .int(0))
        #expect(try Self.parse("[true, 1]") == [true, 1])
    }

    @Test func nestedStructuresAndNullRoundTrip() throws {
        let value: JSONValue = [
            "a": [["b": nil, "c": [1.25, "x", ["d": false]]]], "e": nil, "f": [:], "g": [], "unicode": "日本語 🚀 \"q\"",
        ]
        #expect(try Self.parse(try Self.text(value)) == value)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        #expect(decoded == value)
    }

    @Test func nullMembersAreKeptNotDropped() throws {
        let value: JSONValue = ["present": nil]
        #expect(try Self.text(value) == #"{"present":null}"#)
        #expect(try Self.parse(#"{"present":null}"#)["present"] == .null)
    }

    @Test func nonIntegralDoublesRoundTrip() throws {
        for number in [0.5, -1.25, 3.141592653589793, 1e-7, 6.02e23] {
            let back = try Self.parse(try Self.text(.double(number)))
            #expect(back.doubleValue == number)
        }
    }

    @Test func invalidTextIsRejected() {
        for text in ["", "{", "[1 2]", "{'a': 1}", "nul", "{\"a\" 1}", "[1]x"] {
            #expect(throws: (any Error).self, "\(text)") { try Self.parse(text) }
        }
    }

    @Test func accessorsReturnValuesOnlyForTheirCase() {
        let object: JSONValue = ["s": "x", "i": 3, "d": 2.5, "b": true, "a": [1], "n": nil]
        #expect(object["s"]?.stringValue == "x")
        #expect(object["i"]?.intValue == 3)
        #expect(object["i"]?.doubleValue == 3)
        #expect(object["d"]?.doubleValue == 2.5)
        #expect(object["d"]?.intValue == nil)
        #expect(JSONValue.double(4).intValue == 4)
        #expect(object["b"]?.boolValue == true)
        #expect(object["a"]?.arrayValue == [1])
        #expect(object["n"]?.isNull == true)
        #expect(object["missing"] == nil)
        #expect(object["s"]?.intValue == nil)
        #expect(object["i"]?.stringValue == nil)
        #expect(JSONValue.string("x")["key"] == nil)
        #expect(object.objectValue?.count == 6)
    }

    @Test(arguments: [
        (JSONValue.null, "null"), (.bool(true), "boolean"), (.int(1), "number"), (.double(1.5), "number"),
        (.string(""), "string"), (.array([]), "array"), (.object([:]), "object"),
    ])
    func typeNames(value: JSONValue, name: String) {
        #expect(value.typeName == name)
    }

    @Test func descriptionIsCompactJSONWithSortedKeys() throws {
        let value: JSONValue = ["b": 1, "a": ["d": nil, "c": "x/y"]]
        #expect(value.description == #"{"a":{"c":"x/y","d":null},"b":1}"#)
        #expect(try Self.parse(value.prettyPrinted) == value)
    }
}
