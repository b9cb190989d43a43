import Foundation
import PrefactorHTTP
import PrefactorWire
import Testing

@testable import PrefactorCore

// The queue's rules, input by input, with no server, no clock and no sleeps: each test feeds the machine and checks
// the actions it returns and the state it reports (docs/queue-semantics.md).

/// Keys "counted-key-1", "counted-key-2", ... so tests can name them (long enough for a bulk request: 8 or more).
struct CountingKeys: KeySource {
    var count = 0
    mutating func next() -> String {
        count += 1
        return "counted-key-\(count)"
    }
}

/// A machine under test with a manual time and named keys.
struct Harness {
    var machine: TelemetryStateMachine
    var keys = CountingKeys()
    var now = Date(timeIntervalSince1970: 1_700_000_000)
    var nextWorker: TelemetryStateMachine.WorkerID = 0

    init(
        coalesce: Bool = true, maxAttempts: Int? = nil, maxOperations: Int? = nil, maxBytes: Int? = nil, bulk: Int = 0,
        payloadBudget: Int? = nil
    ) {
        machine = TelemetryStateMachine(
            settings: .init(
                coalesceSpanFinishes: coalesce, maxDeliveryAttempts: maxAttempts, retryPolicy: RetryPolicy(),
                maxQueuedOperations: maxOperations, maxQueuedBytes: maxBytes, bulkMaxItems: bulk,
                payloadMemoryBudget: payloadBudget))
    }

    mutating func advance(_ seconds: TimeInterval) { now = now.addingTimeInterval(seconds) }

    @discardableResult
    mutating func register(_ id: String = "inst") -> TelemetryStateMachine.Actions {
        machine.instanceRegistered(id: id, agentID: "agent", now: now)
    }

    @discardableResult
    mutating func startInstance(_ id: String = "inst") throws -> TelemetryStateMachine.Actions {
        try machine.startInstance(id, key: keys.next(), keyGiven: false, now: now)
    }

    mutating func prepare(_ schema: String = "agent:step", parent: String? = nil, in instance: String = "inst") -> String {
        machine.prepareSpan(instanceID: instance, schemaName: schema, parentID: parent, openSpans: [], now: now).id
    }

    @discardableResult
    mutating func start(_ id: String) throws -> TelemetryStateMachine.Actions {
        try machine.startSpan(id, payload: ["k": "v"], startedAt: now, now: now, keys: &keys)
    }

    @discardableResult
    mutating func finish(_ id: String, _ status: FinishStatus = .complete, key: String? = nil) throws
        -> TelemetryStateMachine.Actions
    {
        try machine.finishSpan(
            id, status: status, resultPayload: ["r": 1], key: key ?? keys.next(), keyGiven: key != nil, now: now)
    }

    /// A new worker asks for work; returns what it got (nil: parked or told to stop).
    mutating func take() -> TelemetryStateMachine.Dispatch? {
        nextWorker += 1
        let actions = machine.workerReady(nextWorker)
        return actions.resume.first { $0.worker == nextWorker }?.dispatch ?? nil
    }

    @discardableResult
    mutating func succeed(_ dispatch: TelemetryStateMachine.Dispatch?, apiID: String? = nil) -> TelemetryStateMachine.Actions {
        guard let dispatch else {
            Issue.record("no operation to settle")
            return .init()
        }
        let id = apiID ?? (dispatch.operation.kind == .createSpan ? "api-\(dispatch.operation.spanID ?? "")" : nil)
        return machine.attemptSucceeded(dispatch.operation.id, spanAPIID: id)
    }

    mutating func fail(
        _ dispatch: TelemetryStateMachine.Dispatch?, _ kind: TelemetryStateMachine.AttemptFailure.Kind, status: Int? = nil
    ) -> (TelemetryStateMachine.NextStep, TelemetryStateMachine.Actions) {
        guard let dispatch else {
            Issue.record("no operation to fail")
            return (.done, .init())
        }
        return machine.attemptFailed(
            dispatch.operation.id, .init(kind: kind, message: "\(kind)", status: status), now: now, jitter: 0.5)
    }

    /// Takes and delivers everything until nothing is ready.
    mutating func deliverAll() {
        while let dispatch = take() { succeed(dispatch) }
    }

    func state(of id: UInt64) -> OperationState? {
        machine.snapshot().operations.first { $0.id == id }?.state
    }
}

/// `#require` of a value computed outside the macro (a mutating call cannot run inside it).
func required<T>(_ value: T?, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
    try #require(value, sourceLocation: sourceLocation)
}

@Suite struct TelemetryStateMachineTests {
    // MARK: Queueing and order

