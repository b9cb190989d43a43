import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Guarantee 1: span start never waits on the network (queued mode); synchronous mode awaits the create; register
/// is synchronous. "At once" is checked by state, never by timing: a slow server has not answered yet when the
/// call returns.
@Suite(.timeLimit(.minutes(1)))
struct NonBlockingStartTests {
    /// With separate finish requests (no combining), so that both finishes are addressed by the spans' API ids.
    @Test func queuedStartReturnsBeforeTheServerAnswersAndResolvesTheLocalID() async throws {
        try await withTestServer { server in
            let (instanceID, ids) = try await withPrefactorClient(
                configuration: coreConfiguration(server, coalesce: false)
            ) { client in
                let run = try await registerInstance(client)
                try await run.start()
                try await eventually("the start is delivered") { client.snapshot().queue.depth == 0 }
                // The next span create takes two seconds to be answered.
                server.faults.add(FaultRule(method: "POST", path: spansPath, count: 1, latencyMilliseconds: 2_000))

                let parent = try await run.createSpan(schemaName: "agent:parent")
                let child = try await run.createSpan(schemaName: "agent:child", parentSpanID: parent)
                try await run.finishSpan(child, resultPayload: ["r": 1])
                try await run.finishSpan(parent)

                // All four calls returned while the server still holds the first create.
                #expect(server.posts(spansPath).isEmpty, "nothing about the spans was answered yet")
                for id in [parent, child] {
                    let span = try #require(client.spanManager.span(withID: id))
                    #expect(span.id == id, "the returned id is the local id")
                    #expect(span.apiID == nil)
                    #expect(!span.createDelivered)
                    #expect(span.phase == .complete, "finish was recorded locally at once")
                }
                #expect(client.snapshot().queue.depth == 4)

                try await eventually("every span operation is delivered") { client.snapshot().queue.depth == 0 }
                server.faults.removeAll()
                try await run.finish()
                return (run.id, [parent, child])
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            let parent = try #require(spans["agent:parent"])
            let child = try #require(spans["agent:child"])
            #expect(child.parentSpanID == parent.id, "the child was sent with the parent's API id")
            #expect(parent.status == .complete)
            #expect(child.status == .complete)
            #expect(child.resultPayload == ["r": 1])
            // The finishes were addressed by API id; no local (temporary) id ever reached the server.
            let log = server.requests.requests
            #expect(log.contains { isSpanFinish($0, apiID: parent.id) })
            #expect(log.contains { isSpanFinish($0, apiID: child.id) })
            for local in ids {
                #expect(!log.contains { $0.path.contains(local) || ($0.query ?? "").contains(local) })
            }
        }
    }

    @Test func theLocalIDStaysValidAfterResolution() async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                let local = try await run.createSpan(schemaName: "agent:resolved")
                try await eventually("the create is delivered") {
                    client.spanManager.span(withID: local)?.createDelivered == true
                }
                let resolved = try apiID(client, local)
                #expect(resolved != local)
                // Both ids keep working: a child by local id, the finish by API id.
                let child = try await run.createSpan(schemaName: "agent:child", parentSpanID: local)
                try await run.finishSpan(child)
                try await run.finishSpan(resolved)
                #expect(client.spanManager.span(withID: local)?.phase == .complete)
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            #expect(spans["agent:child"]?.parentSpanID == spans["agent:resolved"]?.id)
            #expect(spans["agent:resolved"]?.status == .complete)
        }
    }

    @Test func synchronousStartAwaitsTheCreateAndReturnsTheAPIID() async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(
                configuration: coreConfiguration(server, mode: .synchronous)
            ) { client in
                let run = try await registerInstance(client)
                try await run.start()
                let parent = try await run.createSpan(schemaName: "agent:parent")
                // The create was answered before createSpan returned.
                #expect(server.posts(spansPath).filter(isSpanCreate).count == 1)
                let span = try #require(client.spanManager.span(withID: parent))
                #expect(span.apiID == parent, "synchronous start returns the API id")
                #expect(span.id != parent, "the local id is distinct")
                #expect(span.createDelivered)
                #expect(client.snapshot().operations.allSatisfy { $0.operation.kind != .createSpan }, "nothing queued")

                let prepared = client.spanManager.prepare(instanceID: run.id, schemaName: "agent:child", parentSpanID: parent)
                let started = try await client.spanManager.start(prepared)
                #expect(started == client.spanManager.span(withID: prepared)?.apiID)
                try await run.finishSpan(started)
                try await run.finishSpan(parent)
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            #expect(spans["agent:child"]?.parentSpanID == spans["agent:parent"]?.id)
            #expect(spans.values.allSatisfy { $0.status == .complete })
        }
    }

    @Test func synchronousStartReportsAnAPIFailureToTheCaller() async throws {
        try await withTestServer { server in
            _ = try await withPrefactorClient(configuration: coreConfiguration(server, mode: .synchronous)) { client in
                let run = try await registerInstance(client)
                server.faults.add(FaultRule(method: "POST", path: spansPath, status: 422, count: 1))
                let prepared = client.spanManager.prepare(instanceID: run.id, schemaName: "agent:rejected")
                do {
                    try await client.spanManager.start(prepared)
                    Issue.record("the start should fail")
                } catch let error as PrefactorError {
                    #expect(error.code == .api)
                    #expect(error.underlying?.status == 422)
                }
                #expect(client.spanManager.span(withID: prepared)?.phase == .prepared, "it can be started again")
                try await client.spanManager.start(prepared)
                try await client.spanManager.finish(prepared)
                return ()
            }
        }
    }

    @Test func registerIsSynchronousInBothModes() async throws {
        for mode in [PrefactorClient.SpanStartMode.queued, .synchronous] {
            try await withTestServer { server in
                _ = try await withPrefactorClient(configuration: coreConfiguration(server, mode: mode)) { client in
                    let run = try await registerInstance(client)
                    #expect(server.posts("/api/v1/agent_instance/register").map(\.status) == [200])
                    let stored = try await inspector(server).agentInstance(id: run.id)
                    #expect(stored.status == .pending)
                    #expect(client.snapshot().queue.depth == 0, "register is not queued")
                    return ()
                }
            }
        }
    }
}
