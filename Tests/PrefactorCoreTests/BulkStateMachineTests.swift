import Foundation
import PrefactorHTTP
import PrefactorWire
import Testing

@testable import PrefactorCore

// The bulk rules of the queue, input by input (docs/queue-semantics.md, "Bulk requests"): no server, no clock, no
// sleeps.

extension Harness {
    /// An instance, started and delivered, with `count` root spans started (and finished when `finished`).
    mutating func backlog(_ count: Int, finished: Bool = false) throws -> [String] {
        register()
        try startInstance()
        let instanceStart = try required(take())
        succeed(instanceStart)
        var spans: [String] = []
        for _ in 0..<count {
            let span = prepare()
            try start(span)
            if finished { try finish(span) }
            spans.append(span)
        }
        return spans
    }

    mutating func answer(
        _ dispatch: TelemetryStateMachine.Dispatch, _ outcomes: [TelemetryStateMachine.BulkItemOutcome?]
    ) -> ((id: UInt64, delay: Duration)?, TelemetryStateMachine.Actions) {
        let ids = dispatch.items.map(\.operation.id)
        var byID: [UInt64: TelemetryStateMachine.BulkItemOutcome] = [:]
        for (id, outcome) in zip(ids, outcomes) { byID[id] = outcome }
        return machine.bulkAnswered(ids, outcomes: byID, now: now, jitter: 0.5)
    }

    mutating func failBulk(
        _ dispatch: TelemetryStateMachine.Dispatch, _ kind: TelemetryStateMachine.AttemptFailure.Kind, status: Int?
    ) -> (TelemetryStateMachine.NextStep, TelemetryStateMachine.Actions) {
        machine.bulkFailed(
            dispatch.items.map(\.operation.id), .init(kind: kind, message: "\(kind)", status: status), now: now, jitter: 0.5)
    }
}

let delivered = TelemetryStateMachine.BulkItemOutcome.delivered(spanAPIID: nil)

func failed(_ kind: TelemetryStateMachine.AttemptFailure.Kind) -> TelemetryStateMachine.BulkItemOutcome {
    .failed(.init(kind: kind, message: "\(kind)", status: nil))
}

@Suite struct BulkStateMachineTests {
    @Test(arguments: [
        // (bulkMaxItems, ready creates, items of the first request)
        (0, 5, 1), (1, 5, 1), (50, 1, 1), (50, 2, 2), (3, 5, 3), (50, 7, 7),
    ])
    func aWorkerTakesUpToTheLimitOfReadyCreatesAndALoneCreateGoesAlone(limit: Int, ready: Int, items: Int) throws {
        var h = Harness(bulk: limit)
        let spans = try h.backlog(ready)
        let dispatch = try required(h.take())
        #expect(dispatch.items.count == items)
        #expect(dispatch.items.map(\.operation.spanID) == Array(spans.prefix(items)), "oldest first, in order")
        #expect(h.machine.stats.inFlight == items)
        #expect(h.machine.stats.bulkRequests == (items > 1 ? 1 : 0))
        #expect(h.machine.stats.bulkOperations == (items > 1 ? items : 0))
    }

    @Test func onlySpanCreatesTravelInABatchAndThePassedOverKeepTheirPlace() throws {
        var h = Harness(coalesce: false, bulk: 10)
        let spans = try h.backlog(2)
        try h.finish(spans[0])  // blocked on its create
        _ = try h.machine.recordQuality("inst", name: "q", payload: nil, key: "quality-key", now: h.now)
        let third = h.prepare()
        let actions = try h.start(third)
        #expect(actions.resume.isEmpty)
        let batch = try required(h.take())
        #expect(batch.items.map(\.operation.spanID) == [spans[0], spans[1], third])
        let next = try required(h.take())
        #expect(next.operation.kind == .recordQuality, "the quality record was passed over, not lost")
        #expect(next.batch.isEmpty)
    }

    @Test func aChildIsNeverInABatchBeforeItsParentsAPIIdIsKnown() throws {
        var h = Harness(bulk: 10)
        let roots = try h.backlog(2)
        let child = h.prepare(parent: roots[0])
        try h.start(child)
        let batch = try required(h.take())
        #expect(batch.items.map(\.operation.spanID) == roots, "the child waits for its parent's create")
        _ = h.answer(batch, [.delivered(spanAPIID: "sp_root0"), .delivered(spanAPIID: "sp_root1")])
        let childCreate = try required(h.take())
        #expect(childCreate.operation.spanID == child)
        #expect(childCreate.parentAPIID == "sp_root0")
    }