    @Test func anInstanceStartIsPersistedAndHandedToAParkedWorker() throws {
        var h = Harness()
        h.register()
        let parked = h.take()
        #expect(parked == nil, "nothing to do: the worker parks")
        let actions = try h.startInstance()
        #expect(actions.persist.map(\.kind) == [.startInstance])
        #expect(actions.resume.count == 1)
        let dispatch = try #require(actions.resume.first?.dispatch)
        #expect(dispatch.operation.kind == .startInstance)
        #expect(dispatch.attempt == 1)
        #expect(h.machine.stats.inFlight == 1)
        let delivered = h.succeed(dispatch)
        #expect(delivered.forget == [dispatch.operation.id])
        #expect(delivered.drained)
        #expect(h.machine.stats.delivered == 1)
        #expect(h.machine.isDrained)
    }

    @Test func spanOperationsWaitForWhatTheyDependOn() throws {
        // (operation, what must settle first, how)
        var h = Harness(coalesce: false)
        h.register()
        try h.startInstance()
        let parent = h.prepare()
        try h.start(parent)
        let child = h.prepare("llm:chat", parent: parent)
        try h.start(child)
        try h.finish(child)
        try h.finish(parent)
        let operations = h.machine.snapshot().operations.map(\.operation)
        let rows: [(TelemetryOperation.Kind, String?, [TelemetryOperation.Dependency])] = [
            (.startInstance, nil, []),
            (.createSpan, parent, [.init(operationID: 1, kind: .after)]),
            (.createSpan, child, [.init(operationID: 1, kind: .after), .init(operationID: 2, kind: .requires)]),
            (.finishSpan, child, [.init(operationID: 3, kind: .requires)]),
            (.finishSpan, parent, [.init(operationID: 2, kind: .requires)]),
        ]
        #expect(operations.count == rows.count)
        for (operation, row) in zip(operations, rows) {
            #expect(operation.kind == row.0)
            #expect(operation.spanID == row.1)
            #expect(operation.dependencies == row.2, "\(operation.kind) \(operation.spanID ?? "")")
        }
        // Only the start is ready; each settlement releases the next layer, in causal order.
        var order: [UInt64] = []
        while let dispatch = h.take() {
            order.append(dispatch.operation.id)
            h.succeed(dispatch)
        }
        #expect(order == [1, 2, 3, 5, 4] || order == [1, 2, 3, 4, 5])
        #expect(order.firstIndex(of: 2)! < order.firstIndex(of: 3)!, "the parent's create goes first")
        #expect(h.machine.isDrained)
    }

    @Test func dispatchesCarryTheAPIIdsTheyNeed() throws {
        var h = Harness(coalesce: false)
        h.register()
        let parent = h.prepare()
        try h.start(parent)
        let child = h.prepare(parent: parent)
        try h.start(child)
        try h.finish(child)
        let parentCreate = try required(h.take())
        #expect(parentCreate.parentAPIID == nil)
        h.succeed(parentCreate, apiID: "sp_parent")
        #expect(h.machine.span(parent)?.apiID == "sp_parent")
        #expect(h.machine.span("sp_parent")?.id == parent, "the API id finds the span")
        let childCreate = try required(h.take())
        #expect(childCreate.parentAPIID == "sp_parent")
        h.succeed(childCreate, apiID: "sp_child")
        let finish = try required(h.take())
        #expect(finish.spanAPIID == "sp_child")
    }

    @Test func aChildStartsItsPreparedParentFirst() throws {
        var h = Harness()
        h.register()
        let parent = h.prepare()
        h.machine.setPendingPayload(parent, ["given": true])
        let child = h.prepare(parent: parent)
        h.advance(3)
        let actions = try h.start(child)
        #expect(h.machine.span(parent)?.startedAt == h.now, "the parent's real start time, not its preparation")
        let creates = actions.persist.filter { $0.kind == .createSpan }
        #expect(creates.map(\.spanID) == [parent, child])
        if case .createSpan(_, _, _, _, let payload, _) = creates[0].body {
            #expect(payload == ["given": true], "the parent starts with the payload its context was given")
        }
        #expect(creates[1].dependencies.contains(.init(operationID: creates[0].id, kind: .requires)))
        #expect(h.machine.span(parent)?.phase == .active)
        var keys = h.keys
        let (outcome, _) = try h.machine.startIfPrepared(parent, payload: [:], startedAt: h.now, now: h.now, keys: &keys)
        #expect(outcome == .alreadyStarted)
    }

    @Test func anInstanceFinishFollowsEverythingQueuedBeforeIt() throws {
        var h = Harness()
        h.register()
        try h.startInstance()
        let span = h.prepare()
        try h.start(span)
        _ = try h.machine.recordQuality("inst", name: "accuracy", payload: ["score": 1], key: "q", now: h.now)
        let actions = try h.machine.finishInstance("inst", status: .failed, key: "f", keyGiven: true, now: h.now)
        let finish = try #require(actions.persist.first)
        #expect(Set(finish.dependencies.map(\.operationID)) == [1, 2, 3])
        #expect(finish.dependencies.allSatisfy { $0.kind == .after })
        #expect(h.machine.instance("inst")?.phase == .failed)
    }

    // MARK: Coalescing

