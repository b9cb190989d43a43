import Foundation

/// ISO 8601 timestamps exactly as the Prefactor wire uses them.
///
/// Clients send timestamps the way the official Python SDK does (`2025-01-02T03:04:05.123456+00:00`); the
/// server answers with UTC `Z` timestamps with microseconds (`2025-01-02T03:04:05.123456Z`). Parsing accepts
/// both, any UTC offset, and zero to nine fractional digits.
public enum WireDate {
    /// How a timestamp is written.
    public enum Style: Sendable {
        /// Microseconds and `+00:00`, as Python's `datetime.isoformat()` writes UTC times.
        case python
        /// Microseconds and `Z`, as the server writes them.
        case zulu
    }

    /// Formats a date as an ISO 8601 UTC timestamp with microseconds.
    ///
    /// - Parameters:
    ///   - date: The instant to format.
    ///   - style: The suffix style.
    /// - Returns: The timestamp text.
    public static func format(_ date: Date, style: Style = .zulu) -> String {
        format(microseconds: microseconds(of: date), style: style)
    }

    /// Formats microseconds since 1970 as an ISO 8601 UTC timestamp.
    ///
    /// - Parameters:
    ///   - microseconds: Microseconds since the Unix epoch.
    ///   - style: The suffix style.
    /// - Returns: The timestamp text.
    public static func format(microseconds: Int64, style: Style = .zulu) -> String {
        var seconds = microseconds / 1_000_000
        var micros = microseconds % 1_000_000
        if micros < 0 {
            micros += 1_000_000
            seconds -= 1
        }
        let (year, month, day) = civilDate(daysSinceEpoch: floorDiv(seconds, 86_400))
        let secondOfDay = seconds - floorDiv(seconds, 86_400) * 86_400
        guard (0...9999).contains(year) else { return formatSlowly(year, month, day, secondOfDay, micros, style) }
        // `YYYY-MM-DDTHH:MM:SS.ffffff` and the suffix, written in place: one allocation per timestamp.
        let suffix: StaticString = style == .python ? "+00:00" : "Z"
        return String(unsafeUninitializedCapacity: 26 + suffix.utf8CodeUnitCount) { buffer in
            var index = 0
            func put(_ value: Int64, width: Int) {
                var value = value
                for offset in stride(from: width - 1, through: 0, by: -1) {
                    buffer[index + offset] = UInt8(truncatingIfNeeded: 0x30 + value % 10)
                    value /= 10
                }
                index += width
            }
            func put(_ byte: UInt8) {
                buffer[index] = byte
                index += 1
            }
            put(year, width: 4)
            put(0x2D)
            put(month, width: 2)
            put(0x2D)
            put(day, width: 2)
            put(0x54)
            put(secondOfDay / 3600, width: 2)
            put(0x3A)
            put((secondOfDay % 3600) / 60, width: 2)
            put(0x3A)
            put(secondOfDay % 60, width: 2)
            put(0x2E)
            put(micros, width: 6)
            for offset in 0..<suffix.utf8CodeUnitCount { put(suffix.utf8Start[offset]) }
            return index
        }
    }

    /// The general form, for years outside 0–9999 (wider or negative years).
    private static func formatSlowly(
        _ year: Int64, _ month: Int64, _ day: Int64, _ secondOfDay: Int64, _ micros: Int64, _ style: Style
    ) -> String {
        var text = ""
        text.reserveCapacity(32)
        append(&text, year, width: 4)
        text.append("-")
        append(&text, month, width: 2)
        text.append("-")
        append(&text, day, width: 2)
        text.append("T")
        append(&text, secondOfDay / 3600, width: 2)
        text.append(":")
        append(&text, (secondOfDay % 3600) / 60, width: 2)
        text.append(":")
        append(&text, secondOfDay % 60, width: 2)
        text.append(".")
        append(&text, micros, width: 6)
        text.append(style == .python ? "+00:00" : "Z")
        return text
    }

    /// Parses an ISO 8601 / RFC 3339 timestamp.
    ///
    /// - Parameter text: The timestamp, e.g. `2025-01-02T03:04:05Z` or `2025-01-02T03:04:05.123456+01:00`.
    /// - Returns: The instant, or `nil` when the text is not a valid timestamp.
    public static func parse(_ text: String) -> Date? {
        parseMicroseconds(text).map { Date(timeIntervalSince1970: Double($0) / 1_000_000) }
    }

    /// Parses an ISO 8601 / RFC 3339 timestamp into microseconds since 1970.
    ///
    /// - Parameter text: The timestamp.
    /// - Returns: Microseconds since the Unix epoch, or `nil` when the text is not a valid timestamp.
    public static func parseMicroseconds(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8(parseMicroseconds(utf8:))
    }

    private static func parseMicroseconds(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        func digits(_ count: Int) -> Int64? {
            guard index + count <= bytes.count else { return nil }
            var value: Int64 = 0
            for offset in 0..<count {
                let byte = bytes[index + offset]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            index += count
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard index < bytes.count, characters.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
            expect("Tt "), let hour = digits(2), expect(":"), let minute = digits(2), expect(":"),
            let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month), hour < 24,
            minute < 60, second < 61
        else { return nil }
        var micros: Int64 = 0
        if index < bytes.count, bytes[index] == 0x2E {
            index += 1
            var count = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                if count < 6 { micros = micros * 10 + Int64(bytes[index] - 0x30) }
                count += 1
                index += 1
            }
            guard count > 0, count <= 9 else { return nil }
            for _ in count..<max(count, 6) { micros *= 10 }
        }
        var offsetSeconds: Int64 = 0
        guard index < bytes.count else { return nil }
        if bytes[index] == 0x5A || bytes[index] == 0x7A {
            index += 1
        } else if bytes[index] == 0x2B || bytes[index] == 0x2D {
            let sign: Int64 = bytes[index] == 0x2D ? -1 : 1
            index += 1
            guard let offsetHours = digits(2), offsetHours < 24 else { return nil }
            _ = expect(":")
            guard let offsetMinutes = digits(2), offsetMinutes < 60 else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds * 1_000_000 + micros
    }

    /// Microseconds since 1970 for a date, rounded to the nearest microsecond.
    ///
    /// - Parameter date: The instant.
    /// - Returns: Microseconds since the Unix epoch.
    public static func microseconds(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// The date for microseconds since 1970.
    ///
    /// - Parameter microseconds: Microseconds since the Unix epoch.
    /// - Returns: The instant.
    public static func date(microseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
    }

    private static func append(_ text: inout String, _ value: Int64, width: Int) {
        let digits = String(value)
        if digits.count < width { text.append(String(repeating: "0", count: width - digits.count)) }
        text.append(digits)
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    private static func isLeap(_ year: Int64) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    private static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Days from civil date, after Howard Hinnant's public-domain algorithms.
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civilDate(daysSinceEpoch days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (month <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, month, day)
    }
}
