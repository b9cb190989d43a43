import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Guarantee 2: causal order on the wire while three workers deliver in parallel. Each test slows down the request
/// that must come first, so that without the dependency the later one would reach the server first. The server logs
/// a request once it has answered it, and a dependent operation is only sent after its dependency was answered, so
/// the log order must respect causality.
@Suite(.timeLimit(.minutes(1)))
struct OrderingTests {
    /// Run with and without combining span finishes into their creates: the order holds either way, and the span
    /// requests are exactly the operations minus the finishes that travelled with their create.
    @Test(arguments: [false, true])
    func anInstancesStartReachesTheServerBeforeItsSpansAndQuality(coalesce: Bool) async throws {
        try await withTestServer { server in
            let (instanceID, recorder) = try await withPrefactorClient(
                configuration: coreConfiguration(server, coalesce: coalesce)
            ) { client in
                let recorder = EventRecorder(client.events())
                let run = try await client.createAgentInstance(
                    agentVersion: testAgentVersion, agentSchemaVersion: qualitySchemaVersion)
                server.faults.add(FaultRule(method: "POST", path: instancePath(run.id, "start"), latencyMilliseconds: 500))
                try await run.start()
                for index in 0..<3 {
                    let span = try await run.createSpan(schemaName: "agent:s\(index)")
                    try await run.finishSpan(span)
                }
                try await run.recordQuality(name: "accuracy", payload: ["score": 1])
                try await run.finish()
                return (run.id, recorder)
            }
            let travelling = SendingRecord(await recorder.finished()).finishesSentWithTheirCreate.count
            if !coalesce { #expect(travelling == 0) }
            let log = server.posts()
            let start = try index(of: "the start", in: log) { $0.path == instancePath(instanceID, "start") }
            let others = log.indices.filter { log[$0].path.hasPrefix(spansPath) || log[$0].path.hasSuffix("/record_quality") }
            #expect(others.count == 7 - travelling)
            #expect(others.allSatisfy { $0 > start }, "\(log.map(\.path))")
        }
    }

    @Test func aSpansCreateReachesTheServerBeforeItsFinish() async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                server.faults.add(FaultRule(method: "POST", path: spansPath, latencyMilliseconds: 300))
                let span = try await run.createSpan(schemaName: "agent:slow-create")
                try await run.finishSpan(span, resultPayload: ["done": true])
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpans(server, instanceID: instanceID)
            let span = try #require(spans.first)
            #expect(span.status == .complete)
            let log = server.posts(spansPath)
            #expect(log.map(\.status) == [200, 200])
            let create = try index(of: "the create", in: log, where: isSpanCreate)
            let finish = try index(of: "the finish", in: log) { isSpanFinish($0, apiID: span.id) }
            #expect(create < finish)
        }
    }

    @Test func aParentsCreateReachesTheServerBeforeItsChildren() async throws {
        try await withTestServer { server in
            let (instanceID, recorder) = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                try await run.start()
                server.faults.add(FaultRule(method: "POST", path: spansPath, latencyMilliseconds: 50))
                // A chain of five, all queued at once, plus three children of the root.
                var chain: [String] = []
                for depth in 0..<5 {
                    chain.append(try await run.createSpan(schemaName: "agent:depth-\(depth)", parentSpanID: chain.last))
                }
                for index in 0..<3 {
                    let leaf = try await run.createSpan(schemaName: "agent:leaf-\(index)", parentSpanID: chain[0])
                    try await run.finishSpan(leaf)
                }
                for id in chain.reversed() { try await run.finishSpan(id) }
                try await run.finish()
                try await eventually("everything is delivered") { client.snapshot().queue.depth == 0 }
                return (run.id, recorder)
            }
            let events = await recorder.finished()
            // The server rejects a child whose parent does not exist, so the stored parents prove the order.
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            #expect(spans.count == 8)
            for depth in 1..<5 {
                let parent = try #require(spans["agent:depth-\(depth - 1)"])
                let child = try #require(spans["agent:depth-\(depth)"])
                #expect(child.parentSpanID == parent.id)
                let parentInserted = try #require(parent.insertedAt)
                let childInserted = try #require(child.insertedAt)
                #expect(parentInserted < childInserted)
            }
            for index in 0..<3 {
                #expect(spans["agent:leaf-\(index)"]?.parentSpanID == spans["agent:depth-0"]?.id)
            }
            // And on the client: no operation was sent before each of its dependencies was settled.
            expectCausalSending(events)
        }
    }

    @Test(arguments: [false, true])
    func anInstancesFinishReachesTheServerAfterAllItsSpanOperations(coalesce: Bool) async throws {
        try await withTestServer { server in
            let (instanceID, recorder) = try await withPrefactorClient(
                configuration: coreConfiguration(server, coalesce: coalesce)
            ) { client in
                let recorder = EventRecorder(client.events())
                let run = try await client.createAgentInstance(
                    agentVersion: testAgentVersion, agentSchemaVersion: qualitySchemaVersion)
                try await run.start()
                server.faults.add(FaultRule(method: "POST", path: spansPath + "/*/finish", latencyMilliseconds: 300))
                server.faults.add(
                    FaultRule(method: "POST", path: instancePath(run.id, "record_quality"), latencyMilliseconds: 300))
                for index in 0..<4 {
                    try await run.span("agent:s\(index)") { span in
                        try await span.start()
                        try await run.span("agent:s\(index)-child") { _ in }
                    }
                }
                let prepared = client.spanManager.prepare(instanceID: run.id, schemaName: "agent:cancelled")
                try await client.spanManager.cancelUnstarted(prepared)
                try await run.recordQuality(name: "accuracy", payload: ["score": 0.5])
                try await run.finish()
                return (run.id, recorder)
            }
            let travelling = SendingRecord(await recorder.finished()).finishesSentWithTheirCreate.count
            if !coalesce { #expect(travelling == 0) }
            let log = server.posts()
            let finish = try index(of: "the instance finish", in: log) { $0.path == instancePath(instanceID, "finish") }
            let spanAndQuality = log.indices.filter {
                log[$0].path.hasPrefix(spansPath) || log[$0].path == instancePath(instanceID, "record_quality")
            }
            #expect(spanAndQuality.count == 9 * 2 + 1 - travelling)
            #expect(spanAndQuality.allSatisfy { $0 < finish }, "\(log.map(\.path))")
            #expect(try await inspector(server).agentInstance(id: instanceID).status == .complete)
        }
    }

    @Test func independentOperationsAreDeliveredInParallel() async throws {
        try await withTestServer { server in
            _ = try await withPrefactorClient(configuration: coreConfiguration(server, workers: 3)) { client in
                let run = try await registerInstance(client)
                server.faults.add(FaultRule(method: "POST", path: spansPath, latencyMilliseconds: 1_000))
                for index in 0..<3 { _ = try await run.createSpan(schemaName: "agent:parallel-\(index)") }
                try await eventually("three creates are in flight at once") { client.snapshot().queue.inFlight == 3 }
                return ()
            }
        }
    }

    @Test func oneWorkerDeliversOneOperationAtATime() async throws {
        try await withTestServer { server in
            let recorder = try await withPrefactorClient(configuration: coreConfiguration(server, workers: 1)) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                server.faults.add(FaultRule(method: "POST", path: spansPath, latencyMilliseconds: 50))
                for index in 0..<3 { _ = try await run.createSpan(schemaName: "agent:serial-\(index)") }
                try await eventually("the creates are delivered") { client.snapshot().queue.delivered == 3 }
                return recorder
            }
            let events = await recorder.finished()
            let inFlight = events.compactMap { event -> Int? in
                if case .queueChanged(let stats) = event { return stats.inFlight }
                return nil
            }
            #expect(inFlight.max() == 1)
        }
    }
}