    @Test(arguments: [
        // (coalescing on, caller's finish key, cancel-unstarted, create attempted before the finish: combined?)
        (true, false, false, false, true),
        (false, false, false, false, false),
        (true, true, false, false, false),
        (true, false, true, false, false),
        (true, false, false, true, false),
    ])
    func aCreateTakesItsQueuedFinishAlongOnlyWhenAllowed(
        coalesce: Bool, callerKey: Bool, cancelUnstarted: Bool, attemptedFirst: Bool, combined: Bool
    ) throws {
        var h = Harness(coalesce: coalesce)
        h.register()
        let span = h.prepare()
        if cancelUnstarted {
            _ = try h.machine.cancelUnstarted(span, now: h.now, keys: &h.keys)
        } else {
            try h.start(span)
            if attemptedFirst {
                let first = h.take()
                _ = h.fail(first, .transient, status: 503)
                try h.finish(span)
                let (retry, _) = h.machine.retryDue(first!.operation.id)
                #expect(retry?.combinedFinish == nil)
                #expect(retry?.attempt == 2)
                return
            }
            try h.finish(span, key: callerKey ? "callers-key" : nil)
        }
        let create = try required(h.take())
        #expect((create.combinedFinish != nil) == combined)
        let settled = h.succeed(create)
        if combined {
            #expect(settled.forget.count == 2, "the finish settles with its create")
            #expect(h.machine.stats.delivered == 2)
            #expect(h.machine.isDrained)
            #expect(h.machine.span(span)?.finishDelivered == true)
        } else {
            let finish = h.take()
            #expect(finish?.operation.kind == .finishSpan)
        }
    }

    @Test func aCombinedFinishFailsWithItsCreate() throws {
        var h = Harness()
        h.register()
        let span = h.prepare()
        try h.start(span)
        try h.finish(span)
        let create = try required(h.take())
        #expect(create.combinedFinish != nil)
        let (step, actions) = h.fail(create, .permanent, status: 422)
        #expect(step == .done)
        #expect(actions.forget.isEmpty, "failed operations are kept for inspection, not forgotten")
        #expect(actions.failed.map(\.id) == [create.operation.id, create.combinedFinish!.id])
        #expect(h.machine.failed.map(\.operation.kind) == [.createSpan, .finishSpan])
        #expect(h.machine.stats.failed == 2 && h.machine.stats.depth == 0)
    }

    // MARK: Failures

    @Test(arguments: [
        // (failure, kind of operation, settles as delivered?, fails?, retries?, pauses?)
        (TelemetryStateMachine.AttemptFailure.Kind.conflict, TelemetryOperation.Kind.finishSpan, true, false, false, false),
        (.conflict, .createSpan, false, true, false, false),
        (.permanent, .createSpan, false, true, false, false),
        (.transient, .createSpan, false, false, true, false),
        (.unreachable, .createSpan, false, false, true, false),
        (.auth, .createSpan, false, false, false, true),
    ])
    func eachKindOfFailureHasItsRule(
        failure: TelemetryStateMachine.AttemptFailure.Kind, kind: TelemetryOperation.Kind, delivered: Bool, fails: Bool,
        retries: Bool, pauses: Bool
    ) throws {
        var h = Harness(coalesce: false)
        h.register()
        let span = h.prepare()
        try h.start(span)
        var dispatch = try required(h.take())
        if kind == .finishSpan {
            h.succeed(dispatch)
            try h.finish(span)
            dispatch = try required(h.take())
        }
        let (step, _) = h.fail(dispatch, failure, status: 409)
        let id = dispatch.operation.id
        #expect((h.machine.stats.delivered == (kind == .finishSpan ? 2 : 1)) == delivered)
        #expect((h.machine.failed.count == 1) == fails)
        if case .retry(let delay) = step {
            #expect(retries)
            #expect(delay == RetryPolicy().delay(beforeRetry: 0, unit: 0.5))
            #expect(h.state(of: id).map { if case .retrying = $0 { true } else { false } } == true)
        } else {
            #expect(!retries)
        }
        #expect(h.machine.isPaused == pauses)
        if pauses {
            #expect(h.machine.health == .authFailed)
            #expect(h.state(of: id) == .pending, "handed back to the front of the queue")
            let none = h.take()
            #expect(none == nil, "nothing goes out while paused")
            let resumed = h.machine.authRestored()
            #expect(resumed.resume.first?.dispatch?.operation.id == id, "the parked worker gets it back")
            #expect(h.machine.health == .ok)
        }
    }

    @Test func registeredInstancesCarryTheAgentNameAndVersion() {
        // A UI shows local runs by agent name and version, as the API's agent list lets it show other processes' runs.
        var h = Harness()
        let actions = h.machine.instanceRegistered(
            id: "inst", agentID: "agent", agentName: "support-bot", agentVersion: "support-bot-1.4.0", now: h.now)
        guard case .instanceRegistered(let instance) = actions.events.first else {
            Issue.record("no registration event: \(actions.events)")
            return
        }
        #expect(instance.agentName == "support-bot")
        #expect(instance.agentVersion == "support-bot-1.4.0")
        #expect(h.machine.snapshot().instances.first?.agentName == "support-bot")
    }

