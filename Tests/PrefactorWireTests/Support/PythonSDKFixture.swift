import Foundation
import PrefactorWire
import Testing

/// One request of `Fixtures/python-sdk-requests.jsonl`: what the official Python SDK sent in a real run.
struct FixtureRequest: Sendable, CustomTestStringConvertible {
    var seq: Int
    var method: String
    var path: String
    var headers: [String: JSONValue]
    var body: JSONValue

    var testDescription: String { "#\(seq) \(method) \(path)" }

    /// The request kinds the fixture holds, told apart by path and body shape.
    var kind: FixtureRequestKind? {
        let segments = path.split(separator: "/").map(String.init)
        switch (method, segments.count, segments.last) {
        case ("GET", 3, "ping"):
            return .ping
        case ("POST", 4, "register") where segments[2] == "agent_instance":
            return .register
        case ("POST", 5, "start") where segments[2] == "agent_instance":
            return .instanceStart
        case ("POST", 5, "finish") where segments[2] == "agent_instance":
            return .instanceFinish
        case ("POST", 5, "record_quality") where segments[2] == "agent_instance":
            return .recordQuality
        case ("POST", 3, "agent_spans"):
            let details = body["details"]
            if details?["parent_span_id"] != nil { return .spanCreateChild }
            if details?["status"] == "pending" { return .spanCreatePending }
            return .spanCreateRoot
        case ("POST", 5, "finish") where segments[2] == "agent_spans":
            if body["result_payload"] != nil { return .spanFinishWithResult }
            if body["timestamp"] == nil { return .spanFinishWithoutTimestamp }
            return .spanFinishWithoutResult
        default:
            return nil
        }
    }
}

/// The kinds of request in the Python SDK fixture.
enum FixtureRequestKind: String, CaseIterable, Sendable {
    case ping
    case register
    case instanceStart
    case spanCreateRoot
    case spanCreateChild
    case spanCreatePending
    case spanFinishWithResult
    case spanFinishWithoutResult
    case spanFinishWithoutTimestamp
    case recordQuality
    case instanceFinish
}

enum PythonSDKFixture {
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// Every request of the fixture, in order.
    static func load() throws -> [FixtureRequest] {
        guard
            let url = Bundle.module.url(
                forResource: "python-sdk-requests", withExtension: "jsonl", subdirectory: "Fixtures")
        else { throw LoadError(description: "Fixtures/python-sdk-requests.jsonl is not in the test bundle") }
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(whereSeparator: \.isNewline).map { line in
            let value = try JSONValue(parsing: Data(line.utf8))
            guard let seq = value["seq"]?.intValue, let method = value["method"]?.stringValue,
                let path = value["path"]?.stringValue, let body = value["body"]
            else { throw LoadError(description: "malformed fixture line: \(line.prefix(80))") }
            return FixtureRequest(
                seq: Int(seq), method: method, path: path, headers: value["headers"]?.objectValue ?? [:], body: body)
        }
    }

    /// Requests of one kind.
    static func requests(_ kind: FixtureRequestKind) throws -> [FixtureRequest] {
        try load().filter { $0.kind == kind }
    }

    /// A Python `isoformat()` UTC timestamp (`2026-11-25T07:34:28.838078+00:00`) as a `Date`, computed with
    /// Foundation's calendar rather than ``WireDate``, so that the encoder is checked against an independent reading.
    static func date(_ text: String) throws -> Date {
        guard text.hasSuffix("+00:00") else { throw LoadError(description: "not a UTC isoformat timestamp: \(text)") }
        let main = text.dropLast(6)
        let halves = main.split(separator: ".", maxSplits: 1)
        let dateTime = halves[0].split(separator: "T")
        guard dateTime.count == 2 else { throw LoadError(description: "no T in \(text)") }
        let day = dateTime[0].split(separator: "-").compactMap { Int($0) }
        let time = dateTime[1].split(separator: ":").compactMap { Int($0) }
        guard day.count == 3, time.count == 3 else { throw LoadError(description: "bad timestamp \(text)") }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(
            year: day[0], month: day[1], day: day[2], hour: time[0], minute: time[1], second: time[2])
        guard let whole = calendar.date(from: components) else { throw LoadError(description: "bad date \(text)") }
        var micros = 0
        if halves.count == 2 {
            let digits = String(halves[1])
            guard digits.count == 6, let value = Int(digits) else {
                throw LoadError(description: "expected six fractional digits in \(text)")
            }
            micros = value
        }
        return Date(timeIntervalSince1970: whole.timeIntervalSince1970 + Double(micros) / 1_000_000)
    }
}
