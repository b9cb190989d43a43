import Foundation
import PrefactorWire
import Testing

@testable import PrefactorCore

/// A queue file's record of an operation reads back as the same operation, for every kind of body.
struct QueueRecordTests {
    static let at = Date(timeIntervalSinceReferenceDate: 786_000_000.123_456_7)
    static let bodies: [TelemetryOperation.Body] = [
        .startInstance(timestamp: at),
        .finishInstance(status: .failed, timestamp: at),
        .recordQuality(name: "accuracy", payload: ["score": 0.75, "nested": ["a": [1, 2, "x"]]]),
        .recordQuality(name: "removed", payload: nil),
        .createSpan(
            spanID: "span-3", parentSpanID: "sp_api_parent", schemaName: "llm:chat", status: .active,
            payload: ["prompt": "héllo \"quoted\"\n", "n": 3, "f": 1.0, "none": nil], startedAt: at),
        .createSpan(spanID: "span-4", parentSpanID: nil, schemaName: "root", status: .pending, payload: [:], startedAt: at),
        .finishSpan(spanID: "span-3", status: .cancelled, resultPayload: ["ok": true], timestamp: at),
        .finishSpan(spanID: "span-4", status: .complete, resultPayload: nil, timestamp: at),
    ]

    @Test(arguments: bodies)
    func aRecordReadsBackAsTheSameOperation(body: TelemetryOperation.Body) throws {
        let operation = TelemetryOperation(
            id: 42, instanceID: "ai_1", body: body, idempotencyKey: "key-42", idempotencyKeyGiven: true,
            enqueuedAt: Self.at.addingTimeInterval(0.000_001),
            dependencies: [.init(operationID: 40, kind: .requires), .init(operationID: 41, kind: .after)])
        let decoded = try TelemetryOperation(recordText: Array(operation.recordText.utf8))
        #expect(decoded == operation)
    }

    @Test func aTornRecordIsRejected() {
        let text = TelemetryOperation(
            id: 1, instanceID: "ai", body: .startInstance(timestamp: Self.at), idempotencyKey: "k", enqueuedAt: Self.at
        ).recordText
        #expect(throws: TelemetryOperation.RecordError.self) {
            try TelemetryOperation(recordText: Array(text.utf8.prefix(text.utf8.count / 2)))
        }
    }
}
