import Foundation
import GRDB
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

@testable import PrefactorCore

/// With a queue file, payloads beyond a memory budget stay in the file and are read back when sent: a backlog of any
/// size costs the client little memory, and what reaches the API is unchanged.
@Suite(.timeLimit(.minutes(2)))
struct PayloadsOnDiskTests {
    /// The payload bytes the harness's start and finish carry, as the budget counts them.
    static let startBytes = JSONValue.estimatedSize(["k": "v"])
    static let finishBytes = JSONValue.estimatedSize(["r": 1])

    /// A budget for exactly one span's payloads: the first span keeps them, the second's stay in the file.
    func harness() -> Harness {
        Harness(payloadBudget: Self.startBytes + Self.finishBytes)
    }

    @Test func payloadsPastTheBudgetAreLeftInTheStoreAndReadBackWhenSent() throws {
        var harness = harness()
        harness.register()
        let first = harness.prepare()
        try harness.start(first)
        try harness.finish(first)
        let second = harness.prepare()
        let started = try harness.start(second)
        let finished = try harness.finish(second)

        // The store is given every payload; the span's events carry them too.
        #expect(started.persist.first?.hasPayload == true)
        #expect(finished.persist.first?.hasPayload == true)
        #expect(started.events.contains { if case .spanStarted(let span) = $0 { span.payload == ["k": "v"] } else { false } })
        #expect(
            finished.events.contains { if case .spanFinished(let span) = $0 { span.resultPayload == ["r": 1] } else { false } })
        // What the machine keeps: the first span's payloads, not the second's.
        #expect(harness.machine.payloadBytesInMemory == Self.startBytes + Self.finishBytes)
        #expect(harness.machine.span(first)?.payload == ["k": "v"])
        #expect(harness.machine.span(first)?.payloadInQueueFile == false)
        #expect(harness.machine.span(second)?.payload == [:])
        #expect(harness.machine.span(second)?.resultPayload == nil)
        #expect(harness.machine.span(second)?.payloadInQueueFile == true)

        let takenFirst = harness.take()
        let firstCreate = try #require(takenFirst)
        #expect(firstCreate.payloadsOnDisk.isEmpty)
        #expect(firstCreate.combinedFinish?.hasPayload == true)
        let takenSecond = harness.take()
        let secondCreate = try #require(takenSecond)
        #expect(secondCreate.operation.hasPayload == false)
        #expect(secondCreate.combinedFinish?.hasPayload == false)
        let finishID = try #require(secondCreate.combinedFinish?.id)
        #expect(secondCreate.payloadsOnDisk == [secondCreate.operation.id, finishID])