    @Test func finishedSpansOfABacklogTravelWithTheirCreatesInOneRequest() throws {
        var h = Harness(bulk: 10)
        _ = try h.backlog(3, finished: true)
        let batch = try required(h.take())
        #expect(batch.items.count == 3)
        #expect(batch.items.allSatisfy { $0.combinedFinish != nil })
        #expect(batch.carriedOperationIDs.count == 6)
        #expect(h.machine.stats.bulkOperations == 6)
        let (held, actions) = h.answer(batch, [delivered, delivered, delivered])
        #expect(held == nil)
        #expect(actions.forget.count == 6)
        #expect(actions.drained)
    }

    @Test func eachItemIsSettledAsItsOwnRequestWouldBe() throws {
        // success, permanent error (stops the API), then two items it did not run
        var h = Harness(coalesce: false, bulk: 10)
        let spans = try h.backlog(4)
        let child = h.prepare(parent: spans[1])
        try h.start(child)
        let batch = try required(h.take())
        #expect(batch.items.count == 4)
        let ids = batch.items.map(\.operation.id)
        let (held, actions) = h.answer(batch, [.delivered(spanAPIID: "sp_0"), failed(.permanent), nil, nil])
        #expect(held == nil)
        #expect(actions.forget == [ids[0]])
        #expect(actions.resolved.map(\.api) == ["sp_0"], "the API id is recorded with the settlement")
        #expect(actions.failed.map(\.id).contains(ids[1]))
        #expect(h.machine.span(spans[1])?.deliveryError != nil)
        let childCreate = try #require(h.machine.span(child).flatMap { _ in h.machine.failed.last })
        #expect(childCreate.operation.spanID == child, "what requires the failed create fails with it")
        #expect(h.state(of: ids[2]) == .pending && h.state(of: ids[3]) == .pending, "unanswered: ready again")
        let again = try required(h.take())
        #expect(again.items.map(\.operation.id) == [ids[2], ids[3]], "in order, same operations")
        #expect(again.items.map(\.operation.idempotencyKey) == batch.items.suffix(2).map(\.operation.idempotencyKey))
        #expect(again.attempt == 2)
    }

    @Test func aTransientItemIsKeptByItsWorkerAndRetriedAloneWithItsKey() throws {
        var h = Harness(coalesce: false, bulk: 10)
        _ = try h.backlog(3)
        let batch = try required(h.take())
        let ids = batch.items.map(\.operation.id)
        let (held, actions) = h.answer(batch, [delivered, failed(.transient), nil])
        let retry = try #require(held)
        #expect(retry.id == ids[1])
        #expect(retry.delay > .zero)
        #expect(actions.retrying.map(\.id) == [ids[1]], "the failed attempt is recorded")
        #expect(h.state(of: ids[2]) == .pending)
        let (dispatch, _) = h.machine.retryDue(ids[1])
        let alone = try #require(dispatch)
        #expect(alone.batch.isEmpty, "retried as its own request")
        #expect(alone.operation.idempotencyKey == batch.items[1].operation.idempotencyKey)
        #expect(alone.attempt == 2)
    }

    @Test func aFailedRequestRetriesEveryItemTogetherWithTheSameKeys() throws {
        var h = Harness(bulk: 10)
        _ = try h.backlog(3, finished: true)
        let batch = try required(h.take())
        for kind in [TelemetryStateMachine.AttemptFailure.Kind.transient, .unreachable] {
            let (step, actions) = h.failBulk(batch, kind, status: kind == .transient ? 503 : nil)
            guard case .retry(let delay) = step else {
                Issue.record("expected a retry, got \(step)")
                return
            }
            #expect(delay > .zero)
            #expect(actions.retrying.count == 3)
            #expect(h.machine.stats.retrying == 3)
            let (again, _) = h.machine.bulkRetryDue(batch.items.map(\.operation.id))
            let resent = try #require(again)
            #expect(resent.items.map(\.operation.idempotencyKey) == batch.items.map(\.operation.idempotencyKey))
            #expect(resent.items.map(\.combinedFinish) == batch.items.map(\.combinedFinish), "the same bodies")
        }
        #expect(h.machine.stats.bulkRequests == 3, "every attempt of the request counts")
    }