    @Test func healthFollowsTheOutcomes() throws {
        var h = Harness()
        h.register()
        try h.startInstance()
        let first = h.take()
        _ = h.fail(first, .unreachable)
        #expect(h.machine.health == .unreachable)
        let (again, _) = h.machine.retryDue(first!.operation.id)
        _ = h.fail(again, .transient, status: 503)
        #expect(h.machine.health == .retrying)
        let (last, _) = h.machine.retryDue(first!.operation.id)
        let actions = h.succeed(last)
        #expect(h.machine.health == .ok)
        #expect(actions.events.contains(.healthChanged(.ok)))
        _ = h.machine.directCallFinished(failure: .auth)
        #expect(h.machine.health == .authFailed)
        _ = h.machine.directCallFinished(failure: nil)
        #expect(h.machine.health == .ok)
    }

    @Test func aSuccessOfOneKindDoesNotHideAnotherKindThatKeepsFailing() throws {
        var h = Harness(coalesce: false)
        h.register()
        h.register("other")
        try h.startInstance()
        h.succeed(h.take())
        let span = h.prepare()
        try h.start(span)
        let create = h.take()
        _ = h.fail(create, .transient, status: 503)
        #expect(h.machine.health == .retrying)
        // An instance start of another run goes through: span creates still fail.
        try h.startInstance("other")
        let start = h.take()
        let actions = h.succeed(start)
        #expect(h.machine.health == .retrying, "one success must not mask a failing route")
        #expect(actions.expedite == [create!.operation.id], "the API answers again: the backoff is cut short")
        // Once the failing kind succeeds (or has nothing left), health is ok again.
        let (retry, _) = h.machine.retryDue(create!.operation.id)
        h.succeed(retry)
        #expect(h.machine.health == .ok)
    }

    @Test func retryNowCutsShortOnlyABackoff() throws {
        var h = Harness()
        h.register()
        try h.startInstance()
        let start = h.take()
        #expect(h.machine.retryNow(start!.operation.id).expedite.isEmpty, "in flight: nothing to cut short")
        _ = h.fail(start, .unreachable)
        #expect(h.machine.retryNow(start!.operation.id).expedite == [start!.operation.id])
        let (again, _) = h.machine.retryDue(start!.operation.id)
        #expect(again?.attempt == 2)
        #expect(h.machine.retryNow(start!.operation.id).expedite.isEmpty)
        _ = h.machine.directCallFinished(failure: .unreachable)
        #expect(h.machine.health == .unreachable)
    }

    @Test func aRetryWaitsOutItsBackoffAndGivesUpAtTheLimit() throws {
        var h = Harness(maxAttempts: 3)
        h.register()
        try h.startInstance()
        let first = try required(h.take())
        var delays: [Duration] = []
        var dispatch: TelemetryStateMachine.Dispatch? = first
        for attempt in 1...3 {
            #expect(dispatch?.attempt == attempt)
            #expect(dispatch?.operation.idempotencyKey == first.operation.idempotencyKey, "one key on every attempt")
            let (step, _) = h.fail(dispatch, .transient, status: 503)
            guard case .retry(let delay) = step else {
                #expect(attempt == 3, "the third failure gives up")
                break
            }
            delays.append(delay)
            h.advance(delay.seconds)
            dispatch = h.machine.retryDue(first.operation.id).0
        }
        let policy = RetryPolicy()
        #expect(delays == [policy.delay(beforeRetry: 0, unit: 0.5), policy.delay(beforeRetry: 1, unit: 0.5)])
        let failure = try #require(h.machine.failed.first)
        #expect(failure.reason.hasPrefix("Gave up after 3 attempts"))
        #expect(failure.status == 503)
    }

    @Test func aFailedRequirementFailsWhatRequiresItButNotWhatIsOnlyOrderedAfterIt() throws {
        var h = Harness(coalesce: false)
        h.register()
        try h.startInstance()
        h.succeed(h.take())
        let parent = h.prepare()
        try h.start(parent)
        let child = h.prepare(parent: parent)
        try h.start(child)
        try h.finish(child)
        let instanceFinish = try h.machine.finishInstance("inst", status: .complete, key: "f", keyGiven: false, now: h.now)
        let parentCreate = try required(h.take())
        let (_, actions) = h.fail(parentCreate, .permanent, status: 422)
        let failedKinds = h.machine.failed.map { "\($0.operation.kind)/\($0.operation.spanID ?? "")" }
        #expect(failedKinds == ["createSpan/\(parent)", "createSpan/\(child)", "finishSpan/\(child)"])
        #expect(h.machine.failed[1].reason.contains("depends on failed"))
        #expect(h.machine.span(child)?.deliveryError != nil)
        // The instance finish was only ordered after them: it goes.
        #expect(actions.resume.isEmpty)
        let next = try required(h.take())
        #expect(next.operation.id == instanceFinish.persist.first?.id)
    }

