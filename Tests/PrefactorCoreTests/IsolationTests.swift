import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServerTesting
import PrefactorWire
import Testing

// The closure APIs run their closure on the caller's actor: code on the main actor (an `@main` type's
// `static func main()`) passes closures that capture and change its local state, with nothing marked `Sendable`.
// This file compiling is half of the test.

/// Shaped like an `@main` type: main-actor code using the scoped client and span closures.
@MainActor
enum MainActorApp {
    static func main(configuration: PrefactorClient.Configuration) async throws -> [String] {
        var ids: [String] = []
        var steps = 0
        let counter = NonSendableCounter()
        try await withPrefactorClient(configuration: configuration) { client in
            let run = try await client.createAgentInstance(agentVersion: ["name": "main-actor-app"], agentSchemaVersion: [:])
            ids.append(run.id)
            try await run.start()
            let answer = try await run.span("agent:llm", payload: ["model": "m"]) { span in
                steps += 1
                counter.value += 1
                ids.append(span.id)
                return counter  // a non-Sendable result comes back to the caller's actor
            }
            answer.value += 1
            try await run.finish()
        }
        #expect(steps == 1)
        #expect(counter.value == 2)
        return ids
    }
}

/// A class that is not `Sendable`.
final class NonSendableCounter {
    var value = 0
}

@Suite struct IsolationTests {
    @Test func mainActorCodeCapturesAndChangesLocalStateInTheClosures() async throws {
        let ids = try await withTestServer { server in
            try await MainActorApp.main(configuration: coreConfiguration(server))
        }
        #expect(ids.count == 2)
        #expect(ids[0].hasPrefix("ai_"))
        #expect(ids[1].hasPrefix("span-"))
    }
}
