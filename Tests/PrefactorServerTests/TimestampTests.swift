import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

@Suite(.timeLimit(.minutes(1)))
struct TimestampTests {
    @Test(arguments: [
        ("2025-01-02T03:04:05.123456+00:00", "2025-01-02T03:04:05.123456Z"),  // Python isoformat()
        ("2025-01-02T03:04:05.123Z", "2025-01-02T03:04:05.123000Z"),  // JavaScript toISOString()
        ("2025-01-02T03:04:05Z", "2025-01-02T03:04:05.000000Z"),
        ("2025-01-02T05:04:05.5+02:00", "2025-01-02T03:04:05.500000Z"),
        ("2025-01-01T22:04:05.000001-05:00", "2025-01-02T03:04:05.000001Z"),
        ("2024-02-29T23:59:59.999999+00:00", "2024-02-29T23:59:59.999999Z"),
        ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500000Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
        ("2025-01-02T03:04:05.123456789Z", "2025-01-02T03:04:05.123456Z"),
    ])
    func inputTimestampsParseAndComeBackInZuluMicroseconds(input: String, expected: String) async throws {
        try await withAPI { api in
            let id = try await api.registerID()
            let started = try await api.post("/api/v1/agent_instance/\(id)/start", ["timestamp": .string(input)]).details()
            #expect(started["started_at"] == .string(expected))
            let finished = try await api.post("/api/v1/agent_instance/\(id)/finish", ["timestamp": .string(input)]).details()
            #expect(finished["finished_at"] == .string(expected))
            let span = try await api.createSpan(
                instance: id, status: "complete", ["started_at": .string(input), "finished_at": .string(input)]
            ).details()
            #expect(span["started_at"] == .string(expected))
            #expect(span["finished_at"] == .string(expected))
            let spanID = try #require(span["id"]?.stringValue)
            let active = try await api.createSpanID(instance: id)
            let spanFinished = try await api.post("/api/v1/agent_spans/\(active)/finish", ["timestamp": .string(input)]).details()
            #expect(spanFinished["finished_at"] == .string(expected))
            #expect(try await api.spans(of: id).first { $0["id"] == .string(spanID) }?["started_at"] == .string(expected))
        }
    }

    @Test func serverChosenTimestampsUseZuluWithMicroseconds() async throws {
        try await withAPI { api in
            let agent = try await api.createAgent(["name": "Clock"])
            let instance = try await api.register()
            let id = try #require(instance["id"]?.stringValue)
            let started = try await api.post("/api/v1/agent_instance/\(id)/start", ["timestamp": nil]).details()
            let span = try await api.createSpan(instance: id, status: "complete").details()
            let terminated = try await api.post("/api/v1/agent_instance/\(id)/terminate", [:]).details()
            let values: [JSONValue?] = [
                agent["inserted_at"], agent["updated_at"], instance["inserted_at"], instance["updated_at"], started["started_at"],
                span["started_at"], span["finished_at"], span["inserted_at"], span["updated_at"], terminated["finished_at"],
            ]
            for value in values { #expect(isZuluMicroseconds(value), "\(String(describing: value))") }
        }
    }

    @Test(arguments: [
        "2025-01-02", "2025-01-02T03:04:05", "2025-01-02T03:04:05.123+0000x", "2025-13-02T03:04:05Z", "2025-01-32T03:04:05Z",
        "2025-01-02T24:00:00Z", "2025-01-02T03:04:05.Z", "2025-01-02T03:04:05.1234567891Z", "2023-02-29T00:00:00Z", "",
        "1735787045",
    ])
    func malformedTimestampsAreValidationErrors(input: String) async throws {
        try await withAPI { api in
            let id = try await api.registerID()
            let before = try await api.getInstance(id)
            let reply = try await api.post("/api/v1/agent_instance/\(id)/start", ["timestamp": .string(input)])
            reply.expectError(422, "validation_error")
            #expect(reply.errorFields == ["timestamp"])
            expectIdentical(try await api.getInstance(id), before)
        }
    }
}