    // MARK: Closing, errors, termination

    @Test func closingRefusesNewOperationsAndStopsWorkersOnceEmpty() throws {
        var h = Harness()
        h.register()
        try h.startInstance()
        let inFlight = try required(h.take())
        let parked = h.take()
        #expect(parked == nil)  // worker 2 parks
        let closed = h.machine.close()
        #expect(closed.resume.isEmpty, "not empty yet: workers keep going")
        #expect(throws: PrefactorError.self) {
            try h.machine.recordQuality("inst", name: "q", payload: nil, key: "k", now: h.now)
        }
        let settled = h.succeed(inFlight)
        #expect(settled.drained)
        #expect(settled.resume.map(\.worker) == [2])
        #expect(settled.resume.allSatisfy { $0.dispatch == nil }, "told to stop")
        let (report, _) = h.machine.stop()
        #expect(report.isComplete && report.deliveredCount == 1)
    }

    @Test func eachMisuseHasItsOwnCode() throws {
        var h = Harness()
        h.register()
        let span = h.prepare()
        func code(_ body: () throws -> Void) -> PrefactorError.Code? {
            do {
                try body()
                return nil
            } catch let error as PrefactorError {
                return error.code
            } catch {
                return nil
            }
        }
        let rows: [(String, PrefactorError.Code, () throws -> Void)] = [
            ("finish a prepared span", .notStarted, { _ = try h.finish(span) }),
            ("unknown span", .unknownSpan, { _ = try h.start("span-999") }),
            ("unknown instance", .unknownInstance, { _ = try h.startInstance("nope") }),
        ]
        for (name, expected, body) in rows {
            #expect(code(body) == expected, "\(name)")
        }
        try h.start(span)
        #expect(code { try h.start(span) } == .alreadyStarted)
        var keys = CountingKeys(count: 100)
        let now = h.now
        #expect(code { _ = try h.machine.cancelUnstarted(span, now: now, keys: &keys) } == .alreadyStarted)
        try h.finish(span)
        #expect(code { try h.finish(span) } == .alreadyFinished)
        let other = h.prepare()
        _ = try h.machine.beginSynchronousStart(other)
        #expect(code { _ = try h.machine.beginSynchronousStart(other) } == .startInProgress)
        let child = h.prepare(parent: other)
        #expect(code { _ = try h.machine.beginSynchronousStart(child) } == .parentNotCreated)
        _ = try h.machine.finishInstance("inst", status: .complete, key: "a", keyGiven: false, now: h.now)
        #expect(
            code { _ = try h.machine.finishInstance("inst", status: .complete, key: "b", keyGiven: false, now: h.now) }
                == .alreadyFinished)
        _ = h.machine.close()
        #expect(code { _ = try h.start(h.prepare()) } == .clientShutDown)
    }

    @Test func aTerminationIsRecordedOnceAndLaterFinishesAreNoOps() throws {
        var h = Harness()
        h.register()
        try h.startInstance()
        let first = h.machine.instanceTerminated("inst", reason: "operator", now: h.now)
        #expect(first.terminated == [Termination(instanceID: "inst", reason: "operator")])
        #expect(h.machine.instanceTerminated("inst", reason: "again", now: h.now).terminated.isEmpty)
        let finish = try h.machine.finishInstance("inst", status: .complete, key: "k", keyGiven: false, now: h.now)
        #expect(finish.persist.isEmpty)
        #expect(h.machine.instance("inst")?.terminationReason == "operator")
        #expect(h.machine.liveInstanceIDs.isEmpty)
    }

    @Test func theOldestUndeliveredOperationIsTracked() throws {
        var h = Harness(coalesce: false)
        h.register()
        let start = h.now
        try h.startInstance()
        h.advance(5)
        _ = try h.machine.recordQuality("inst", name: "q", payload: nil, key: "k", now: h.now)
        #expect(h.machine.stats.oldestEnqueuedAt == start)
        h.succeed(h.take())
        #expect(h.machine.stats.oldestEnqueuedAt == start.addingTimeInterval(5))
        h.succeed(h.take())
        #expect(h.machine.stats.oldestEnqueuedAt == nil)
    }

    // MARK: Restore

    @Test func aRestoredCreateIsNeverCombinedWithItsFinish() throws {
        // Before the crash the create may have gone out alone under its key; the API would replay that answer
        // (an active span) to a combined body and the finish would be lost.
        var before = Harness(coalesce: true)
        before.register()
        let span = before.prepare()
        try before.start(span)
        _ = before.take()  // in flight when the process dies
        try before.finish(span, .cancelled)
        var after = Harness(coalesce: true)
        _ = after.machine.restore(before.machine.undelivered, resolvedSpans: [:], now: after.now)
        let create = try required(after.take())
        #expect(create.operation.kind == .createSpan)
        #expect(create.combinedFinish == nil)
        after.succeed(create)
        let finish = try required(after.take())
        #expect(finish.operation.kind == .finishSpan)
    }

    @Test func restoredOperationsKeepTheirKeysDependenciesAndResolvedIds() throws {
        var before = Harness(coalesce: false)
        before.register()
        try before.startInstance()
        before.succeed(before.take())
        let parent = before.prepare()
        try before.start(parent)
        before.succeed(before.take(), apiID: "sp_parent")
        let child = before.prepare(parent: parent)
        try before.start(child)
        try before.finish(child)
        try before.finish(parent)
        let kept = before.machine.undelivered
        #expect(kept.map(\.kind) == [.createSpan, .finishSpan, .finishSpan])

        var after = Harness(coalesce: false)
        let restored = after.machine.restore(kept, resolvedSpans: [parent: "sp_parent"], now: after.now)
        #expect(restored.persist.isEmpty, "already in the store")
        #expect(after.machine.stats.depth == 3)
        var sent: [TelemetryStateMachine.Dispatch] = []
        while let dispatch = after.take() {
            sent.append(dispatch)
            after.succeed(dispatch)
        }
        #expect(
            sent.map(\.operation.idempotencyKey) == kept.map(\.idempotencyKey)
                || Set(sent.map(\.operation.idempotencyKey)) == Set(kept.map(\.idempotencyKey)))
        let childCreate = try #require(sent.first { $0.operation.kind == .createSpan })
        #expect(childCreate.parentAPIID == "sp_parent", "the parent's recorded API id")
        let parentFinish = try #require(sent.first { $0.operation.spanID == parent })
        #expect(parentFinish.spanAPIID == "sp_parent")
        let childFinish = try #require(sent.first { $0.operation.kind == .finishSpan && $0.operation.spanID == child })
        #expect(sent.firstIndex(of: childCreate)! < sent.firstIndex(of: childFinish)!, "a finish after its create")
        // New operations get new ids and span numbers after the restored ones.
        let next = after.prepare()
        #expect(next != parent && next != child)
        #expect(after.machine.isDrained)
    }
}