/// Where each operation was first sent and settled in a client's event stream, and the operations themselves.
struct SendingRecord {
    var settledAt: [UInt64: Int] = [:]
    var firstSentAt: [UInt64: Int] = [:]
    var operations: [UInt64: TelemetryOperation] = [:]
    /// Span creates whose delivered attempt went in a bulk request.
    var createsDeliveredInBulk = 0

    init(_ events: [ClientEvent]) {
        var lastSentInBulk: Set<UInt64> = []
        for (position, event) in events.enumerated() {
            switch event {
            case .operationEnqueued(let snapshot): operations[snapshot.id] = snapshot.operation
            case .batchSent(let ids): lastSentInBulk.formUnion(ids)
            case .operationDelivered(let id, _) where lastSentInBulk.contains(id) && operations[id]?.kind == .createSpan:
                createsDeliveredInBulk += 1
                settledAt[id] = position
            case .operationSent(let id, _):
                lastSentInBulk.remove(id)  // a bulk request announces its items after their attempts
                if firstSentAt[id] == nil { firstSentAt[id] = position }
            case .operationDelivered(let id, _): settledAt[id] = position
            case .operationFailed(let failure): settledAt[failure.operation.id] = position
            default: break
            }
        }
    }

    /// Span finishes sent together with their create (coalesceSpanFinishes): the client announces them right after
    /// the create, in the same step. Maps each to its create.
    var finishesSentWithTheirCreate: [UInt64: UInt64] {
        var result: [UInt64: UInt64] = [:]
        for (id, operation) in operations where operation.kind == .finishSpan {
            guard let sent = firstSentAt[id], operation.dependencies.count == 1, let create = operation.dependencies.first,
                firstSentAt[create.operationID] == sent - 1
            else { continue }
            result[id] = create.operationID
        }
        return result
    }
}

/// Checks, from a client's events, that every operation was first sent only after each of its dependencies was
/// settled (delivered or failed); a finish sent together with its create settles with it or after it.
func expectCausalSending(_ events: [ClientEvent], sourceLocation: SourceLocation = #_sourceLocation) {
    let record = SendingRecord(events)
    #expect(!record.operations.isEmpty, sourceLocation: sourceLocation)
    let travelling = record.finishesSentWithTheirCreate
    for (id, operation) in record.operations {
        guard let sent = record.firstSentAt[id] else { continue }
        if let create = travelling[id] {
            #expect(
                (record.settledAt[create] ?? .max) <= (record.settledAt[id] ?? .max),
                "operation \(id) travelled with operation \(create) but settled before it", sourceLocation: sourceLocation)
            continue
        }
        for dependency in operation.dependencies {
            let settled = record.settledAt[dependency.operationID]
            #expect(
                settled.map { $0 < sent } ?? false,
                "operation \(id) (\(operation.kind)) was sent before operation \(dependency.operationID) settled",
                sourceLocation: sourceLocation)
        }
    }
}
