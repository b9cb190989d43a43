import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Keys over 64 characters are rejected before any request; exactly 64 is accepted (spec §1.5, conformance 21).
@Suite(.timeLimit(.minutes(1)))
struct IdempotencyKeyLimitTests {
    enum Operation: String, CaseIterable, Sendable {
        case register, start, finish, recordQuality, spanCreate, spanFinish, agentCreate
    }

    /// Calls one keyed operation with `key`, on an instance and span prepared beforehand.
    static func call(_ operation: Operation, key: String, h: Harness, instanceID: String, spanID: String)
        async throws(PrefactorHTTPError)
    {
        switch operation {
        case .register:
            _ = try await h.client.registerAgentInstance(RegisterAgentInstanceRequest(idempotencyKey: key))
        case .start:
            _ = try await h.client.startAgentInstance(id: instanceID, idempotencyKey: key)
        case .finish:
            _ = try await h.client.finishAgentInstance(id: instanceID, idempotencyKey: key)
        case .recordQuality:
            _ = try await h.client.recordQuality(
                instanceID: instanceID, name: "accuracy", payload: ["score": 1], idempotencyKey: key)
        case .spanCreate:
            _ = try await h.client.createSpan(
                CreateSpanRequest(agentInstanceID: instanceID, schemaName: "agent:llm", idempotencyKey: key))
        case .spanFinish:
            _ = try await h.client.finishSpan(id: spanID, idempotencyKey: key)
        case .agentCreate:
            _ = try await h.client.createAgent(CreateAgentRequest(name: "n", idempotencyKey: key))
        }
    }

    @Test(arguments: Operation.allCases)
    func keysOverSixtyFourCharactersAreRejectedBeforeSending(operation: Operation) async throws {
        try await withHarness { h in
            let instance = try await h.client.registerAgentInstance(Harness.registerRequest())
            let span = try await h.client.createSpan(CreateSpanRequest(agentInstanceID: instance.id, schemaName: "agent:llm"))
            let before = h.log.totalCount
            let sentBefore = h.transport.requests.count
            let key = String(repeating: "k", count: 65)
            let error = try #require(
                await httpError {
                    try await Self.call(operation, key: key, h: h, instanceID: instance.id, spanID: span.span.id)
                })
            #expect(error.code == .invalidRequest)
            #expect(error.message.contains("64 characters"))
            #expect(error.status == nil)
            #expect(error.isPermanent)
            #expect(h.log.totalCount == before, "the server saw no request")
            #expect(h.transport.requests.count == sentBefore, "nothing was sent")
        }
    }

    @Test(arguments: Operation.allCases)
    func keyOfExactlySixtyFourCharactersIsAccepted(operation: Operation) async throws {
        try await withHarness { h in
            let instance = try await h.client.registerAgentInstance(Harness.registerRequest())
            if operation == .finish || operation == .recordQuality {
                _ = try await h.client.startAgentInstance(id: instance.id)
            }
            let span = try await h.client.createSpan(CreateSpanRequest(agentInstanceID: instance.id, schemaName: "agent:llm"))
            let before = h.log.totalCount
            let key = String(repeating: "k", count: 63) + "!"
            try await Self.call(operation, key: key, h: h, instanceID: instance.id, spanID: span.span.id)
            #expect(h.log.totalCount == before + 1)
            let sent = try #require(h.transport.last?.json)
            let sentKey = sent["idempotency_key"] ?? sent["details"]?["idempotency_key"]
            #expect(sentKey == .string(key))
        }
    }

    @Test func emptyKeyIsRejectedBeforeSending() async throws {
        try await withHarness { h in
            let error = try #require(
                await httpError { try await h.client.registerAgentInstance(RegisterAgentInstanceRequest(idempotencyKey: "")) })
            #expect(error.code == .invalidRequest)
            #expect(h.log.totalCount == 0)
        }
    }

    @Test func longKeyCountsCharactersNotBytes() async throws {
        try await withHarness { h in
            let key = String(repeating: "é", count: 64)
            _ = try await h.client.registerAgentInstance(RegisterAgentInstanceRequest(idempotencyKey: key))
            #expect(h.log.totalCount == 1)
        }
    }
}
