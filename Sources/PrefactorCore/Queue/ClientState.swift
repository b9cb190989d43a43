import DequeModule
import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// A span as the client tracks it.
struct SpanRecord {
    var snapshot: SpanSnapshot
    var createOperation: UInt64?
    var finishOperation: UInt64?
    var createFailed = false
    /// The payload to start with when the span is started implicitly.
    var pendingPayload: [String: JSONValue] = [:]
    /// Synchronous start mode: the create is being sent; later starters wait (``startWaiters``) rather than send
    /// a second create.
    var startInFlight = false
    var startWaiters: [CheckedContinuation<SpanPhase??, Never>] = []
}

/// An instance as the client tracks it.
struct InstanceRecord {
    var snapshot: InstanceSnapshot
    var startOperation: UInt64?
    var finishOperation: UInt64?
    /// Unsettled span and quality operations, which the instance finish must follow.
    var openOperations: Set<UInt64> = []
    var terminationWaiters: [CheckedContinuation<Termination?, Never>] = []
}

/// A queued operation and where it is.
struct QueueEntry {
    enum Phase: Equatable {
        case blocked
        case ready
        case inFlight(attempt: Int)
        case retrying(attempt: Int, nextAttemptAt: Date, error: String)
    }

    /// What the queue needs of the operation; the operation itself lives in the ``TelemetryQueueStore``.
    var instanceID: String
    var spanID: String?
    var kind: TelemetryOperation.Kind
    var enqueuedAt: Date
    var blockers: Int
    var phase: Phase
    var attempts = 0
}

/// The client's whole state: instances, spans and the delivery queue, with causal ordering through dependencies.
///
/// Methods mutate the state and append the events that describe the change to `events`; the caller publishes them
/// while still holding the lock, so subscribers see state changes in order.
struct ClientState {
    /// Where the queued operations live.
    let store: any TelemetryQueueStore

    /// Whether a never-attempted span create takes its already-queued finish along (see
    /// ``PrefactorClient/Configuration/coalesceSpanFinishes``).
    let coalesceSpanFinishes: Bool

    init(store: any TelemetryQueueStore, coalesceSpanFinishes: Bool = false) {
        self.store = store
        self.coalesceSpanFinishes = coalesceSpanFinishes
    }

    /// Span finishes sent together with their create, by the create's operation id.
    var absorbedFinishes: [UInt64: UInt64] = [:]

    var instances: [String: InstanceRecord] = [:]
    var instanceOrder: [String] = []
    var spans: [String: SpanRecord] = [:]
    var spanOrder: [String] = []
    var apiToLocal: [String: String] = [:]

    var nextOperationID: UInt64 = 1
    var nextSpanNumber: UInt64 = 0
    var oldestCandidate: UInt64 = 1
    var entries = DenseTable<QueueEntry>()
    var ready = Deque<UInt64>()
    var dependents: [UInt64: [(UInt64, TelemetryOperation.DependencyKind)]] = [:]
    var failedRequirement: Set<UInt64> = []
    var failed: [FailedOperation] = []
    var stats = QueueStats()
    var health: APIHealth = .ok
    var paused = false
    var closed = false

    var waiters: [UInt64: CheckedContinuation<TelemetryOperation?, Never>] = [:]
    var waiterOrder = Deque<UInt64>()
    var nextWaiterID: UInt64 = 0
    var drainWaiters: [CheckedContinuation<Void, Never>] = []

    var events: [ClientEvent] = []
    /// Whether anyone listens; when nobody does, events are not even built.
    var publishing = true

    /// Records an event for the subscribers (built only when someone listens).
    mutating func emit(_ event: @autoclosure () -> ClientEvent) {
        if publishing { events.append(event()) }
    }

    // MARK: Lookups

    func localSpanID(_ id: String) -> String? {
        if spans[id] != nil { return id }
        return apiToLocal[id]
    }

    var isDrained: Bool { entries.isEmpty }

    // MARK: Enqueue

