import Foundation
import PrefactorWire
import Testing

@testable import PrefactorCore

/// What the queue keeps per operation is kept small, and reads back exactly as it was given.
@Suite("Compact storage of queued operations")
struct CompactStorageTests {
    @Test(
        "every key reads back as it was given",
        arguments: [
            "0b9f4c2e-55aa-4f1e-9c3d-2a1b0c9d8e7f",  // a generated key
            "0B9F4C2E-55AA-4F1E-9C3D-2A1B0C9D8E7F",  // upper case
            "0b9f4c2e-55aa-7f1e-9c3d-2a1b0c9d8e7f",  // version 7
            "0b9f4c2e-55aa-4f1e-1c3d-2a1b0c9d8e7f",  // another variant
            "0b9f4c2e-55aa-4f1e-9c3d-2a1b0c9d8e7",  // one short
            "0b9f4c2e-55aa-4f1e-9c3d-2a1b0c9d8e7f0",  // one long
            "0b9f4c2e_55aa-4f1e-9c3d-2a1b0c9d8e7f",  // another separator
            "0b9f4c2e-55aa-4f1e-9c3d-2a1b0c9d8e7g",  // not hex
            "my-own-key-for-this-step", "", "ключ-✓",
        ])
    func keysReadBack(key: String) {
        let operation = TelemetryOperation(
            id: 1, instanceID: "inst", body: .startInstance(timestamp: Date(timeIntervalSince1970: 1)), idempotencyKey: key,
            enqueuedAt: Date(timeIntervalSince1970: 1))
        #expect(operation.idempotencyKey == key)
        #expect(operation.idempotencyKeyLength == key.utf8.count)
        var changed = operation
        changed.idempotencyKey = key + "x"
        #expect(changed.idempotencyKey == key + "x")
        #expect(changed != operation)
    }

    @Test("a generated key is kept as its bits, and any key the client generates reads back", arguments: 0..<200)
    func generatedKeys(seed: Int) {
        var random = SeededGenerator(seed: UInt64(seed))
        let key = IdempotencyKey.format(high: random.next(), low: random.next())
        #expect(StoredKey.uuidBits(key) != nil)
        #expect(StoredKey(key).text == key)
        // Written into a queue-file record straight from its bits, it reads back the same.
        let operation = TelemetryOperation(
            id: 1, instanceID: "inst", body: .startInstance(timestamp: Date(timeIntervalSince1970: 1)), idempotencyKey: key,
            enqueuedAt: Date(timeIntervalSince1970: 1))
        #expect(operation.recordText.contains("\"key\":\"\(key)\""))
        #expect((try? TelemetryOperation(recordText: Array(operation.recordText.utf8)))?.idempotencyKey == key)
    }

    @Test(
        "dependencies read back in order, and are encoded as before",
        arguments: [
            [],
            [TelemetryOperation.Dependency(operationID: 7, kind: .requires)],
            [
                TelemetryOperation.Dependency(operationID: 7, kind: .after),
                TelemetryOperation.Dependency(operationID: 3, kind: .requires),
                TelemetryOperation.Dependency(operationID: 9, kind: .after),
            ],
        ])
    func dependencies(_ dependencies: [TelemetryOperation.Dependency]) throws {
        var operation = TelemetryOperation(
            id: 10, instanceID: "inst", body: .startInstance(timestamp: Date(timeIntervalSince1970: 1)),
            idempotencyKey: "key-10", enqueuedAt: Date(timeIntervalSince1970: 1), dependencies: dependencies)
        #expect(operation.dependencies == dependencies)
        for dependency in dependencies { #expect(operation.dependsOn(dependency.operationID)) }
        #expect(!operation.dependsOn(42))
        let record = try TelemetryOperation(recordText: Array(operation.recordText.utf8))
        #expect(record == operation)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(operation)) as? [String: Any]
        #expect(
            json.map { Set($0.keys) }
                == ["id", "instanceID", "body", "idempotencyKey", "idempotencyKeyGiven", "enqueuedAt", "dependencies"])
        #expect(try JSONDecoder().decode(TelemetryOperation.self, from: JSONEncoder().encode(operation)) == operation)
        operation.dependencies = Array(dependencies.reversed())
        #expect(operation.dependencies == dependencies.reversed())
    }

