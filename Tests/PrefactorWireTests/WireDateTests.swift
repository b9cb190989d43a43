import Foundation
import PrefactorWire
import Testing

struct WireDateTests {
    // Expected values computed independently (Python `datetime`).
    @Test(arguments: [
        ("2025-01-02T03:04:05Z", Int64(1_735_787_045_000_000)),
        ("2025-01-02T03:04:05.123456Z", 1_735_787_045_123_456),
        ("2025-01-02T03:04:05.123456+00:00", 1_735_787_045_123_456),
        ("2025-01-02T03:04:05.123456+05:30", 1_735_767_245_123_456),
        ("2025-01-02T03:04:05-08:00", 1_735_815_845_000_000),
        ("2025-01-02T03:04:05.123456-00:00", 1_735_787_045_123_456),
        ("2025-01-02T03:04:05+0530", 1_735_767_245_000_000),
        ("2025-01-02t03:04:05z", 1_735_787_045_000_000),
        ("2025-01-02 03:04:05Z", 1_735_787_045_000_000),
        ("2026-11-25T07:34:28.838078+00:00", 1_795_592_068_838_078),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("1969-12-31T23:59:59.5Z", -500_000),
        ("1960-06-15T10:20:30.5-03:00", -301_228_769_500_000),
        ("1900-01-01T00:00:00Z", -2_208_988_800_000_000),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000_000),
        ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999_999),
    ])
    func parsesTimestamps(text: String, microseconds: Int64) {
        #expect(WireDate.parseMicroseconds(text) == microseconds)
    }

    @Test(arguments: [
        ("", Int64(0)), (".1", 100_000), (".12", 120_000), (".123", 123_000), (".1234", 123_400), (".12345", 123_450),
        (".123456", 123_456), (".1234567", 123_456), (".12345678", 123_456), (".123456789", 123_456),
        (".000001", 1), (".999999999", 999_999),
    ])
    func acceptsZeroToNineFractionalDigits(fraction: String, micros: Int64) {
        #expect(WireDate.parseMicroseconds("2025-01-02T03:04:05\(fraction)Z") == 1_735_787_045_000_000 + micros)
        #expect(WireDate.parseMicroseconds("2025-01-02T03:04:05\(fraction)+00:00") == 1_735_787_045_000_000 + micros)
    }

    @Test(arguments: [
        "", "2025", "2025-01-02", "2025-01-02T03:04:05", "2025-01-02T03:04Z", "2025-01-02T03:04:05.Z",
        "2025-01-02T03:04:05.1234567890Z", "2025-13-01T00:00:00Z", "2025-00-01T00:00:00Z", "2025-01-00T00:00:00Z",
        "2025-01-32T00:00:00Z", "2025-04-31T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2025-01-02T24:00:00Z", "2025-01-02T03:60:00Z", "2025-01-02T03:04:61Z", "2025-01-02T03:04:05+24:00",
        "2025-01-02T03:04:05+01:60", "2025-01-02T03:04:05+1", "2025-01-02T03:04:05Zjunk", "2025-01-02T03:04:05 Z",
        "2025-1-02T03:04:05Z", "2025/01/02T03:04:05Z", "2025-01-02X03:04:05Z", "x025-01-02T03:04:05Z",
        "2025-01-02T03:04:05.12a456Z", "2025-01-02T03:04:05GMT", "2025-01-02T03:04:05+01:00:00", "1735787045",
        " 2025-01-02T03:04:05Z", "2025-01-02T03:04:05Z ",
    ])
    func rejectsInvalidTimestamps(text: String) {
        #expect(WireDate.parseMicroseconds(text) == nil)
        #expect(WireDate.parse(text) == nil)
    }

    @Test(arguments: [
        ("2024-02-29T12:00:00Z", Int64(1_709_208_000_000_000)), ("2000-02-29T00:00:00Z", 951_782_400_000_000),
        ("1600-02-29T00:00:00Z", -11_670_998_400_000_000),
    ])
    func acceptsLeapDays(text: String, microseconds: Int64) {
        #expect(WireDate.parseMicroseconds(text) == microseconds)
        #expect(WireDate.format(microseconds: microseconds) == text.replacingOccurrences(of: ":00Z", with: ":00.000000Z"))
    }

    @Test func leapDayIsFollowedByMarchFirst() {
        let leapDay = WireDate.parseMicroseconds("2024-02-29T00:00:00Z")!
        #expect(WireDate.format(microseconds: leapDay + 86_400_000_000) == "2024-03-01T00:00:00.000000Z")
        let nonLeap = WireDate.parseMicroseconds("2023-02-28T00:00:00Z")!
        #expect(WireDate.format(microseconds: nonLeap + 86_400_000_000) == "2023-03-01T00:00:00.000000Z")
        #expect(
            WireDate.format(microseconds: WireDate.parseMicroseconds("2024-12-31T00:00:00Z")!) == "2024-12-31T00:00:00.000000Z")
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000000Z", "1970-01-01T00:00:00.000000+00:00"),
        (1_735_787_045_123_456, "2025-01-02T03:04:05.123456Z", "2025-01-02T03:04:05.123456+00:00"),
        (1_735_787_045_000_001, "2025-01-02T03:04:05.000001Z", "2025-01-02T03:04:05.000001+00:00"),
        (-1, "1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999+00:00"),
        (-500_000, "1969-12-31T23:59:59.500000Z", "1969-12-31T23:59:59.500000+00:00"),
        (-86_400_000_000, "1969-12-31T00:00:00.000000Z", "1969-12-31T00:00:00.000000+00:00"),
        (-2_208_988_800_000_000, "1900-01-01T00:00:00.000000Z", "1900-01-01T00:00:00.000000+00:00"),
        (-62_135_596_800_000_000, "0001-01-01T00:00:00.000000Z", "0001-01-01T00:00:00.000000+00:00"),
        (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999+00:00"),
    ])
    func formatsBothStyles(microseconds: Int64, zulu: String, python: String) {
        #expect(WireDate.format(microseconds: microseconds) == zulu)
        #expect(WireDate.format(microseconds: microseconds, style: .zulu) == zulu)
        #expect(WireDate.format(microseconds: microseconds, style: .python) == python)
        #expect(WireDate.parseMicroseconds(zulu) == microseconds)
        #expect(WireDate.parseMicroseconds(python) == microseconds)
    }

    @Test func yearsPastFourDigitsKeepEveryDigit() {
        #expect(WireDate.format(microseconds: 253_402_300_800_000_000) == "10000-01-01T00:00:00.000000Z")
        #expect(WireDate.format(microseconds: 253_402_300_800_000_001, style: .python) == "10000-01-01T00:00:00.000001+00:00")
    }

    @Test func otherOffsetsAreNormalisedToUTC() {
        let micros = WireDate.parseMicroseconds("2025-01-02T08:34:05.5+05:30")!
        #expect(WireDate.format(microseconds: micros) == "2025-01-02T03:04:05.500000Z")
        let west = WireDate.parseMicroseconds("2025-01-01T23:00:00-05:00")!
        #expect(WireDate.format(microseconds: west) == "2025-01-02T04:00:00.000000Z")
    }

    @Test func datesRoundTripAtMicrosecondPrecision() throws {
        for text in [
            "2025-01-02T03:04:05.123456Z", "2026-11-25T07:34:28.838078Z", "1969-07-20T20:17:40.000001Z",
            "1901-12-13T20:45:52.999999Z", "2100-01-01T00:00:00.000000Z",
        ] {
            let date = try #require(WireDate.parse(text))
            #expect(WireDate.format(date) == text)
            #expect(WireDate.format(date, style: .python) == text.replacingOccurrences(of: "Z", with: "+00:00"))
            #expect(WireDate.date(microseconds: WireDate.microseconds(of: date)) == date)
        }
    }

    @Test func microsecondsOfADateRoundToNearest() {
        #expect(WireDate.microseconds(of: Date(timeIntervalSince1970: 1.0000004)) == 1_000_000)
        #expect(WireDate.microseconds(of: Date(timeIntervalSince1970: 1.0000006)) == 1_000_001)
        #expect(WireDate.microseconds(of: Date(timeIntervalSince1970: -0.0000006)) == -1)
    }

    @Test func decoderAcceptsEveryFormAndRejectsGarbage() throws {
        struct Stamp: Decodable { var at: Date }
        for text in ["2025-01-02T03:04:05Z", "2025-01-02T03:04:05.123+00:00", "2025-01-02T08:34:05+05:30"] {
            let stamp = try WireCoding.decoder.decode(Stamp.self, from: Data(#"{"at":"\#(text)"}"#.utf8))
            #expect(WireDate.microseconds(of: stamp.at) == WireDate.parseMicroseconds(text))
        }
        for bad in [#"{"at":"yesterday"}"#, #"{"at":1735787045}"#, #"{"at":null}"#] {
            #expect(throws: DecodingError.self) { try WireCoding.decoder.decode(Stamp.self, from: Data(bad.utf8)) }
        }
    }
}