    /// Queues an operation after its dependencies; returns a worker to wake, if any.
    mutating func enqueue(
        instanceID: String, body: TelemetryOperation.Body, key: String, keyGiven: Bool = false, now: Date,
        dependencies: [TelemetryOperation.Dependency], store: any TelemetryQueueStore
    ) -> (TelemetryOperation, [Wake]) {
        let id = nextOperationID
        nextOperationID += 1
        let live = dependencies.filter { entries[$0.operationID] != nil }
        let operation = TelemetryOperation(
            id: id, instanceID: instanceID, body: body, idempotencyKey: key, idempotencyKeyGiven: keyGiven, enqueuedAt: now,
            dependencies: live)
        store.record(operation)
        var entry = QueueEntry(
            instanceID: instanceID, spanID: operation.spanID, kind: operation.kind, enqueuedAt: now, blockers: live.count,
            phase: live.isEmpty ? .ready : .blocked)
        for dependency in live {
            dependents[dependency.operationID, default: []].append((id, dependency.kind))
        }
        if live.isEmpty { entry.phase = .ready }
        entries[id] = entry
        if live.isEmpty {
            ready.append(id)
            stats.pending += 1
        } else {
            stats.blocked += 1
        }
        if stats.oldestEnqueuedAt == nil { stats.oldestEnqueuedAt = now }
        if publishing { events.append(.operationEnqueued(OperationSnapshot(operation: operation, state: live.isEmpty ? .pending : .blocked))) }
        if publishing { events.append(.queueChanged(stats)) }
        return (operation, wakeWorkers())
    }

    /// A worker waiting for an operation, and the operation to give it (nil means stop).
    struct Wake {
        var continuation: CheckedContinuation<TelemetryOperation?, Never>
        var operation: TelemetryOperation?
    }

    /// Hands ready operations to waiting workers.
    mutating func wakeWorkers() -> [Wake] {
        var wakes: [Wake] = []
        while !paused, !ready.isEmpty, let waiterID = waiterOrder.first {
            waiterOrder.removeFirst()
            guard let continuation = waiters.removeValue(forKey: waiterID) else { continue }
            let operation = takeReady()!
            wakes.append(Wake(continuation: continuation, operation: operation))
        }
        if closed && entries.isEmpty {
            for waiterID in waiterOrder {
                if let continuation = waiters.removeValue(forKey: waiterID) {
                    wakes.append(Wake(continuation: continuation, operation: nil))
                }
            }
            waiterOrder.removeAll()
        }
        return wakes
    }

    /// Takes the oldest ready operation and marks it in flight.
    mutating func takeReady() -> TelemetryOperation? {
        guard !paused, let id = ready.popFirst(), let entry = entries[id] else { return nil }
        stats.pending -= 1
        let firstAttempt = entry.attempts == 0
        beginAttempt(id)
        if coalesceSpanFinishes, firstAttempt, entry.kind == .createSpan { absorbFinish(into: id, spanID: entry.spanID) }
        if publishing { events.append(.queueChanged(stats)) }
        return store.operation(id)
    }

    /// Counts a new attempt of an operation that left the pending or retrying count and announces it as sent; the
    /// caller publishes the queue counts once it is done.
    private mutating func beginAttempt(_ id: UInt64) {
        guard var entry = entries[id] else { return }
        entry.attempts += 1
        entry.phase = .inFlight(attempt: entry.attempts)
        entries[id] = entry
        stats.inFlight += 1
        if publishing { events.append(.operationSent(operationID: id, attempt: entry.attempts)) }
    }