// MARK: Random input sequences

/// Drives the machine with random inputs and checks its invariants after each step: causal order of what it hands
/// out, nothing handed out twice while in flight, every operation settled exactly once, counts equal to a recount.
/// The queue's limits: operations and bytes.
@Suite struct QueueLimitTests {
    @Test func anOperationWhosePayloadWouldPassTheBytesLimitIsRefusedAndNothingChanges() throws {
        let big: [String: JSONValue] = ["prompt": .string(String(repeating: "x", count: 4_000))]
        var harness = Harness(maxBytes: 3 * TelemetryOperation.fixedSize + 1_000)
        harness.register()
        try harness.startInstance()
        let small = harness.prepare()
        try harness.start(small)
        let before = harness.machine.queuedBytes
        #expect(before == TelemetryOperation.fixedSize * 2 + JSONValue.estimatedSize(["k": "v"]))
        let large = harness.prepare()
        #expect(throws: PrefactorError.self) {
            try harness.machine.startSpan(large, payload: big, startedAt: harness.now, now: harness.now, keys: &harness.keys)
        }
        #expect(harness.machine.queuedBytes == before)
        #expect(harness.machine.snapshot().spans.first { $0.id == large }?.phase == .prepared)
        #expect(harness.machine.fullLimit == .fullOfBytes(limit: 3 * TelemetryOperation.fixedSize + 1_000))
        do {
            _ = try harness.machine.finishSpan(
                small, status: .complete, resultPayload: big, key: "k-finish", keyGiven: false, now: harness.now)
            Issue.record("a finish past the limit was accepted")
        } catch {
            #expect(error.code == .queueFull)
            #expect(error.message.contains("maximum of 1 KiB"), "\(error.message)")
        }
    }

    @Test func deliveredAndFailedOperationsGiveTheirBytesBack() throws {
        var harness = Harness(maxBytes: 1 << 20)
        harness.register()
        try harness.startInstance()
        let first = harness.prepare()
        let second = harness.prepare()
        try harness.start(first)
        try harness.start(second)
        #expect(harness.machine.queuedBytes > 0)
        harness.succeed(harness.take())
        _ = harness.fail(harness.take(), .permanent, status: 422)
        _ = harness.fail(harness.take(), .permanent, status: 422)
        #expect(harness.machine.isDrained)
        #expect(harness.machine.queuedBytes == 0)
    }

    @Test func theOperationsLimitIsNamedWhenItIsTheOneReached() throws {
        var harness = Harness(maxOperations: 2, maxBytes: 1 << 20)
        harness.register()
        try harness.startInstance()
        try harness.start(harness.prepare())
        #expect(throws: PrefactorError.self) { try harness.start(harness.prepare()) }
        #expect(harness.machine.fullLimit == .full(limit: 2))
    }

    @Test(arguments: [
        ("1048576", 1_048_576), ("64k", 65_536), ("64KiB", 65_536), ("512MiB", 536_870_912), ("1G", 1_073_741_824),
        (" 2 mb ", 2_097_152), ("10B", 10),
    ])
    func sizesAreReadWithTheirUnits(text: String, bytes: Int) {
        #expect(ByteCount.parse(text) == bytes)
    }

    @Test(arguments: ["", "-1", "1.5G", "12 parsecs", "M", "99999999999999999999G"])
    func sizesThatAreNotAreRefused(text: String) {
        #expect(ByteCount.parse(text) == nil)
    }

    @Test func sizesAreWrittenForAPerson() {
        #expect(ByteCount.text(512) == "512 B")
        #expect(ByteCount.text(65_536) == "64 KiB")
        #expect(ByteCount.text(536_870_912) == "512.0 MiB")
        #expect(ByteCount.text(2_147_483_648) == "2.0 GiB")
    }

    @Test func theEnvironmentSetsTheBytesLimit() throws {
        let environment = ["PREFACTOR_API_URL": "http://127.0.0.1:1", "PREFACTOR_API_TOKEN": "t"]
        #expect(try PrefactorClient.Configuration.fromEnvironment(environment).maxQueuedBytes == 512 << 20)
        var chosen = environment
        chosen["PREFACTOR_QUEUE_MAX_BYTES"] = "64MiB"
        #expect(try PrefactorClient.Configuration.fromEnvironment(chosen).maxQueuedBytes == 64 << 20)
        for bad in ["lots", "1k"] {
            chosen["PREFACTOR_QUEUE_MAX_BYTES"] = bad
            do {
                _ = try PrefactorClient.Configuration.fromEnvironment(chosen)
                Issue.record("\(bad) was accepted")
            } catch {
                #expect("\(error)".contains("PREFACTOR_QUEUE_MAX_BYTES"), "\(error)")
            }
        }
    }
}

