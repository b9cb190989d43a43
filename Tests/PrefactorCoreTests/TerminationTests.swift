import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Guarantee 7: an operator's termination, seen in the control block of a span response or by the instance poll,
/// surfaces as one `.instanceTerminated` event and through the handle.
@Suite(.timeLimit(.minutes(1)))
struct TerminationTests {
    /// A configuration whose poll never runs during a test, so only span responses can reveal a termination.
    func withoutPoll(_ server: TestServer, mode: PrefactorClient.SpanStartMode = .queued) -> PrefactorClient.Configuration {
        var configuration = coreConfiguration(server, mode: mode)
        configuration.terminationPollInterval = .seconds(3_600)
        return configuration
    }

    func terminations(_ events: [ClientEvent]) -> [InstanceSnapshot] {
        events.compactMap { event in
            if case .instanceTerminated(let snapshot) = event { return snapshot }
            return nil
        }
    }

    @Test func aControlSignalOnASpanCreateTerminatesTheInstance() async throws {
        try await withTestServer { server in
            let (recorder, instanceID) = try await withPrefactorClient(configuration: withoutPoll(server)) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                try await run.start()
                let before = try await run.createSpan(schemaName: "agent:before")
                try await eventually("the first span is delivered") {
                    client.spanManager.span(withID: before)?.createDelivered == true
                }
                let waiter = Task { await run.waitForTermination() }
                _ = try await inspector(server).terminateAgentInstance(id: run.id, reason: "operator stop")
                // Nothing told the client yet: no poll, no span response since.
                #expect(!run.isTerminated)
                #expect(run.terminationReason == nil)

                let after = try await run.createSpan(schemaName: "agent:after")
                try await eventually("the create response terminates the instance") { run.isTerminated }
                #expect(run.terminationReason == "operator stop")
                #expect(run.snapshot?.phase == .terminated)
                let woken = await waiter.value
                #expect(woken?.instanceID == run.id)
                #expect(woken?.reason == "operator stop")
                // Once terminated, waiting returns at once.
                let again = await run.waitForTermination()
                #expect(again == woken)

                try await run.finishSpan(after)
                try await run.finishSpan(before)
                try await run.finish()  // a no-op: the instance is already over
                return (recorder, run.id)
            }
            let events = await recorder.finished()
            let terminated = terminations(events)
            #expect(terminated.count == 1, "one event, though the finish responses carry the signal too")
            #expect(terminated.first?.id == instanceID)
            #expect(terminated.first?.terminationReason == "operator stop")
            #expect(server.posts(instancePath(instanceID, "finish")).isEmpty)
            #expect(server.requests.requests(method: "GET", pathPrefix: "/api/v1/agent_instance/").isEmpty, "no poll")
        }
    }

    @Test func aControlSignalOnASpanFinishTerminatesTheInstance() async throws {
        try await withTestServer { server in
            _ = try await withPrefactorClient(configuration: withoutPoll(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                let span = try await run.createSpan(schemaName: "agent:running")
                try await eventually("the span is delivered") {
                    client.spanManager.span(withID: span)?.createDelivered == true
                }
                _ = try await inspector(server).terminateAgentInstance(id: run.id, reason: nil)
                #expect(!run.isTerminated)
                try await run.finishSpan(span)
                let termination = await run.waitForTermination()
                #expect(termination?.instanceID == run.id)
                #expect(termination != nil && termination?.reason == nil)
                #expect(run.isTerminated)
                #expect(run.terminationReason == nil)
                return ()
            }
        }
    }

    @Test func aSynchronousSpanStartSeesTheSignalBeforeItReturns() async throws {
        try await withTestServer { server in
            _ = try await withPrefactorClient(configuration: withoutPoll(server, mode: .synchronous)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                try await eventually("the start is delivered") { client.snapshot().queue.depth == 0 }
                _ = try await inspector(server).terminateAgentInstance(id: run.id, reason: "budget exceeded")
                let span = try await run.createSpan(schemaName: "agent:after")
                #expect(run.isTerminated)
                #expect(run.terminationReason == "budget exceeded")
                try await run.finishSpan(span)
                return ()
            }
        }
    }

    @Test func thePollDetectsTerminationWithoutSpanTraffic() async throws {
        try await withTestServer { server in
            let recorder = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let recorder = EventRecorder(client.events())
                let started = try await registerInstance(client)
                let registered = try await registerInstance(client)  // never started: polled too
                let bystander = try await registerInstance(client)
                try await started.start()
                try await eventually("the start is delivered") { client.snapshot().queue.depth == 0 }
                let api = try inspector(server)
                _ = try await api.terminateAgentInstance(id: started.id, reason: "stop started")
                _ = try await api.terminateAgentInstance(id: registered.id, reason: "stop registered")
                #expect(await started.waitForTermination()?.reason == "stop started")
                #expect(await registered.waitForTermination()?.reason == "stop registered")
                #expect(server.requests.requests(method: "GET", pathPrefix: "/api/v1/agent_instance/\(started.id)").count >= 1)
                #expect(!bystander.isTerminated, "other instances are not affected")
                #expect(bystander.terminationReason == nil)
                try await bystander.finish()
                return recorder
            }
            let terminated = terminations(await recorder.finished())
            #expect(terminated.compactMap(\.terminationReason).sorted() == ["stop registered", "stop started"])
        }
    }

    @Test func thePollStopsForFinishedInstances() async throws {
        try await withTestServer { server in
            _ = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let finished = try await registerInstance(client)
                let watched = try await registerInstance(client)
                try await finished.start()
                try await finished.finish()
                try await eventually("the finish is delivered") { client.snapshot().queue.depth == 0 }
                let watchedPath = "/api/v1/agent_instance/\(watched.id)"
                let watchedPolls = { server.requests.requests(method: "GET", pathPrefix: watchedPath).count }
                // Instances are polled in order: once the watched one was polled again, a poll that began before
                // the finish is over.
                let initial = watchedPolls()
                try await eventually("a poll ran") { watchedPolls() >= initial + 1 }
                let finishedPolls = server.requests.requests(method: "GET", pathPrefix: "/api/v1/agent_instance/\(finished.id)")
                    .count
                try await eventually("two more polls ran") { watchedPolls() >= initial + 3 }
                #expect(
                    server.requests.requests(method: "GET", pathPrefix: "/api/v1/agent_instance/\(finished.id)").count
                        == finishedPolls)
                #expect(!finished.isTerminated)
                return ()
            }
        }
    }

    @Test func waitingForTerminationEndsWithNilAtShutdown() async throws {
        try await withTestServer { server in
            let client = try PrefactorClient(configuration: withoutPoll(server))
            let runner = Task { try await client.run() }
            let run = try await registerInstance(client)
            let waiter = Task { await run.waitForTermination() }
            await client.shutdown()
            try await runner.value
            #expect(await waiter.value == nil)
            #expect(await run.waitForTermination() == nil, "after shutdown too")
            #expect(!run.isTerminated)
        }
    }
}
