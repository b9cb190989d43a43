import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Applies one event to a snapshot, as a subscriber (the TUI) would.
func apply(_ event: ClientEvent, to snapshot: inout ClientSnapshot) {
    func replaceInstance(_ instance: InstanceSnapshot) {
        if let index = snapshot.instances.firstIndex(where: { $0.id == instance.id }) {
            snapshot.instances[index] = instance
        } else {
            snapshot.instances.append(instance)
        }
    }
    func replaceSpan(_ span: SpanSnapshot) {
        if let index = snapshot.spans.firstIndex(where: { $0.id == span.id }) {
            snapshot.spans[index] = span
        } else {
            snapshot.spans.append(span)
        }
    }
    func updateOperation(_ id: UInt64, _ state: OperationState) {
        if let index = snapshot.operations.firstIndex(where: { $0.id == id }) { snapshot.operations[index].state = state }
    }
    func removeOperation(_ id: UInt64) -> TelemetryOperation? {
        guard let index = snapshot.operations.firstIndex(where: { $0.id == id }) else { return nil }
        return snapshot.operations.remove(at: index).operation
    }
    func updateSpan(_ id: String?, _ change: (inout SpanSnapshot) -> Void) {
        guard let id, let index = snapshot.spans.firstIndex(where: { $0.id == id }) else { return }
        change(&snapshot.spans[index])
    }

    switch event {
    case .instanceRegistered(let instance), .instanceStarted(let instance), .instanceFinished(let instance),
        .instanceTerminated(let instance):
        replaceInstance(instance)
    case .qualityRecorded(let instanceID, let name, let payload):
        if let index = snapshot.instances.firstIndex(where: { $0.id == instanceID }) {
            snapshot.instances[index].quality[name] = payload.map { .object($0) }
        }
    case .spanPrepared(let span), .spanStarted(let span), .spanResolved(let span), .spanFinished(let span):
        replaceSpan(span)
    case .operationEnqueued(let operation):
        snapshot.operations.append(operation)
    case .operationReady(let id):
        updateOperation(id, .pending)
    case .operationSent(let id, let attempt):
        updateOperation(id, .inFlight(attempt: attempt))
    case .operationRetrying(let id, let attempt, let next, _, let error):
        updateOperation(id, .retrying(attempt: attempt, nextAttemptAt: next, error: error))
    case .operationDelivered(let id, _):
        if let operation = removeOperation(id), operation.kind == .finishSpan {
            updateSpan(operation.spanID) { $0.finishDelivered = true }
        }
    case .operationFailed(let failure):
        _ = removeOperation(failure.operation.id)
        updateSpan(failure.operation.spanID) { $0.deliveryError = failure.reason }
    case .queueChanged(let stats):
        snapshot.queue = stats
    case .healthChanged(let health):
        snapshot.health = health
    case .queueNotice, .batchSent, .bulkUnavailable:
        break  // news about the store and the requests; no state of their own (the counts come with queueChanged)
    case .eventsDropped:
        Issue.record("events were dropped")
    }
}

/// Expects two snapshots to describe the same state.
func expectSameState(_ lhs: ClientSnapshot, _ rhs: ClientSnapshot, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(lhs.instances == rhs.instances, sourceLocation: sourceLocation)
    #expect(lhs.spans == rhs.spans, sourceLocation: sourceLocation)
    #expect(lhs.operations == rhs.operations, sourceLocation: sourceLocation)
    #expect(lhs.queue == rhs.queue, sourceLocation: sourceLocation)
    #expect(lhs.health == rhs.health, sourceLocation: sourceLocation)
}