@Suite struct TelemetryStateMachinePropertyTests {
    @Test(arguments: 0..<40)
    func randomInputsKeepEveryInvariant(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        var h = Harness(coalesce: seed % 2 == 0, maxAttempts: seed % 3 == 0 ? 3 : nil)
        h.machine.publishing = true
        var model = Model()
        let instances = ["i0", "i1"]
        for instance in instances {
            model.observe(h.register(instance), machine: h.machine)
            model.observe(try h.startInstance(instance), machine: h.machine)
        }
        var prepared: [String] = []
        var started: [String] = []
        for _ in 0..<400 {
            let instance = instances[Int(random.next() % 2)]
            switch random.next() % 12 {
            case 0, 1:
                let parent = started.isEmpty || random.next() % 3 == 0 ? nil : started[Int(random.next() % UInt64(started.count))]
                let id = h.machine.prepareSpan(instanceID: instance, schemaName: "s", parentID: parent, openSpans: [], now: h.now)
                    .id
                if h.machine.span(parent ?? "")?.instanceID ?? instance == instance { prepared.append(id) }
            case 2, 3:
                guard !prepared.isEmpty else { continue }
                let id = prepared.remove(at: Int(random.next() % UInt64(prepared.count)))
                if let actions = try? h.start(id) { model.observe(actions, machine: h.machine) }
                started.append(id)
            case 4:
                guard !prepared.isEmpty else { continue }
                let id = prepared.remove(at: Int(random.next() % UInt64(prepared.count)))
                if let actions = try? h.machine.cancelUnstarted(id, now: h.now, keys: &h.keys) {
                    model.observe(actions, machine: h.machine)
                }
            case 5, 6:
                guard !started.isEmpty else { continue }
                let id = started.remove(at: Int(random.next() % UInt64(started.count)))
                let status = FinishStatus.allCases[Int(random.next() % 3)]
                if let actions = try? h.finish(id, status) { model.observe(actions, machine: h.machine) }
            case 7:
                if let actions = try? h.machine.recordQuality(instance, name: "q", payload: nil, key: h.keys.next(), now: h.now) {
                    model.observe(actions, machine: h.machine)
                }
            case 8, 9:
                h.nextWorker += 1
                model.observe(h.machine.workerReady(h.nextWorker), machine: h.machine)
            case 10:
                guard let id = model.inFlight.randomElement(using: &random) else { continue }
                let outcome = random.next() % 10
                if outcome < 6 {
                    let apiID = h.machine.snapshot().operations.first { $0.id == id }?.operation.spanID.map { "api-\($0)" }
                    model.observe(h.machine.attemptSucceeded(id, spanAPIID: apiID), machine: h.machine)
                } else {
                    let kinds: [TelemetryStateMachine.AttemptFailure.Kind] = [
                        .transient, .unreachable, .permanent, .auth, .conflict,
                    ]
                    let kind = kinds[Int(random.next() % UInt64(kinds.count))]
                    let (step, actions) = h.machine.attemptFailed(
                        id, .init(kind: kind, message: "x", status: 500), now: h.now, jitter: 0.5)
                    model.inFlight.remove(id)  // settled, waiting to retry, or handed back
                    model.observe(actions, machine: h.machine)
                    if case .retry = step { model.retrying.insert(id) }
                }
            default:
                if let id = model.retrying.randomElement(using: &random) {
                    model.retrying.remove(id)
                    let (dispatch, actions) = h.machine.retryDue(id)
                    model.observe(actions, machine: h.machine)
                    if let dispatch { model.handOut(dispatch, machine: h.machine) }
                } else if h.machine.isPaused {
                    model.observe(h.machine.authRestored(), machine: h.machine)
                }
            }
            try model.check(h.machine)
        }
        // Finish: close, and deliver everything that is left.
        model.observe(h.machine.close(), machine: h.machine)
        model.observe(h.machine.authRestored(), machine: h.machine)
        for _ in 0..<10_000 {
            if let id = model.retrying.first {
                model.retrying.remove(id)
                let (dispatch, actions) = h.machine.retryDue(id)
                model.observe(actions, machine: h.machine)
                if let dispatch { model.handOut(dispatch, machine: h.machine) }
            } else if let id = model.inFlight.min() {
                let apiID = h.machine.snapshot().operations.first { $0.id == id }?.operation.spanID.map { "api-\($0)" }
                model.observe(h.machine.attemptSucceeded(id, spanAPIID: apiID), machine: h.machine)
            } else {
                h.nextWorker += 1
                model.observe(h.machine.workerReady(h.nextWorker), machine: h.machine)
                if h.machine.isDrained { break }
            }
            try model.check(h.machine)
        }
        #expect(h.machine.isDrained, "seed \(seed)")
        #expect(model.settled.keys.sorted() == model.persisted.keys.sorted(), "seed \(seed): every operation settled")
        #expect(model.settled.values.allSatisfy { $0 == 1 }, "seed \(seed): settled exactly once")
        let stats = h.machine.stats
        #expect(stats.delivered + stats.failed == model.persisted.count, "seed \(seed)")
    }

