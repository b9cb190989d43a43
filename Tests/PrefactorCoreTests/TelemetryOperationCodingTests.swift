import Foundation
import PrefactorCore
import PrefactorWire
import Testing

/// Operations are `Codable` so a queue can keep them on disk; older encodings stay readable.
struct TelemetryOperationCodingTests {
    let operation = TelemetryOperation(
        id: 7, instanceID: "ai_1",
        body: .finishSpan(
            spanID: "span-1", status: .complete, resultPayload: ["ok": true], timestamp: Date(timeIntervalSince1970: 1)),
        idempotencyKey: "caller-key-1", idempotencyKeyGiven: true, enqueuedAt: Date(timeIntervalSince1970: 2))

    @Test func roundTripKeepsEveryField() throws {
        let decoded = try JSONDecoder().decode(TelemetryOperation.self, from: JSONEncoder().encode(operation))
        #expect(decoded == operation)
        #expect(decoded.idempotencyKeyGiven)
    }

    @Test func anEncodingWithoutTheFlagReadsAsAGeneratedKey() throws {
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(operation))
        var object = try #require(encoded as? [String: Any])
        #expect(object.removeValue(forKey: "idempotencyKeyGiven") != nil)
        let decoded = try JSONDecoder().decode(
            TelemetryOperation.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(!decoded.idempotencyKeyGiven)
        var expected = operation
        expected.idempotencyKeyGiven = false
        #expect(decoded == expected)
    }
}