/// Events: every subscriber gets every event, a snapshot plus the events after it reproduces the state, and the
/// queue and health are observable.
@Suite(.timeLimit(.minutes(1)))
struct EventTests {
    /// A workload that goes through every kind of event: retries, a dropped connection, a permanent failure, an
    /// auth pause, a cancel before start, quality, termination.
    func busyWorkload(_ client: PrefactorClient, _ server: TestServer) async throws {
        let run = try await client.createAgentInstance(
            agentVersion: testAgentVersion, agentSchemaVersion: qualitySchemaVersion)
        let other = try await registerInstance(client)
        try await run.start()
        try await other.start()
        server.faults.add(FaultRule(method: "POST", path: spansPath, status: 503, count: 2))
        server.faults.add(FaultRule(method: "POST", path: spansPath + "/*/finish", count: 1, dropConnection: true))
        try await run.span("agent:root", payload: ["n": 1]) { root in
            try await root.start()
            try await run.span("agent:llm") { span in try await span.complete(["text": "hi"]) }
            try await run.span("agent:cancelled") { span in try await span.cancel() }
            _ = try? await run.span("agent:throws") { _ in throw Boom() }
        }
        try await run.recordQuality(name: "accuracy", payload: ["score": 0.5])
        try await eventually("the first spans are delivered") { client.snapshot().queue.depth == 0 }

        server.faults.add(FaultRule(method: "POST", path: spansPath, status: 422, count: 1))
        let doomed = try await run.createSpan(schemaName: "agent:doomed")
        try await run.finishSpan(doomed)
        try await eventually("the failure settled") { client.snapshot().queue.depth == 0 }

        server.faults.add(FaultRule(method: "POST", path: spansPath, status: 401, count: 2))
        let paused = try await run.createSpan(schemaName: "agent:after-pause")
        try await run.finishSpan(paused)
        try await eventually("the pause is over and the queue drained") {
            client.snapshot().queue.depth == 0 && client.snapshot().health == .ok
        }

        _ = try await inspector(server).terminateAgentInstance(id: other.id, reason: "stop")
        _ = await other.waitForTermination()
        try await run.finish()
    }