    /// What the test has seen of the machine's actions.
    struct Model {
        var persisted: [UInt64: TelemetryOperation] = [:]
        var settled: [UInt64: Int] = [:]
        var inFlight: Set<UInt64> = []
        var retrying: Set<UInt64> = []
        var travelling: [UInt64: UInt64] = [:]

        mutating func observe(_ actions: TelemetryStateMachine.Actions, machine: TelemetryStateMachine) {
            for operation in actions.persist {
                #expect(persisted[operation.id] == nil, "an operation is persisted once")
                persisted[operation.id] = operation
            }
            for id in actions.forget + actions.failed.map(\.id) {
                settled[id, default: 0] += 1
                inFlight.remove(id)
                retrying.remove(id)
                travelling[id] = nil
            }
            for event in actions.events {
                if case .operationReady(let id) = event { inFlight.remove(id) }  // handed back (auth pause)
            }
            for (_, dispatch) in actions.resume {
                if let dispatch { handOut(dispatch, machine: machine) }
            }
        }

        mutating func handOut(_ dispatch: TelemetryStateMachine.Dispatch, machine: TelemetryStateMachine) {
            let id = dispatch.operation.id
            #expect(!inFlight.contains(id), "operation \(id) handed out twice while in flight")
            #expect(settled[id] == nil, "operation \(id) handed out after it settled")
            for dependency in dispatch.operation.dependencies {
                #expect(
                    settled[dependency.operationID] != nil,
                    "operation \(id) handed out before operation \(dependency.operationID) settled")
            }
            inFlight.insert(id)
            if let finish = dispatch.combinedFinish {
                #expect(finish.dependencies.map(\.operationID) == [id], "a combined finish waits only for its create")
                #expect(!finish.idempotencyKeyGiven)
                travelling[id] = finish.id
            }
        }

        func check(_ machine: TelemetryStateMachine) throws {
            let snapshot = machine.snapshot()
            var recount = QueueStats()
            for operation in snapshot.operations {
                switch operation.state {
                case .blocked: recount.blocked += 1
                case .pending: recount.pending += 1
                case .inFlight: recount.inFlight += 1
                case .retrying: recount.retrying += 1
                }
            }
            let stats = machine.stats
            #expect(stats.blocked == recount.blocked && stats.pending == recount.pending, "\(stats) vs \(recount)")
            #expect(stats.inFlight == recount.inFlight && stats.retrying == recount.retrying, "\(stats) vs \(recount)")
            #expect(stats.depth == persisted.count - settled.count, "queued = persisted - settled")
            #expect(stats.delivered + stats.failed == settled.count)
            #expect(stats.oldestEnqueuedAt == snapshot.operations.map(\.operation.enqueuedAt).min())
        }
    }
}