    /// When a span's finish is queued and waits only for this create (an active one, never attempted), sends it
    /// with the create: the finish goes in flight now and is settled with the create. A finish whose idempotency key
    /// the caller chose is never combined, so that key reaches the API.
    private mutating func absorbFinish(into createID: UInt64, spanID: String?) {
        guard let spanID, let finishID = spans[spanID]?.finishOperation, var finish = entries[finishID],
            finish.phase == .blocked, finish.blockers == 1,
            let operation = store.operation(createID), case .createSpan(_, _, _, .active, _, _) = operation.body,
            let finishOperation = store.operation(finishID), !finishOperation.idempotencyKeyGiven,
            finishOperation.dependencies.contains(where: { $0.operationID == createID })
        else { return }
        finish.attempts = 1
        finish.phase = .inFlight(attempt: 1)
        entries[finishID] = finish
        stats.blocked -= 1
        stats.inFlight += 1
        absorbedFinishes[createID] = finishID
        if publishing { events.append(.operationSent(operationID: finishID, attempt: 1)) }
    }

    /// The finish that travels with a create, if any.
    func absorbedFinish(of createID: UInt64) -> TelemetryOperation? {
        absorbedFinishes[createID].flatMap { store.operation($0) }
    }

    // MARK: Outcomes

    /// Marks an in-flight operation as waiting to retry.
    mutating func scheduleRetry(_ id: UInt64, after delay: Duration, now: Date, error: String) {
        guard var entry = entries[id] else { return }
        let next = now.addingTimeInterval(delay.seconds)
        entry.phase = .retrying(attempt: entry.attempts, nextAttemptAt: next, error: error)
        entries[id] = entry
        stats.inFlight -= 1
        stats.retrying += 1
        if publishing { events.append(.operationRetrying(operationID: id, attempt: entry.attempts, nextAttemptAt: next, delay: delay, error: error)) }
        if publishing { events.append(.queueChanged(stats)) }
    }

    /// Marks a retrying operation as in flight again.
    mutating func beginRetry(_ id: UInt64) {
        guard entries[id] != nil else { return }
        stats.retrying -= 1
        beginAttempt(id)
        if publishing { events.append(.queueChanged(stats)) }
    }

    /// Puts an in-flight operation back at the front of the ready queue (delivery paused).
    mutating func requeueFront(_ id: UInt64) {
        guard var entry = entries[id] else { return }
        if case .retrying = entry.phase { stats.retrying -= 1 } else { stats.inFlight -= 1 }
        entry.phase = .ready
        entries[id] = entry
        ready.prepend(id)
        stats.pending += 1
        if publishing { events.append(.operationReady(operationID: id)) }
        if publishing { events.append(.queueChanged(stats)) }
    }

    /// Settles an operation (and a finish that travelled with it) as delivered and releases what waited for it.
    mutating func delivered(_ id: UInt64, store: any TelemetryQueueStore) -> [Wake] {
        guard let entry = entries.removeValue(forKey: id) else { return [] }
        settleDelivered(entry, id, store: store)
        if let finishID = absorbedFinishes.removeValue(forKey: id), let finish = entries.removeValue(forKey: finishID) {
            settleDelivered(finish, finishID, store: store)
            release(finishID, failed: false, store: store)
        }
        release(id, failed: false, store: store)
        refreshOldest()
        if publishing { events.append(.queueChanged(stats)) }
        return wakeWorkers() + drainedWakes()
    }

    private mutating func settleDelivered(_ entry: QueueEntry, _ id: UInt64, store: any TelemetryQueueStore) {
        store.remove(id)
        if case .retrying = entry.phase { stats.retrying -= 1 } else { stats.inFlight -= 1 }
        stats.delivered += 1
        if entry.kind == .finishSpan, let spanID = entry.spanID {
            spans[spanID]?.snapshot.finishDelivered = true
        }
        if publishing { events.append(.operationDelivered(operationID: id, attempts: entry.attempts)) }
        closeOpen(entry, id)
    }