    @Test func everySubscriberGetsEveryEvent() async throws {
        try await withTestServer { server in
            let ((first, second), report) = try await withRunningClient(coreConfiguration(server)) { client in
                let first = EventRecorder(client.events())
                let second = EventRecorder(client.events())
                try await busyWorkload(client, server)
                return (first, second)
            }
            #expect(report.failed.count == 2, "the workload's one deliberate permanent failure and its finish")
            #expect(report.undelivered.isEmpty)
            let firstEvents = await first.finished()
            let secondEvents = await second.finished()
            #expect(firstEvents == secondEvents)
            // Every kind of event showed up.
            var kinds: Set<String> = []
            for event in firstEvents {
                kinds.insert(String(String(describing: event).prefix { $0 != "(" }))
            }
            #expect(
                kinds == [
                    "instanceRegistered", "instanceStarted", "instanceFinished", "instanceTerminated", "qualityRecorded",
                    "spanPrepared", "spanStarted", "spanResolved", "spanFinished", "operationEnqueued", "operationReady",
                    "operationSent", "operationDelivered", "operationRetrying", "operationFailed", "queueChanged",
                    "healthChanged",
                ])
        }
    }

    @Test func aSnapshotPlusTheEventsAfterItReproducesTheState() async throws {
        try await withTestServer { server in
            let client = try PrefactorClient(configuration: coreConfiguration(server))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                // Some state before subscribing, some operations still queued behind a slow server.
                let early = try await registerInstance(client)
                server.faults.add(FaultRule(method: "POST", path: instancePath(early.id, "start"), latencyMilliseconds: 200))
                try await early.start()
                _ = try await early.createSpan(schemaName: "agent:early")

                let (initial, stream) = client.subscribe()
                #expect(!initial.operations.isEmpty, "subscribed while operations are queued")
                let recorder = EventRecorder(stream)
                try await busyWorkload(client, server)
                try await early.finish()
                await client.shutdown()
                try await group.waitForAll()

                var rebuilt = initial
                for event in await recorder.finished() { apply(event, to: &rebuilt) }
                expectSameState(rebuilt, client.snapshot())
                #expect(client.snapshot().spans.contains { $0.deliveryError != nil })
                #expect(client.snapshot().spans.contains { $0.finishDelivered })
            }
        }
    }

    @Test func queueDepthEvents() async throws {
        try await withTestServer { server in
            let recorder = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                try await run.start()
                server.faults.add(FaultRule(method: "POST", path: spansPath, latencyMilliseconds: 100))
                for index in 0..<10 {
                    let span = try await run.createSpan(schemaName: "agent:s\(index)")
                    try await run.finishSpan(span)
                }
                try await run.finish()
                return recorder
            }
            let stats = await recorder.finished().compactMap { event -> QueueStats? in
                if case .queueChanged(let stats) = event { return stats }
                return nil
            }
            #expect((stats.map(\.depth).max() ?? 0) >= 20, "the backlog is visible")
            #expect(stats.last?.depth == 0)
            #expect(stats.last?.delivered == 22)
            #expect(stats.last?.oldestEnqueuedAt == nil)
            #expect(stats.contains { $0.blocked > 0 }, "finishes wait for their creates")
            #expect(stats.allSatisfy { $0.pending >= 0 && $0.blocked >= 0 && $0.inFlight >= 0 && $0.retrying >= 0 })
        }
    }

    @Test func healthEvents() async throws {
        try await withTestServer { server in
            let recorder = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                try await run.start()
                try await eventually("the start is delivered") { client.snapshot().queue.depth == 0 }
                for fault in [
                    FaultRule(method: "POST", path: spansPath, status: 503, count: 1),
                    FaultRule(method: "POST", path: spansPath, count: 1, dropConnection: true),
                    FaultRule(method: "POST", path: spansPath, status: 403, count: 1),
                ] {
                    server.faults.add(fault)
                    let span = try await run.createSpan(schemaName: "agent:\(client.snapshot().spans.count)")
                    try await eventually("the span is delivered") {
                        client.spanManager.span(withID: span)?.createDelivered == true && client.snapshot().health == .ok
                    }
                }
                return recorder
            }
            let health = await recorder.finished().compactMap { event -> APIHealth? in
                if case .healthChanged(let health) = event { return health }
                return nil
            }
            #expect(health == [.retrying, .ok, .unreachable, .ok, .authFailed, .ok])
        }
    }

    @Test func aSubscriberThatFallsBehindIsToldItMissedEvents() async throws {
        try await withTestServer { server in
            var configuration = coreConfiguration(server)
            configuration.eventBufferSize = 16
            let client = try PrefactorClient(configuration: configuration)
            let stream = client.events()  // not read until the end
            let run = try await registerInstance(client)
            for index in 0..<40 {
                _ = client.spanManager.prepare(instanceID: run.id, schemaName: "agent:s\(index)")
            }
            await client.shutdown()
            var events: [ClientEvent] = []
            for await event in stream { events.append(event) }
            #expect(events.count <= 16)
            let dropped = events.compactMap { event -> Int? in
                if case .eventsDropped(let count) = event { return count }
                return nil
            }
            #expect(!dropped.isEmpty)
            #expect((dropped.max() ?? 0) >= 41 - 16, "it is told (at least) how many it missed")
        }
    }

    @Test func streamsEndAtShutdownAndStreamsOpenedAfterwardsEndAtOnce() async throws {
        try await withTestServer { server in
            let client = try PrefactorClient(configuration: coreConfiguration(server))
            let runner = Task { try await client.run() }
            let before = EventRecorder(client.events())
            _ = try await registerInstance(client)
            await client.shutdown()
            try await runner.value
            #expect(await before.finished().count == 1, "the registration, then the end")
            var late: [ClientEvent] = []
            for await event in client.events() { late.append(event) }
            for await event in client.subscribe().events { late.append(event) }
            #expect(late.isEmpty)
            #expect(client.subscribe().snapshot.instances.count == 1)
        }
    }
}