    @Test func aRetryNowOfAnyItemWakesTheWorkerHoldingTheBatch() throws {
        var h = Harness(bulk: 10)
        _ = try h.backlog(3)
        let batch = try required(h.take())
        let ids = batch.items.map(\.operation.id)
        _ = h.failBulk(batch, .transient, status: 503)
        #expect(h.machine.retryNow(ids[2]).expedite == [ids[0]])
    }

    @Test func itemsThatUsedUpTheirAttemptsFailAndTheRestRetry() throws {
        var h = Harness(coalesce: false, maxAttempts: 2, bulk: 10)
        _ = try h.backlog(3)
        let first = try required(h.take())
        let ids = first.items.map(\.operation.id)
        _ = h.answer(first, [delivered, nil, nil])  // two items attempted once, unanswered
        let second = try required(h.take())
        #expect(second.items.map(\.operation.id) == [ids[1], ids[2]])
        let (step, actions) = h.failBulk(second, .transient, status: 503)
        #expect(step == .done, "both used their two attempts")
        #expect(Set(actions.failed.map(\.id)) == [ids[1], ids[2]])
    }

    @Test(arguments: [401, 403])
    func aRejectedTokenPausesAndHandsEveryItemBack(status: Int) throws {
        var h = Harness(bulk: 10)
        _ = try h.backlog(3)
        let batch = try required(h.take())
        let (step, _) = h.failBulk(batch, .auth, status: status)
        #expect(step == .done)
        #expect(h.machine.isPaused)
        #expect(h.machine.stats.pending == 3)
        #expect(h.take() == nil)
    }

    @Test(arguments: [404, 405])
    func noBulkEndpointMeansSingleRequestsForTheClientsLife(status: Int) throws {
        var h = Harness(bulk: 10)
        _ = try h.backlog(3)
        let batch = try required(h.take())
        let (step, actions) = h.failBulk(batch, .permanent, status: status)
        #expect(step == .done)
        #expect(actions.failed.isEmpty, "nothing fails because the endpoint is missing")
        #expect(actions.notices.contains { if case .bulkUnavailable = $0 { return true } else { return false } })
        #expect(actions.events.contains { if case .bulkUnavailable = $0 { return true } else { return false } })
        #expect(h.machine.bulkUnavailable)
        for item in batch.items {
            let single = try required(h.take())
            #expect(single.batch.isEmpty)
            #expect(single.operation.idempotencyKey == item.operation.idempotencyKey)
        }
    }

    @Test func aRefusedRequestIsSplitInHalvesDownToSingleRequests() throws {
        var h = Harness(coalesce: false, bulk: 8)
        _ = try h.backlog(8)
        var sizes: [Int] = []
        var batch = try required(h.take())
        while !batch.batch.isEmpty {
            sizes.append(batch.items.count)
            let (step, actions) = h.failBulk(batch, .permanent, status: 422)
            #expect(step == .done)
            #expect(actions.failed.isEmpty, "a refusal of the whole request fails no item")
            batch = try required(h.take())
        }
        #expect(sizes == [8, 4, 2])
        #expect(!h.machine.bulkUnavailable)
        #expect(h.machine.stats.pending == 7, "the others wait, nothing lost")
    }
}

@Suite struct BulkKeyTests {
    /// Keys too short for the bulk endpoint (it wants 8 to 64 characters).
    struct ShortKeys: KeySource {
        var count = 0
        mutating func next() -> String {
            count += 1
            return "k\(count)"
        }
    }

    @Test func aCreateWhoseKeyTheBulkEndpointWouldRefuseGoesAlone() throws {
        var machine = TelemetryStateMachine(settings: .init(bulkMaxItems: 10))
        var keys = ShortKeys()
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        _ = machine.instanceRegistered(id: "inst", agentID: nil, now: now)
        for _ in 0..<3 {
            let id = machine.prepareSpan(instanceID: "inst", schemaName: "s", parentID: nil, openSpans: [], now: now).id
            _ = try machine.startSpan(id, payload: [:], startedAt: now, now: now, keys: &keys)
        }
        let dispatch = try #require(machine.workerReady(1).resume.first?.dispatch)
        #expect(dispatch.batch.isEmpty)
    }
}