        // Settled, the first span's payloads leave the budget, and a new span keeps its payload again.
        harness.succeed(firstCreate)
        #expect(harness.machine.payloadBytesInMemory == 0)
        let third = harness.prepare()
        try harness.start(third)
        #expect(harness.machine.span(third)?.payloadInQueueFile == false)
        #expect(harness.machine.payloadBytesInMemory == Self.startBytes)
        harness.succeed(secondCreate)
        #expect(harness.machine.payloadBytesInMemory == Self.startBytes)
    }

    @Test func withoutABudgetEveryPayloadStaysInMemory() throws {
        var harness = Harness()
        harness.register()
        for _ in 0..<20 {
            let span = harness.prepare()
            try harness.start(span)
            try harness.finish(span)
            #expect(harness.machine.span(span)?.payloadInQueueFile == false)
        }
        while let dispatch = harness.take() {
            #expect(dispatch.payloadsOnDisk.isEmpty)
            #expect(dispatch.operation.hasPayload)
            harness.succeed(dispatch)
        }
        #expect(harness.machine.payloadBytesInMemory == 0)
    }

    /// A finish that cannot be read back fails (its span's create goes back to the queue and is sent alone); a create
    /// that cannot be read back fails with the finish that requires it.
    @Test(arguments: [false, true])
    func whatCannotBeReadBackFailsAndTheRestGoesBack(createMissing: Bool) throws {
        var harness = Harness(payloadBudget: 0)
        harness.register()
        let span = harness.prepare()
        try harness.start(span)
        try harness.finish(span)
        let takenDispatch = harness.take()
        let dispatch = try #require(takenDispatch)
        let createID = dispatch.operation.id
        let finishID = try #require(dispatch.combinedFinish?.id)
        let actions = harness.machine.payloadsUnreadable(
            dispatch, missing: [createMissing ? createID : finishID], reason: "Its payload could not be read back")
        let failed = harness.machine.failed.map(\.operation.id)
        if createMissing {
            #expect(Set(failed) == [createID, finishID])
            #expect(harness.machine.isDrained)
            #expect(actions.drained)
        } else {
            #expect(failed == [finishID])
            #expect(harness.machine.failed.first?.reason == "Its payload could not be read back")
            let takenAgain = harness.take()
            let again = try #require(takenAgain)
            #expect(again.operation.id == createID)
            #expect(again.combinedFinish == nil)
            #expect(again.attempt == 2)
        }
        #expect(harness.machine.payloadBytesInMemory == 0)
    }

    /// `configuration` with a new queue file that keeps no payload in memory, and the API down for queued operations.
    func offlineWithoutPayloads(
        _ server: TestServer, _ configuration: PrefactorClient.Configuration
    ) -> PrefactorClient.Configuration {
        for rule in queuedRoutesDown { server.faults.add(rule) }
        var configuration = configuration
        configuration.queueFile = temporaryQueuePath()
        configuration.queuePayloadMemory = 0
        return configuration
    }

    /// A durable client that keeps no payload in memory delivers every payload and result as given, by single and by
    /// bulk requests, while its snapshots said they were in the file.
    @Test(arguments: [0, 50])
    func everyPayloadReachesTheAPIFromTheFile(bulk: Int) async throws {
        try await withTestServer { server in
            let configuration = offlineWithoutPayloads(server, coreConfiguration(server, bulkMaxItems: bulk))
            let (instanceID, report) = try await withRunningClient(configuration) { client in
                let run = try await client.createAgentInstance(agentVersion: testAgentVersion, agentSchemaVersion: [:])
                for index in 0..<30 {
                    let id = try await run.createSpan(schemaName: "agent:llm", payload: ["index": .int(Int64(index))])
                    try await run.finishSpan(id, resultPayload: ["answer": .string("answer \(index)")])
                }
                let spans = client.snapshot().spans
                #expect(spans.count == 30)
                #expect(spans.allSatisfy { $0.payloadInQueueFile && $0.payload.isEmpty && $0.resultPayload == nil })
                server.faults.removeAll()
                try await eventually("the backlog drains") { client.snapshot().queue.depth == 0 }
                return run.id
            }
            #expect(report.isComplete, "\(report)")
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.count == 30)
            for span in spans {
                let index = try #require(span.payload["index"]?.intValue)
                #expect(span.resultPayload?["answer"] == .string("answer \(index)"))
            }
        }
    }

    /// A payload gone from the file (here deleted behind the client's back) is never sent empty: the operation fails
    /// with a reason that says so, and the others are delivered.
    @Test func aPayloadGoneFromTheFileFailsItsOperation() async throws {
        try await withTestServer { server in
            let configuration = offlineWithoutPayloads(server, coreConfiguration(server, coalesce: false))
            let file = try #require(configuration.queueFile)
            let (instanceID, report) = try await withRunningClient(configuration) { client in
                let run = try await client.createAgentInstance(agentVersion: testAgentVersion, agentSchemaVersion: [:])
                // The instance's start waits out the outage, and the spans wait for it: none is sent before the
                // payload is deleted.
                try await run.start()
                let kept = try await run.createSpan(schemaName: "agent:llm", payload: ["n": 1])
                let lost = try await run.createSpan(schemaName: "agent:llm", payload: ["n": 2])
                let lostOperation = try #require(client.snapshot().operations.first { $0.operation.spanID == lost })
                #expect(kept != lost)
                // In the SQLite file, and no longer in the log: then gone.
                client.journal?.checkpoint()
                try await DatabaseQueue(path: file).write { db in
                    try db.execute(
                        sql: "DELETE FROM operations WHERE id = ?", arguments: [Int64(bitPattern: lostOperation.id)])
                }
                server.faults.removeAll()
                try await eventually("the backlog settles") { client.snapshot().queue.depth == 0 }
                return run.id
            }
            #expect(report.failed.count == 1)
            #expect(report.failed.first?.reason.contains("could not be read back from the queue file") == true)
            #expect(try await serverSpans(server, instanceID: instanceID).count == 1)
        }
    }
}