    @Test(
        "an entry's state reads back as it was set",
        arguments: [
            OperationState.blocked, .pending, .inFlight(attempt: 1), .inFlight(attempt: 70_000),
            .retrying(attempt: 3, nextAttemptAt: Date(timeIntervalSince1970: 1_764_000_000.5), error: "HTTP 503: unavailable"),
        ])
    func entryStates(state: OperationState) {
        var entry = TelemetryStateMachine.Entry(
            body: .whole(.init(sampleOperation(1))), operation: sampleOperation(1), blockers: 2, state: .pending, bytes: 300)
        entry.state = state
        #expect(entry.state == state)
        #expect(entry.isBlocked == (state == .blocked))
        #expect(entry.isPending == (state == .pending))
        if case .retrying = state { #expect(entry.isRetrying) } else { #expect(!entry.isRetrying) }
        #expect(entry.blockers == 2)
        #expect(entry.bytes == 300)
        #expect(entry.batchCap == .max)
        entry.batchCap = 4
        #expect(entry.batchCap == 4)
        switch state {
        case .inFlight(let attempt), .retrying(let attempt, _, _): #expect(entry.attempts == attempt)
        case .blocked, .pending: #expect(entry.attempts == 0)
        }
    }

    @Test("an entry is smaller than the operation and state it replaced")
    func entrySize() {
        // 216 bytes before: the operation (136), the state (40) and four full-width counts.
        #expect(MemoryLayout<TelemetryStateMachine.Entry>.stride <= 96)
        #expect(MemoryLayout<OperationState>.stride == 40)
        // 216 bytes with the public snapshot inside it.
        #expect(MemoryLayout<TelemetryStateMachine.SpanRecord>.stride <= 152)
    }

    @Test("the operations waiting for one read back in the order they were added", arguments: [0, 1, 2, 5])
    func dependents(count: Int) {
        var dependents = TelemetryStateMachine.Dependents()
        let added = (0..<count).map { (UInt64(10 + $0), $0 % 2 == 0 ? TelemetryOperation.DependencyKind.requires : .after) }
        for (id, kind) in added { dependents.append(id, kind) }
        #expect(dependents.all.map(\.0) == added.map(\.0))
        #expect(dependents.all.map(\.1) == added.map(\.1))
    }

    /// Every kind of operation, spans with a local parent, with a parent known only by its API id, cancelled before
    /// they started, finished with and without a result, and with a key the caller chose: what the machine hands out
    /// and reports is exactly what it gave the store.
    @Test func operationsAreBuiltBackExactly() throws {
        var harness = Harness()
        var persisted: [UInt64: TelemetryOperation] = [:]
        func keep(_ actions: TelemetryStateMachine.Actions) {
            for operation in actions.persist { persisted[operation.id] = operation }
        }
        harness.register()
        keep(try harness.startInstance())
        let parent = harness.prepare("agent:plan")
        let child = harness.prepare("llm:chat", parent: parent)
        keep(try harness.start(child))  // starts its parent implicitly
        let remoteChild = harness.prepare("tool:call", parent: "api-span-from-elsewhere")
        keep(try harness.start(remoteChild))
        keep(try harness.finish(child, .failed))
        keep(
            try harness.machine.finishSpan(
                parent, status: .complete, resultPayload: nil, key: "my-own-key-0001", keyGiven: true, now: harness.now))
        let never = harness.prepare("tool:call")
        keep(try harness.machine.cancelUnstarted(never, now: harness.now, keys: &harness.keys))
        keep(
            try harness.machine.recordQuality(
                "inst", name: "accuracy", payload: ["score": 0.5], key: "quality-key-1", now: harness.now))
        keep(
            try harness.machine.finishInstance("inst", status: .complete, key: "finish-key-1", keyGiven: false, now: harness.now))

        #expect(persisted.count == 10)
        #expect(harness.machine.undelivered == persisted.keys.sorted().compactMap { persisted[$0] })
        #expect(harness.machine.snapshot().operations.map(\.operation) == harness.machine.undelivered)
        while let dispatch = harness.take() {
            #expect(dispatch.operation == persisted[dispatch.operation.id])
            if let finish = dispatch.combinedFinish { #expect(finish == persisted[finish.id]) }
            harness.succeed(dispatch)
        }
        #expect(harness.machine.isDrained)
    }

    /// A restored finish whose span's record holds something else (here a span known only from its recorded API id)
    /// is kept whole, and built back as it was.
    @Test func aRestoredOperationThatDoesNotMatchItsSpanIsKeptWhole() {
        var harness = Harness()
        let finish = TelemetryOperation(
            id: 7, instanceID: "inst",
            body: .finishSpan(spanID: "span-3", status: .complete, resultPayload: ["r": 1], timestamp: harness.now),
            idempotencyKey: "restored-key-7", enqueuedAt: harness.now)
        let create = TelemetryOperation(
            id: 8, instanceID: "inst",
            body: .createSpan(
                spanID: "span-07", parentSpanID: "span-3", schemaName: "llm:chat", status: .active, payload: ["k": "v"],
                startedAt: harness.now),
            idempotencyKey: "restored-key-8", enqueuedAt: harness.now)
        _ = harness.machine.restore([finish, create], resolvedSpans: ["span-3": "api-3"], now: harness.now)
        #expect(harness.machine.undelivered == [finish, create])
        // The snapshot lists the span whose create is restored, not the one known only from its recorded API id.
        #expect(harness.machine.snapshot().spans.map(\.id) == ["span-07"])
    }

    @Test(
        "a span record gives back the snapshot it was given, each member on its own",
        arguments: [
            SpanSnapshot(id: "span-1", instanceID: "inst", schemaName: "agent:llm", phase: .prepared, preparedAt: .distantPast),
            {
                var span = SpanSnapshot(
                    id: "span-2", apiID: "api-2", instanceID: "inst", parentID: "span-1", schemaName: "llm:chat",
                    phase: .failed, payload: ["model": "gpt-4o"], resultPayload: ["error": "boom"],
                    preparedAt: Date(timeIntervalSince1970: 1_764_000_000.125),
                    startedAt: Date(timeIntervalSince1970: 1_764_000_001.5),
                    finishedAt: Date(timeIntervalSince1970: 1_764_000_002.75), createDelivered: true, finishDelivered: true,
                    deliveryError: "HTTP 422: bad payload")
                span.payloadInQueueFile = true
                return span
            }(),
        ])
    func spanRecords(snapshot: SpanSnapshot) {
        var record = TelemetryStateMachine.SpanRecord(snapshot: snapshot)
        #expect(record.snapshot == snapshot)
        #expect(record.createOperation == nil && record.finishOperation == nil)
        record.createOperation = 4
        record.finishOperation = 9
        record.createFailed = true
        record.startInFlight = true
        record.pendingPayload = ["k": "v"]
        #expect(record.snapshot == snapshot, "the record's own members leave the snapshot as it was")
        #expect(record.createOperation == 4 && record.finishOperation == 9)
        #expect(record.createFailed && record.startInFlight)
        #expect(record.pendingPayload == ["k": "v"])
        var changed = snapshot
        changed.phase = .complete
        changed.deliveryError = nil
        changed.finishedAt = nil
        record.snapshot = changed
        #expect(record.snapshot == changed)
        #expect(record.pendingPayload == ["k": "v"], "a new snapshot keeps the pending payload")
        // Each member written on its own reads back in the snapshot.
        record.phase = .cancelled
        record.startedAt = nil
        record.finishedAt = Date(timeIntervalSince1970: 5)
        record.apiID = "api-9"
        record.createDelivered = false
        record.payloadInQueueFile = true
        record.deliveryError = "gone"
        let members = record.snapshot
        #expect(members.phase == .cancelled && members.startedAt == nil)
        #expect(members.finishedAt == Date(timeIntervalSince1970: 5) && members.apiID == "api-9")
        #expect(!members.createDelivered && members.payloadInQueueFile && members.deliveryError == "gone")
        #expect(record.pendingPayload == ["k": "v"], "the delivery error and the pending payload share a box")
        record.pendingPayload = [:]
        record.createFailed = false
        record.startInFlight = false
        #expect(!record.createFailed && !record.startInFlight && record.pendingPayload.isEmpty)
    }

    #if canImport(Glibc)
        /// The apply gives its batch's memory back through glibc's `malloc_trim`: found where glibc is.
        @Test func theHeapTrimIsFoundOnGlibc() {
            #expect(HeapTrim.isAvailable)
            HeapTrim.run()
        }
    #endif
}