    /// Settles an operation as failed for good, and fails what required it.
    mutating func failedPermanently(_ id: UInt64, reason: String, status: Int?, store: any TelemetryQueueStore) -> [Wake] {
        guard let entry = entries.removeValue(forKey: id) else { return [] }
        absorbedFinishes[id] = nil  // a finish that travelled with it fails with it, as it requires it
        let operation = store.operation(id)
        store.remove(id)
        switch entry.phase {
        case .blocked: stats.blocked -= 1
        case .ready:
            stats.pending -= 1
            if let index = ready.firstIndex(of: id) { ready.remove(at: index) }
        case .inFlight: stats.inFlight -= 1
        case .retrying: stats.retrying -= 1
        }
        stats.failed += 1
        guard let operation else { return [] }
        let failure = FailedOperation(operation: operation, reason: reason, status: status)
        failed.append(failure)
        markSpanFailure(entry, reason: reason)
        if publishing { events.append(.operationFailed(failure)) }
        closeOpen(entry, id)
        release(id, failed: true, store: store)
        refreshOldest()
        if publishing { events.append(.queueChanged(stats)) }
        return wakeWorkers() + drainedWakes()
    }

    private mutating func release(_ id: UInt64, failed: Bool, store: any TelemetryQueueStore) {
        guard let waiting = dependents.removeValue(forKey: id) else { return }
        for (dependentID, kind) in waiting {
            guard var entry = entries[dependentID] else { continue }
            if failed && kind == .requires { failedRequirement.insert(dependentID) }
            entry.blockers -= 1
            entries[dependentID] = entry
            guard entry.blockers == 0 else { continue }
            if failedRequirement.remove(dependentID) != nil {
                _ = failedPermanently(
                    dependentID, reason: "An operation it depends on failed (operation \(id))", status: nil, store: store)
                continue
            }
            entry.phase = .ready
            entries[dependentID] = entry
            stats.blocked -= 1
            stats.pending += 1
            ready.append(dependentID)
            if publishing { events.append(.operationReady(operationID: dependentID)) }
        }
    }

    private mutating func closeOpen(_ entry: QueueEntry, _ id: UInt64) {
        instances[entry.instanceID]?.openOperations.remove(id)
    }

    private mutating func markSpanFailure(_ entry: QueueEntry, reason: String) {
        guard let spanID = entry.spanID, var record = spans[spanID] else { return }
        record.snapshot.deliveryError = reason
        if entry.kind == .createSpan { record.createFailed = true }
        spans[spanID] = record
    }

    private mutating func refreshOldest() {
        if entries.isEmpty {
            stats.oldestEnqueuedAt = nil
        } else {
            // Ids grow with enqueue order: the oldest unsettled operation is the first id still queued.
            while oldestCandidate < nextOperationID, entries[oldestCandidate] == nil { oldestCandidate += 1 }
            stats.oldestEnqueuedAt = entries[oldestCandidate]?.enqueuedAt
        }
    }

    /// When the queue is empty, the drain waiters to resume.
    var pendingDrainWakes: [CheckedContinuation<Void, Never>] = []

    private mutating func drainedWakes() -> [Wake] {
        if entries.isEmpty {
            pendingDrainWakes += drainWaiters
            drainWaiters.removeAll()
        }
        return []
    }

    mutating func setHealth(_ health: APIHealth) {
        guard self.health != health else { return }
        self.health = health
        if publishing { events.append(.healthChanged(health)) }
    }

    // MARK: Snapshots

    func operationSnapshots() -> [OperationSnapshot] {
        entries.entries.compactMap { id, entry -> OperationSnapshot? in
            guard let operation = store.operation(id) else { return nil }
            let state: OperationState
            switch entry.phase {
            case .blocked: state = .blocked
            case .ready: state = .pending
            case .inFlight(let attempt): state = .inFlight(attempt: attempt)
            case .retrying(let attempt, let next, let error): state = .retrying(attempt: attempt, nextAttemptAt: next, error: error)
            }
            return OperationSnapshot(operation: operation, state: state)
        }
    }

    func snapshot() -> ClientSnapshot {
        ClientSnapshot(
            instances: instanceOrder.compactMap { instances[$0]?.snapshot },
            spans: spanOrder.compactMap { spans[$0]?.snapshot },
            operations: operationSnapshots(),
            queue: stats,
            health: health)
    }
}
