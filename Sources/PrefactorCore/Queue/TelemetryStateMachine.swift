import DequeModule
import Foundation
import PrefactorHTTP
import PrefactorWire

/// Every rule of the client's queue, in one value: instances, spans, queued operations and their dependencies,
/// workers, retries, the auth pause, health and the queue counts.
///
/// The machine does no I/O, takes no lock, holds no continuation and reads no clock: each input is one method that
/// takes what it needs (the time included) and returns an ``Actions`` value saying what the shell must do: operations
/// to persist or forget, workers to resume with an operation (or to stop), events to publish, waiters to release.
/// ``PrefactorClient`` holds it under its lock and carries out the actions. The rules are in
/// `docs/queue-semantics.md`.
struct TelemetryStateMachine {
    // MARK: Types

    /// What does not change during the client's life.
    struct Settings: Sendable {
        /// Whether a never-attempted span create takes its already-queued finish along.
        var coalesceSpanFinishes = true
        /// Attempts before a transient failure counts as permanent; `nil` for no limit.
        var maxDeliveryAttempts: Int?
        /// The backoff between attempts.
        var retryPolicy = RetryPolicy()
        /// The most operations the queue holds; a new one beyond it is refused (``PrefactorError/Code/queueFull``).
        var maxQueuedOperations: Int?
        /// About the most bytes the queued operations take (their payloads and fixed fields, as
        /// ``TelemetryOperation/estimatedSize`` counts them); a new one beyond it is refused.
        var maxQueuedBytes: Int?
        /// The most span creates one bulk request carries; below 2, every operation goes as its own request.
        var bulkMaxItems = 0
        /// About the most payload bytes (as ``TelemetryOperation/estimatedSize`` counts them) the queued operations
        /// keep in memory; beyond it a new operation's payload is left in the store (a queue file) and read back when
        /// it is sent. `nil`: every payload stays in memory (a store that is not durable).
        var payloadMemoryBudget: Int?
    }

    /// A delivery worker of the shell.
    typealias WorkerID = UInt64

    /// An operation handed to a worker, with everything needed to send it: the API ids it refers to, and a finish
    /// that travels with a span create.
    struct Dispatch: Sendable, Hashable {
        /// The operation.
        var operation: TelemetryOperation
        /// Which attempt this is (1-based).
        var attempt: Int
        /// For a span create: the parent's API id (`nil` for a root span).
        var parentAPIID: String?
        /// For a span finish: the span's API id.
        var spanAPIID: String?
        /// For a span create: the span's finish, sent in the same request.
        var combinedFinish: TelemetryOperation?
        /// Operations of this item (it, or its combined finish) whose payload was left in the store: the shell reads
        /// them back (``TelemetryQueueStore/operation(_:)``) before it builds the request.
        var payloadsOnDisk: [UInt64] = []
        /// Further span creates sent with this one in one bulk request (`POST /api/v1/bulk`), in order after it;
        /// empty for a request of its own.
        var batch: [Dispatch] = []

        /// Every operation of the request, in order: this one first, then ``batch``.
        var items: [Dispatch] {
            var lead = self
            lead.batch = []
            return [lead] + batch
        }

        /// The operations the request carries: the items and the finishes that travel with them.
        var carriedOperationIDs: [UInt64] {
            items.flatMap { item in [item.operation.id] + (item.combinedFinish.map { [$0.id] } ?? []) }
        }
    }

    /// What the API answered for one item of a bulk request. An item it did not answer (processing stopped at an
    /// earlier failure) has no outcome.
    enum BulkItemOutcome: Sendable, Hashable {
        /// The item ran; for a span create, `spanAPIID` is the id the API gave the span.
        case delivered(spanAPIID: String?)
        /// The item failed, as its own request would have.
        case failed(AttemptFailure)
    }

    /// How an attempt failed, as the machine needs to know it.
    struct AttemptFailure: Error, Sendable, Hashable {
        /// The kind of failure.
        enum Kind: Sendable, Hashable {
            /// 401/403: the token was rejected.
            case auth
            /// 409: the resource is already in the requested state.
            case conflict
            /// No answer: a connection error or a timeout.
            case unreachable
            /// 429 or 5xx: worth another attempt.
            case transient
            /// Any other refusal: another attempt would get the same answer.
            case permanent
        }

        var kind: Kind
        /// What happened, for the operator.
        var message: String
        /// The HTTP status, when the API answered.
        var status: Int?
    }

    /// What the worker that made an attempt does next.
    enum NextStep: Sendable, Hashable {
        /// Nothing: the operation is settled (or handed back to the queue).
        case done
        /// Wait this long, then report ``TelemetryStateMachine/retryDue(_:)``.
        case retry(after: Duration)
    }

    /// A line the shell should log.
    enum Notice: Sendable, Hashable {
        case failedPermanently(kind: TelemetryOperation.Kind, reason: String)
        case pausedForAuth(reason: String)
        case resumedAfterAuth
        case bulkUnavailable(reason: String)
    }

    /// What the shell does after an input, in this order: persist and forget operations, resume workers, release
    /// waiters, publish events.
    struct Actions {
        /// Operations newly queued, to keep in the store.
        var persist: [TelemetryOperation] = []
        /// Operations delivered, to remove from the store.
        var forget: [UInt64] = []
        /// Operations that failed for good, with the reason: kept in a durable store for inspection.
        var failed: [(id: UInt64, reason: String)] = []
        /// Attempts that failed and will be retried (operation, attempts so far, error): kept for inspection.
        var retrying: [(id: UInt64, attempts: Int, error: String)] = []
        /// Spans whose create was delivered (local id, API id): recorded with the settlement, in one transaction.
        var resolved: [(local: String, api: String)] = []
        /// Workers to resume: with an operation to send, or `nil` to stop.
        var resume: [(worker: WorkerID, dispatch: Dispatch?)] = []
        /// Events for the subscribers, in order (only built while ``TelemetryStateMachine/publishing``).
        var events: [ClientEvent] = []
        /// Whether the queue became empty: release whoever waits for the drain.
        var drained = false
        /// Instances an operator terminated: release their termination waiters.
        var terminated: [Termination] = []
        /// Spans whose synchronous start ended: release those waiting on it.
        var startsEnded: [String] = []
        /// Retrying operations whose backoff is cut short (retry now, or the API answers again): wake their workers.
        var expedite: [UInt64] = []
        /// Lines to log.
        var notices: [Notice] = []
    }

    /// A queued operation and where it is. Kept small (a backlog holds one per operation): a span's create or finish
    /// keeps only what its span's record does not hold (``StoredBody``), counts are 32-bit, and the state's retry
    /// details, which few operations have at a time, are boxed. ``TelemetryStateMachine/operation(_:id:)`` builds the
    /// operation back.
    struct Entry {
        // (Stored members in this order fill the padding the enums leave: 96 bytes.)
        fileprivate var body: StoredBody
        /// Whether the caller chose its key.
        let idempotencyKeyGiven: Bool
        private var stateTag: StateTag
        /// Taken over from a store: it may have been sent before the crash, so it is never combined (its key may
        /// already hold the API's answer to the body it had then).
        var restored = false
        /// Its payload was left in the store (see ``Settings/payloadMemoryBudget``): the entry has none.
        var payloadOnDisk = false
        fileprivate var key: StoredKey
        private var storedBlockers: Int32
        /// When the agent asked for it.
        let enqueuedAt: Date
        fileprivate var dependencies: TelemetryOperation.StoredDependencies
        /// Attempts so far; also the attempt an in-flight or retrying state names.
        private var storedAttempts: Int32 = 0
        private var retry: RetryDetails?
        private var storedBytes: Int32 = 0
        private var storedBatchCap = Int32.max

        private enum StateTag: UInt8 {
            case blocked, pending, inFlight, retrying
        }

        private final class RetryDetails: Sendable {
            let nextAttemptAt: Date
            let error: String

            init(nextAttemptAt: Date, error: String) {
                self.nextAttemptAt = nextAttemptAt
                self.error = error
            }
        }

        init(body: StoredBody, operation: TelemetryOperation, blockers: Int, state: OperationState, bytes: Int) {
            self.body = body
            self.key = operation.storedKey
            self.enqueuedAt = operation.enqueuedAt
            self.dependencies = operation.storedDependencies
            self.idempotencyKeyGiven = operation.idempotencyKeyGiven
            self.storedBlockers = Int32(clamping: blockers)
            self.stateTag = .blocked
            self.storedBytes = Int32(clamping: bytes)
            self.state = state
        }

        /// Unsettled operations it waits for.
        var blockers: Int {
            get { Int(storedBlockers) }
            set { storedBlockers = Int32(clamping: newValue) }
        }

        /// Attempts so far.
        var attempts: Int {
            get { Int(storedAttempts) }
            set { storedAttempts = Int32(clamping: newValue) }
        }

        /// Its ``TelemetryOperation/estimatedSize``, counted in the queue's bytes while it is queued.
        var bytes: Int {
            get { Int(storedBytes) }
            set { storedBytes = Int32(clamping: newValue) }
        }

        /// The most items of a bulk request this operation may travel in: halved each time the API refuses a
        /// whole bulk request that carried it (1: it goes alone).
        var batchCap: Int {
            get { storedBatchCap == .max ? .max : Int(storedBatchCap) }
            set { storedBatchCap = Int32(clamping: newValue) }
        }

        var state: OperationState {
            get {
                switch stateTag {
                case .blocked: return .blocked
                case .pending: return .pending
                case .inFlight: return .inFlight(attempt: Int(storedAttempts))
                case .retrying:
                    return .retrying(
                        attempt: Int(storedAttempts), nextAttemptAt: retry?.nextAttemptAt ?? .distantPast,
                        error: retry?.error ?? ""
                    )
                }
            }
            set {
                retry = nil
                switch newValue {
                case .blocked: stateTag = .blocked
                case .pending: stateTag = .pending
                case .inFlight(let attempt):
                    stateTag = .inFlight
                    storedAttempts = Int32(clamping: attempt)
                case .retrying(let attempt, let nextAttemptAt, let error):
                    stateTag = .retrying
                    storedAttempts = Int32(clamping: attempt)
                    retry = RetryDetails(nextAttemptAt: nextAttemptAt, error: error)
                }
            }
        }

        /// The kind of call.
        var kind: TelemetryOperation.Kind {
            switch body {
            case .createSpan: return .createSpan
            case .finishSpan: return .finishSpan
            case .whole(let whole): return whole.operation.kind
            }
        }

        /// The local span id, for span operations.
        var spanID: String? {
            switch body {
            case .createSpan(let span, _, _, _), .finishSpan(let span, _, _, _): return "span-\(span)"
            case .whole(let whole): return whole.operation.spanID
            }
        }

        /// Whether it is a create of an active span (one a finish may travel with).
        var isActiveCreate: Bool {
            switch body {
            case .createSpan(_, _, _, let status): return status == .active
            case .finishSpan: return false
            case .whole(let whole):
                if case .createSpan(_, _, _, .active, _, _) = whole.operation.body { return true }
                return false
            }
        }

        /// The length of its key in UTF-8 bytes.
        var idempotencyKeyLength: Int { key.utf8Count }

        /// Whether it carries a payload in memory.
        var hasPayload: Bool {
            switch body {
            case .createSpan(_, _, let payload, _): return !payload.isEmpty
            case .finishSpan(_, _, let result, _): return result != nil
            case .whole(let whole): return whole.operation.hasPayload
            }
        }

        /// Whether it depends on `operationID`.
        func dependsOn(_ operationID: UInt64) -> Bool { dependencies.contains(operationID) }

        /// Leaves its payload to the store (see ``Settings/payloadMemoryBudget``).
        mutating func dropPayload() {
            switch body {
            case .createSpan(let span, let startedAt, _, let status):
                body = .createSpan(span: span, startedAt: startedAt, payload: [:], status: status)
            case .finishSpan(let span, let timestamp, _, let status):
                body = .finishSpan(span: span, timestamp: timestamp, result: nil, status: status)
            case .whole(let whole): body = .whole(WholeOperation(whole.operation.withoutPayload))
            }
            payloadOnDisk = true
        }

        /// Whether it waits for other operations (``state`` is ``OperationState/blocked``), without building the state.
        var isBlocked: Bool { stateTag == .blocked }
        /// Whether it is ready for a worker.
        var isPending: Bool { stateTag == .pending }
        /// Whether it waits out a backoff.
        var isRetrying: Bool { stateTag == .retrying }
    }

    /// The call of a queued operation. A span's create or finish keeps its span's number, status, time and payload;
    /// the span's record holds the rest (its instance, parent and schema, which never change). Any other operation
    /// (and one whose span record does not match it, as a damaged file might give) is kept whole.
    enum StoredBody {
        // (The status last: the enum is then 26 bytes, not 32.)
        case createSpan(span: UInt64, startedAt: Date, payload: [String: JSONValue], status: AgentStatus)
        case finishSpan(span: UInt64, timestamp: Date, result: [String: JSONValue]?, status: FinishStatus)
        case whole(WholeOperation)
    }

    /// An operation kept whole (boxed: a backlog has few of them).
    final class WholeOperation: Sendable {
        let operation: TelemetryOperation

        init(_ operation: TelemetryOperation) {
            self.operation = operation
        }
    }

    /// The operations that wait for one: most operations have one at most (a span's finish waits for its create), so
    /// one is kept inline and only more take an array.
    struct Dependents {
        private var first: (id: UInt64, kind: TelemetryOperation.DependencyKind)?
        private var more: [(id: UInt64, kind: TelemetryOperation.DependencyKind)] = []

        mutating func append(_ id: UInt64, _ kind: TelemetryOperation.DependencyKind) {
            if first == nil { first = (id, kind) } else { more.append((id, kind)) }
        }

        /// All of them, in the order they were added.
        var all: [(UInt64, TelemetryOperation.DependencyKind)] {
            guard let first else { return [] }
            return [first] + more
        }
    }

    /// A span as the machine tracks it. Kept small (a backlog holds one per span): times without an optional's extra
    /// byte, operation ids with 0 for none, flags in a byte, and what few spans have (a delivery error, a pending
    /// payload) boxed. ``snapshot`` builds the public value and takes one back.
    struct SpanRecord {
        // (Stored members in this order leave little padding between them.)
        // The snapshot's members, read and written directly where the machine needs one (no snapshot built).
        private(set) var id: String
        var apiID: String?
        private(set) var instanceID: String
        private(set) var parentID: String?
        private(set) var schemaName: String
        var payload: [String: JSONValue]
        var resultPayload: [String: JSONValue]?
        private(set) var preparedAt: Date
        /// Seconds since the reference date; NaN for none.
        private var startedAtSeconds: Double
        private var finishedAtSeconds: Double
        private var createOperationID: UInt64 = 0
        private var finishOperationID: UInt64 = 0
        private var rare: Rare?
        var phase: SpanPhase
        private var flags: Flags = []

        private struct Flags: OptionSet {
            let rawValue: UInt8
            static let createDelivered = Flags(rawValue: 1 << 0)
            static let finishDelivered = Flags(rawValue: 1 << 1)
            static let payloadInQueueFile = Flags(rawValue: 1 << 2)
            static let createFailed = Flags(rawValue: 1 << 3)
            static let startInFlight = Flags(rawValue: 1 << 4)
            static let unlisted = Flags(rawValue: 1 << 5)
        }

        /// What few spans have, boxed.
        private final class Rare: Sendable {
            let deliveryError: String?
            let pendingPayload: [String: JSONValue]

            init(deliveryError: String?, pendingPayload: [String: JSONValue]) {
                self.deliveryError = deliveryError
                self.pendingPayload = pendingPayload
            }
        }

        init(snapshot: SpanSnapshot) {
            id = snapshot.id
            apiID = snapshot.apiID
            instanceID = snapshot.instanceID
            parentID = snapshot.parentID
            schemaName = snapshot.schemaName
            payload = snapshot.payload
            resultPayload = snapshot.resultPayload
            preparedAt = snapshot.preparedAt
            startedAtSeconds = .nan
            finishedAtSeconds = .nan
            phase = snapshot.phase
            self.snapshot = snapshot
        }

        /// The span as a public value.
        var snapshot: SpanSnapshot {
            get {
                var snapshot = SpanSnapshot(
                    id: id, apiID: apiID, instanceID: instanceID, parentID: parentID, schemaName: schemaName, phase: phase,
                    payload: payload, resultPayload: resultPayload, preparedAt: preparedAt,
                    startedAt: startedAt, finishedAt: finishedAt,
                    createDelivered: flags.contains(.createDelivered), finishDelivered: flags.contains(.finishDelivered),
                    deliveryError: rare?.deliveryError)
                snapshot.payloadInQueueFile = flags.contains(.payloadInQueueFile)
                return snapshot
            }
            set {
                id = newValue.id
                apiID = newValue.apiID
                instanceID = newValue.instanceID
                parentID = newValue.parentID
                schemaName = newValue.schemaName
                phase = newValue.phase
                payload = newValue.payload
                resultPayload = newValue.resultPayload
                preparedAt = newValue.preparedAt
                startedAt = newValue.startedAt
                finishedAt = newValue.finishedAt
                set(.createDelivered, newValue.createDelivered)
                set(.finishDelivered, newValue.finishDelivered)
                set(.payloadInQueueFile, newValue.payloadInQueueFile)
                setRare(deliveryError: newValue.deliveryError, pendingPayload: pendingPayload)
            }
        }

        private mutating func set(_ flag: Flags, _ on: Bool) {
            if on { flags.insert(flag) } else { flags.remove(flag) }
        }

        private mutating func setRare(deliveryError: String?, pendingPayload: [String: JSONValue]) {
            guard deliveryError != rare?.deliveryError || pendingPayload != (rare?.pendingPayload ?? [:]) else { return }
            rare =
                deliveryError == nil && pendingPayload.isEmpty
                ? nil : Rare(deliveryError: deliveryError, pendingPayload: pendingPayload)
        }

        var startedAt: Date? {
            get { startedAtSeconds.isNaN ? nil : Date(timeIntervalSinceReferenceDate: startedAtSeconds) }
            set { startedAtSeconds = newValue?.timeIntervalSinceReferenceDate ?? .nan }
        }

        var finishedAt: Date? {
            get { finishedAtSeconds.isNaN ? nil : Date(timeIntervalSinceReferenceDate: finishedAtSeconds) }
            set { finishedAtSeconds = newValue?.timeIntervalSinceReferenceDate ?? .nan }
        }

        var createDelivered: Bool {
            get { flags.contains(.createDelivered) }
            set { set(.createDelivered, newValue) }
        }

        var finishDelivered: Bool {
            get { flags.contains(.finishDelivered) }
            set { set(.finishDelivered, newValue) }
        }

        var payloadInQueueFile: Bool {
            get { flags.contains(.payloadInQueueFile) }
            set { set(.payloadInQueueFile, newValue) }
        }

        var deliveryError: String? {
            get { rare?.deliveryError }
            set { setRare(deliveryError: newValue, pendingPayload: pendingPayload) }
        }

        var createOperation: UInt64? {
            get { createOperationID == 0 ? nil : createOperationID }
            set { createOperationID = newValue ?? 0 }
        }

        var finishOperation: UInt64? {
            get { finishOperationID == 0 ? nil : finishOperationID }
            set { finishOperationID = newValue ?? 0 }
        }

        var createFailed: Bool {
            get { flags.contains(.createFailed) }
            set { set(.createFailed, newValue) }
        }

        /// The payload to start with when the span is started implicitly.
        var pendingPayload: [String: JSONValue] {
            get { rare?.pendingPayload ?? [:] }
            set { setRare(deliveryError: rare?.deliveryError, pendingPayload: newValue) }
        }

        /// Whether ``TelemetryStateMachine/snapshot()`` lists it: a span known only from an API id a store recorded
        /// (its create delivered before a restart) is not.
        var isListed: Bool {
            get { !flags.contains(.unlisted) }
            set { set(.unlisted, !newValue) }
        }

        /// Synchronous start mode: the create is being sent; others wait rather than send a second create.
        var startInFlight: Bool {
            get { flags.contains(.startInFlight) }
            set { set(.startInFlight, newValue) }
        }
    }

    /// An instance as the machine tracks it.
    struct InstanceRecord {
        var snapshot: InstanceSnapshot
        var startOperation: UInt64?
        var finishOperation: UInt64?
        /// Unsettled span and quality operations, which the instance finish must follow.
        var openOperations: Set<UInt64> = []
    }

    /// What ``startIfPrepared(_:payload:startedAt:key:)`` found.
    enum ImplicitStart: Equatable {
        /// The span was prepared and its create is now queued.
        case started
        /// The span was already started (or finished) by someone else.
        case alreadyStarted
        /// A synchronous start of it is in flight: wait for it, then look again.
        case startInFlight
    }

    // MARK: State

    let settings: Settings
    /// Whether events are built (someone listens); set by the shell before each input.
    var publishing = true

    private var instances: [String: InstanceRecord] = [:]
    private var instanceOrder: [String] = []
    private var spans = SpanTable<SpanRecord>()
    private var apiToLocal: [String: String] = [:]

    private var nextOperationID: UInt64 = 1
    private var nextSpanNumber: UInt64 = 0
    private var oldestCandidate: UInt64 = 1
    private var entries = DenseTable<Entry>()
    /// The ``TelemetryOperation/estimatedSize`` of every queued operation, together.
    private(set) var queuedBytes = 0
    /// The payload bytes of the queued operations that keep their payload in memory (see
    /// ``Settings/payloadMemoryBudget``).
    private(set) var payloadBytesInMemory = 0
    private var ready = Deque<UInt64>()
    private var dependents: [UInt64: Dependents] = [:]
    private var failedRequirement: Set<UInt64> = []
    /// Span finishes that travel with their create, by the create's operation id.
    private var combinedFinishes: [UInt64: UInt64] = [:]
    private var failedOperations: [FailedOperation] = []
    private var parkedWorkers = Deque<WorkerID>()

    private(set) var stats = QueueStats()
    private(set) var health: APIHealth = .ok
    /// The last outcome of each kind of queued request while that kind has operations waiting, and of direct
    /// calls: health is the worst of them, so a success of one kind never hides another kind that keeps failing.
    private var kindHealth: [TelemetryOperation.Kind: APIHealth] = [:]
    /// Unsettled operations of each kind, so that a kind with nothing left waiting stops counting for health.
    private var waitingByKind: [TelemetryOperation.Kind: Int] = [:]
    private var directHealth: APIHealth = .ok
    /// Operations waiting out a backoff, by id: those a retry-now or a recovery of the API brings forward.
    private var backingOff: Set<UInt64> = []
    private(set) var isPaused = false
    private(set) var isClosed = false
    /// The API answered the bulk endpoint with 404 or 405: every operation goes as its own request from now on.
    private(set) var bulkUnavailable = false
    /// The items of a bulk request waiting out a backoff together, each mapped to the first (whose worker waits):
    /// a retry brought forward for any of them wakes that worker.
    private var batchLeads: [UInt64: UInt64] = [:]

    init(settings: Settings) {
        self.settings = settings
    }

    // MARK: Queries

    /// Whether no operation is queued or in flight.
    var isDrained: Bool { entries.isEmpty }

    /// The operations that failed for good.
    var failed: [FailedOperation] { failedOperations }

    /// The unsettled operations, in enqueue order.
    var undelivered: [TelemetryOperation] { entries.entries.map { operation($0.value, id: $0.key) } }

    /// The local id of a span known by its local or API id.
    func localSpanID(_ id: String) -> String? {
        if spans[id] != nil { return id }
        return apiToLocal[id]
    }

    /// A span by its local or API id.
    func span(_ id: String) -> SpanSnapshot? {
        localSpanID(id).flatMap { spans[$0]?.snapshot }
    }

    /// An instance by id.
    func instance(_ id: String) -> InstanceSnapshot? {
        instances[id]?.snapshot
    }

    /// The payload a prepared span is started with when it is started implicitly.
    func pendingPayload(of id: String) -> [String: JSONValue] {
        localSpanID(id).flatMap { spans[$0]?.pendingPayload } ?? [:]
    }

    /// Whether a synchronous start of the span is in flight.
    func isStartInFlight(_ id: String) -> Bool {
        localSpanID(id).flatMap { spans[$0]?.startInFlight } ?? false
    }

    /// The started, unfinished instances: those to poll for termination.
    var liveInstanceIDs: [String] {
        instanceOrder.filter { id in
            guard let phase = instances[id]?.snapshot.phase else { return false }
            return phase == .active || phase == .registered
        }
    }

    /// The innermost span of `stack` (local ids, outermost first) that belongs to the instance and is not finished.
    func innermostOpenSpan(in stack: [String], instanceID: String) -> String? {
        for id in stack.reversed() {
            guard let record = spans[id], record.instanceID == instanceID else { continue }
            if !record.phase.isFinished { return id }
        }
        return nil
    }

    /// Everything the machine knows, as values.
    func snapshot() -> ClientSnapshot {
        ClientSnapshot(
            instances: instanceOrder.compactMap { instances[$0]?.snapshot },
            spans: spans.values.filter(\.isListed).map(\.snapshot),
            operations: entries.entries.map {
                OperationSnapshot(operation: operation($0.value, id: $0.key), state: $0.value.state)
            },
            queue: stats,
            health: health)
    }

    // MARK: Inputs: instances

    /// An instance was registered with the API (a direct call), with the agent's name and version as registered.
    mutating func instanceRegistered(
        id: String, agentID: String?, agentName: String? = nil, agentVersion: String? = nil, now: Date
    ) -> Actions {
        var actions = Actions()
        guard instances[id] == nil else { return actions }
        let snapshot = InstanceSnapshot(
            id: id, agentID: agentID, phase: .registered, registeredAt: now, quality: [:], agentName: agentName,
            agentVersion: agentVersion)
        instances[id] = InstanceRecord(snapshot: snapshot)
        instanceOrder.append(id)
        emit(.instanceRegistered(snapshot), &actions)
        return actions
    }

    /// Queues an instance's start; starting again is a no-op.
    mutating func startInstance(_ id: String, key: String, keyGiven: Bool, now: Date) throws(PrefactorError) -> Actions {
        var actions = Actions()
        guard var record = instances[id] else { throw PrefactorError.unknownInstance(id) }
        guard record.snapshot.phase == .registered, record.startOperation == nil else { return actions }
        try checkOpen()
        let operation = enqueue(
            instanceID: id, body: .startInstance(timestamp: now), key: key, keyGiven: keyGiven, now: now, dependencies: [],
            &actions)
        record.startOperation = operation
        record.snapshot.phase = .active
        record.snapshot.startedAt = now
        instances[id] = record
        emit(.instanceStarted(record.snapshot), &actions)
        wakeWorkers(&actions)
        return actions
    }

    /// Queues an instance's finish after every span and quality operation of it queued before; a no-op on a
    /// terminated instance.
    mutating func finishInstance(
        _ id: String, status: FinishStatus, key: String, keyGiven: Bool, now: Date
    ) throws(PrefactorError) -> Actions {
        var actions = Actions()
        guard var record = instances[id] else { throw PrefactorError.unknownInstance(id) }
        if record.snapshot.phase == .terminated { return actions }
        guard record.finishOperation == nil else { throw PrefactorError.instanceAlreadyFinished(id) }
        try checkOpen()
        var dependencies = record.openOperations.sorted().map { TelemetryOperation.Dependency(operationID: $0, kind: .after) }
        if let start = record.startOperation { dependencies.append(.init(operationID: start, kind: .after)) }
        let operation = enqueue(
            instanceID: id, body: .finishInstance(status: status, timestamp: now), key: key, keyGiven: keyGiven, now: now,
            dependencies: dependencies, &actions)
        record.finishOperation = operation
        record.snapshot.phase = StatusMapping.instancePhase(for: status)
        record.snapshot.finishedAt = now
        instances[id] = record
        emit(.instanceFinished(record.snapshot), &actions)
        wakeWorkers(&actions)
        return actions
    }

    /// Queues a quality record (`payload: nil` removes the record of that name).
    mutating func recordQuality(
        _ id: String, name: String, payload: [String: JSONValue]?, key: String, now: Date
    ) throws(PrefactorError) -> Actions {
        var actions = Actions()
        guard var record = instances[id] else { throw PrefactorError.unknownInstance(id) }
        try checkOpen(payload: payload)
        let dependencies = record.startOperation.map { [TelemetryOperation.Dependency(operationID: $0, kind: .after)] } ?? []
        let operation = enqueue(
            instanceID: id, body: .recordQuality(name: name, payload: payload), key: key, keyGiven: false, now: now,
            dependencies: dependencies, &actions)
        record.openOperations.insert(operation)
        record.snapshot.quality[name] = payload.map { .object($0) }
        instances[id] = record
        emit(.qualityRecorded(instanceID: id, name: name, payload: payload), &actions)
        wakeWorkers(&actions)
        return actions
    }

    /// An operator terminated the instance (seen on a response, a poll or a direct terminate); recorded once.
    mutating func instanceTerminated(_ id: String, reason: String?, now: Date) -> Actions {
        var actions = Actions()
        guard var record = instances[id], record.snapshot.phase != .terminated else { return actions }
        record.snapshot.phase = .terminated
        record.snapshot.terminationReason = reason
        record.snapshot.finishedAt = record.snapshot.finishedAt ?? now
        instances[id] = record
        emit(.instanceTerminated(record.snapshot), &actions)
        actions.terminated.append(Termination(instanceID: id, reason: reason))
        return actions
    }

    // MARK: Inputs: spans

    /// Prepares a span: a local record and id, no operation.
    ///
    /// - Parameters:
    ///   - parentID: An explicit parent (local or API id); when `nil`, the innermost open span of `openSpans`.
    ///   - openSpans: The calling task's stack of open spans (local ids, outermost first).
    mutating func prepareSpan(
        instanceID: String, schemaName: String, parentID: String?, openSpans: [String], now: Date
    ) -> (id: String, actions: Actions) {
        var actions = Actions()
        // Short local ids ("span-<n>") stay inline in Swift strings: no allocation per copy.
        nextSpanNumber += 1
        let id = "span-\(nextSpanNumber)"
        let parent = parentID.map { localSpanID($0) ?? $0 } ?? innermostOpenSpan(in: openSpans, instanceID: instanceID)
        let snapshot = SpanSnapshot(
            id: id, apiID: nil, instanceID: instanceID, parentID: parent, schemaName: schemaName, phase: .prepared,
            payload: [:], resultPayload: nil, preparedAt: now, startedAt: nil, finishedAt: nil,
            createDelivered: false, finishDelivered: false, deliveryError: nil)
        spans[id] = SpanRecord(snapshot: snapshot)
        emit(.spanPrepared(snapshot), &actions)
        return (id, actions)
    }

    /// Sets the payload a prepared span is started with when it is started implicitly.
    mutating func setPendingPayload(_ id: String, _ payload: [String: JSONValue]) {
        guard let localID = localSpanID(id) else { return }
        spans[localID]?.pendingPayload = payload
    }

    /// Queues a prepared span's create (status `active`); a parent that is only prepared is started first (with the
    /// payload its span context was given), so a child never waits for a parent that would never be created.
    ///
    /// - Parameter keys: One idempotency key per create queued (the span's, then each parent started with it).
    mutating func startSpan(
        _ id: String, payload: [String: JSONValue], startedAt: Date, now: Date, keys: inout some KeySource
    ) throws(PrefactorError) -> Actions {
        var actions = Actions()
        let localID = try startable(id)
        try checkOpen(payload: payload)
        try enqueueCreate(localID, status: .active, payload: payload, startedAt: startedAt, now: now, keys: &keys, &actions)
        wakeWorkers(&actions)
        return actions
    }

    /// Starts a span unless it is no longer prepared (a child may have started it implicitly).
    mutating func startIfPrepared(
        _ id: String, payload: [String: JSONValue], startedAt: Date, now: Date, keys: inout some KeySource
    ) throws(PrefactorError) -> (ImplicitStart, Actions) {
        guard let localID = localSpanID(id), let record = spans[localID] else { throw PrefactorError.unknownSpan(id) }
        if record.startInFlight { return (.startInFlight, Actions()) }
        guard record.phase == .prepared else { return (.alreadyStarted, Actions()) }
        return (.started, try startSpan(localID, payload: payload, startedAt: startedAt, now: now, keys: &keys))
    }

    /// The synchronous start of a span begins: returns the span and its parent's API id, and marks the start in
    /// flight so that other starters wait instead of sending a second create.
    mutating func beginSynchronousStart(_ id: String) throws(PrefactorError) -> (span: SpanSnapshot, parentAPIID: String?) {
        let localID = try startable(id)
        guard let record = spans[localID] else { throw PrefactorError.unknownSpan(id) }
        guard !record.startInFlight else { throw PrefactorError.spanStartInFlight(id) }
        var parentAPIID = record.parentID
        if let parentID = record.parentID, let parent = spans[parentID] {
            guard let apiID = parent.apiID else { throw PrefactorError.parentNotCreated(parentID) }
            parentAPIID = apiID
        }
        spans[localID]?.startInFlight = true
        return (record.snapshot, parentAPIID)
    }

    /// The synchronous create of a span returned the API's id.
    mutating func synchronousStartSucceeded(
        _ id: String, apiID: String, payload: [String: JSONValue], startedAt: Date
    ) -> Actions {
        var actions = Actions()
        guard let localID = localSpanID(id) else { return actions }
        markStarted(localID, operation: nil, payload: payload, startedAt: startedAt, &actions)
        resolve(localID, apiID: apiID, &actions)
        spans[localID]?.startInFlight = false
        actions.startsEnded.append(localID)
        return actions
    }

    /// The synchronous create of a span failed: the span stays prepared.
    mutating func synchronousStartFailed(_ id: String) -> Actions {
        var actions = Actions()
        guard let localID = localSpanID(id) else { return actions }
        spans[localID]?.startInFlight = false
        actions.startsEnded.append(localID)
        return actions
    }

    /// Queues a started span's finish after its create.
    mutating func finishSpan(
        _ id: String, status: FinishStatus, resultPayload: [String: JSONValue]?, key: String, keyGiven: Bool, now: Date
    ) throws(PrefactorError) -> Actions {
        var actions = Actions()
        guard let localID = localSpanID(id), var record = spans[localID] else { throw PrefactorError.unknownSpan(id) }
        switch record.phase {
        case .prepared, .pending: throw PrefactorError.spanNotStarted(id)
        case .complete, .failed, .cancelled: throw PrefactorError.spanAlreadyFinished(id, as: record.phase)
        case .active: break
        }
        try checkOpen(payload: resultPayload)
        let dependencies = record.createOperation.map { [TelemetryOperation.Dependency(operationID: $0, kind: .requires)] } ?? []
        let operation = enqueue(
            instanceID: record.instanceID,
            body: .finishSpan(spanID: localID, status: status, resultPayload: resultPayload, timestamp: now), key: key,
            keyGiven: keyGiven, now: now, dependencies: dependencies, &actions)
        record.finishOperation = operation
        record.phase = StatusMapping.spanPhase(for: status)
        if let resultPayload, !resultPayload.isEmpty {
            if let existing = record.resultPayload {
                record.resultPayload = existing.merging(resultPayload) { _, new in new }
            } else {
                record.resultPayload = resultPayload  // shares storage with the queued operation
            }
        }
        record.finishedAt = now
        spans[localID] = record
        instances[record.instanceID]?.openOperations.insert(operation)
        emit(.spanFinished(record.snapshot), &actions)
        if entries[operation]?.payloadOnDisk == true { leavePayloadsOnDisk(localID, result: true) }
        wakeWorkers(&actions)
        return actions
    }

    /// Cancels a span that never started: a create with status `pending`, then a finish with `cancelled`.
    mutating func cancelUnstarted(_ id: String, now: Date, keys: inout some KeySource) throws(PrefactorError) -> Actions {
        var actions = Actions()
        guard let localID = localSpanID(id), let record = spans[localID] else { throw PrefactorError.unknownSpan(id) }
        guard record.phase == .prepared else {
            throw PrefactorError.spanAlreadyStarted(id, as: record.phase, hint: "use finish(status: .cancelled)")
        }
        guard !record.startInFlight else { throw PrefactorError.spanStartInFlight(id) }
        try checkOpen(adding: 2)
        let create = try enqueueCreate(
            localID, status: .pending, payload: [:], startedAt: record.preparedAt, now: now, keys: &keys, &actions)
        let finish = enqueue(
            instanceID: record.instanceID,
            body: .finishSpan(spanID: localID, status: .cancelled, resultPayload: nil, timestamp: now), key: keys.next(),
            keyGiven: false, now: now, dependencies: [.init(operationID: create, kind: .requires)], &actions)
        guard var updated = spans[localID] else { return actions }
        updated.finishOperation = finish
        updated.phase = .cancelled
        updated.finishedAt = now
        spans[localID] = updated
        instances[updated.instanceID]?.openOperations.insert(finish)
        emit(.spanFinished(updated.snapshot), &actions)
        wakeWorkers(&actions)
        return actions
    }

    // MARK: Inputs: workers

    /// A worker asks for an operation: it gets one now, is told to stop (the queue is closed and empty), or waits
    /// (parked) until ``Actions/resume`` names it.
    mutating func workerReady(_ worker: WorkerID) -> Actions {
        var actions = Actions()
        if let dispatch = takeReady(&actions) {
            actions.resume.append((worker, dispatch))
            emitStats(&actions)
        } else if isClosed && isDrained {
            actions.resume.append((worker, nil))
        } else {
            parkedWorkers.append(worker)
        }
        return actions
    }

    /// A parked worker was cancelled: it is resumed with `nil`.
    mutating func workerCancelled(_ worker: WorkerID) -> Actions {
        var actions = Actions()
        if let index = parkedWorkers.firstIndex(of: worker) {
            parkedWorkers.remove(at: index)
            actions.resume.append((worker, nil))
        }
        return actions
    }

    /// An attempt was delivered. For a span create, `spanAPIID` is the id the API gave the span.
    mutating func attemptSucceeded(_ id: UInt64, spanAPIID: String?) -> Actions {
        var actions = Actions()
        succeed(id, spanAPIID: spanAPIID, &actions)
        return actions
    }

    private mutating func succeed(_ id: UInt64, spanAPIID: String?, _ actions: inout Actions) {
        if let kind = entries[id]?.kind {
            // The API answers again: operations waiting out a transport or 5xx backoff go out now, not after it.
            if !kindHealth.isEmpty || directHealth != .ok {
                actions.expedite = expeditable(backingOff)
            }
            kindHealth[kind] = nil  // its last outcome is a success
            if directHealth != .authFailed { directHealth = .ok }
        }
        if let spanAPIID, let entry = entries[id], entry.kind == .createSpan, let spanID = entry.spanID {
            resolve(spanID, apiID: spanAPIID, &actions)
        }
        settleDelivered(id, &actions)
    }

    /// An attempt failed. Returns what the worker does next.
    ///
    /// - Parameters:
    ///   - now: The time of the failure.
    ///   - jitter: A random number in 0..<1 for the backoff.
    mutating func attemptFailed(
        _ id: UInt64, _ failure: AttemptFailure, now: Date, jitter: Double
    ) -> (NextStep, Actions) {
        var actions = Actions()
        let step = fail(id, failure, now: now, jitter: jitter, &actions)
        return (step, actions)
    }

    private mutating func fail(
        _ id: UInt64, _ failure: AttemptFailure, now: Date, jitter: Double, _ actions: inout Actions
    ) -> NextStep {
        guard let entry = entries[id] else { return .done }
        switch failure.kind {
        case .conflict where entry.kind == .finishSpan || entry.kind == .finishInstance:
            // Already finished: the API has what we wanted.
            settleDelivered(id, &actions)
            return .done
        case .auth:
            pauseForAuth(kind: entry.kind, failure, &actions)
            requeueFront(id, &actions)
            return .done
        case .unreachable, .transient:
            noteTransient(kind: entry.kind, failure, &actions)
            if gaveUp(id, entry, failure, &actions) {
                afterSettling(&actions)
                return .done
            }
            let delay = settings.retryPolicy.delay(beforeRetry: min(entry.attempts - 1, 30), unit: jitter)
            scheduleRetry(id, at: now.addingTimeInterval(delay.seconds), delay: delay, error: failure.message, &actions)
            return .retry(after: delay)
        case .conflict, .permanent:
            failPermanently(id, reason: failure.message, status: failure.status, &actions)
            return .done
        }
    }

    private mutating func pauseForAuth(kind: TelemetryOperation.Kind, _ failure: AttemptFailure, _ actions: inout Actions) {
        isPaused = true
        kindHealth[kind] = .authFailed
        refreshHealth(&actions)
        actions.notices.append(.pausedForAuth(reason: failure.message))
    }

    private mutating func noteTransient(kind: TelemetryOperation.Kind, _ failure: AttemptFailure, _ actions: inout Actions) {
        kindHealth[kind] = failure.kind == .unreachable ? .unreachable : .retrying
        refreshHealth(&actions)
    }

    /// Fails an operation that used up its attempts (``Settings/maxDeliveryAttempts``); `false` when it has more.
    private mutating func gaveUp(_ id: UInt64, _ entry: Entry, _ failure: AttemptFailure, _ actions: inout Actions) -> Bool {
        guard let limit = settings.maxDeliveryAttempts, entry.attempts >= limit else { return false }
        failOne(id, reason: "Gave up after \(entry.attempts) attempts: \(failure.message)", status: failure.status, &actions)
        return true
    }

    /// A retrying operation's backoff is over: it goes out again, or back to the front of the queue while delivery is
    /// paused.
    mutating func retryDue(_ id: UInt64) -> (Dispatch?, Actions) {
        var actions = Actions()
        guard let entry = entries[id], case .retrying = entry.state else { return (nil, actions) }
        backingOff.remove(id)
        if isPaused {
            requeueFront(id, &actions)
            return (nil, actions)
        }
        stats.retrying -= 1
        let dispatch = beginAttempt(id, &actions)
        emitStats(&actions)
        return (dispatch, actions)
    }

    /// The shell could not read back the payloads of `missing` (operations of `dispatch` whose payload was left in
    /// the store): those fail for good, with what requires them, since sending them without their payload would lose
    /// it; the others the request carried go back to the front of the queue, in order.
    mutating func payloadsUnreadable(_ dispatch: Dispatch, missing: Set<UInt64>, reason: String) -> Actions {
        var actions = Actions()
        let carried = dispatch.carriedOperationIDs
        for id in carried where missing.contains(id) { failOne(id, reason: reason, status: nil, &actions) }
        let travelling = Set(combinedFinishes.values)
        for id in carried.reversed() where !missing.contains(id) && !travelling.contains(id) {
            if let entry = entries[id], case .inFlight = entry.state { requeueFront(id, &actions) }
        }
        afterSettling(&actions)
        return actions
    }

    /// An operator asks to retry an operation now instead of waiting out its backoff.
    mutating func retryNow(_ id: UInt64) -> Actions {
        var actions = Actions()
        if backingOff.contains(id) { actions.expedite = expeditable([id]) }
        return actions
    }

    /// The operations whose workers to wake so that `ids` are retried now: a bulk request's items wake the worker
    /// that holds them, through its first item.
    private func expeditable(_ ids: Set<UInt64>) -> [UInt64] {
        Set(ids.map { batchLeads[$0] ?? $0 }).sorted()
    }

    // MARK: Inputs: bulk requests

    /// The API answered a bulk request (items `ids`, in request order). Each item is settled as its own request
    /// would have been: delivered, failed for good (with what requires it), or retried. Items the API did not answer
    /// (it stops at the first that fails) go back to the front of the queue, in order, with their keys.
    ///
    /// - Returns: An item to retry after a backoff (the worker keeps it and sends it as its own request), if any:
    ///   the first that failed transiently (the API reports at most one failure; a further one goes back to the queue
    ///   as if unanswered).
    mutating func bulkAnswered(
        _ ids: [UInt64], outcomes: [UInt64: BulkItemOutcome], now: Date, jitter: Double
    ) -> ((id: UInt64, delay: Duration)?, Actions) {
        var actions = Actions()
        var held: (id: UInt64, delay: Duration)?
        var unanswered: [UInt64] = []
        for id in ids where entries[id] != nil {
            switch outcomes[id] {
            case .delivered(let spanAPIID)?:
                succeed(id, spanAPIID: spanAPIID, &actions)
            case .failed(let failure)? where held == nil || (failure.kind != .transient && failure.kind != .unreachable):
                if case .retry(let delay) = fail(id, failure, now: now, jitter: jitter, &actions) { held = (id, delay) }
            case .failed?, nil:
                unanswered.append(id)
            }
        }
        requeueAll(unanswered, &actions)
        return (held, actions)
    }

    /// A bulk request (items `ids`) failed as a whole. 401/403 pause delivery; 404/405 mean the API has no bulk
    /// endpoint: every operation goes as its own request from now on; any other refusal (422 and the like) halves
    /// the bulk requests its items may travel in. In those cases the items go back to the front of the queue with
    /// their keys. No answer, 429 or 5xx: every item is retried after the backoff, in the same request.
    mutating func bulkFailed(
        _ ids: [UInt64], _ failure: AttemptFailure, now: Date, jitter: Double
    ) -> (NextStep, Actions) {
        var actions = Actions()
        let live = ids.filter { entries[$0] != nil }
        guard !live.isEmpty else { return (.done, actions) }
        switch failure.kind {
        case .auth:
            pauseForAuth(kind: .createSpan, failure, &actions)
        case .unreachable, .transient:
            noteTransient(kind: .createSpan, failure, &actions)
            var survivors: [UInt64] = []
            var attempts = 1
            for id in live {
                guard let entry = entries[id], !gaveUp(id, entry, failure, &actions) else { continue }
                survivors.append(id)
                attempts = max(attempts, entry.attempts)
            }
            if survivors.count < live.count { afterSettling(&actions) }
            guard let lead = survivors.first else { return (.done, actions) }
            let delay = settings.retryPolicy.delay(beforeRetry: min(attempts - 1, 30), unit: jitter)
            for id in survivors {
                scheduleRetry(id, at: now.addingTimeInterval(delay.seconds), delay: delay, error: failure.message, &actions)
                if id != lead { batchLeads[id] = lead }
            }
            return (.retry(after: delay), actions)
        case .conflict where Self.noBulkEndpoint(failure), .permanent where Self.noBulkEndpoint(failure):
            bulkUnavailable = true
            let reason = "the API has no bulk endpoint (HTTP \(failure.status ?? 0)): \(failure.message)"
            actions.notices.append(.bulkUnavailable(reason: reason))
            emit(.bulkUnavailable(reason: reason), &actions)
        case .conflict, .permanent:
            let cap = max(1, live.count / 2)
            for id in live {
                guard var entry = entries[id] else { continue }
                entry.batchCap = min(entry.batchCap, cap)
                entries[id] = entry
            }
        }
        requeueAll(live, &actions)
        return (.done, actions)
    }

    /// Whether the API answered a bulk request as a route it does not have.
    private static func noBulkEndpoint(_ failure: AttemptFailure) -> Bool {
        failure.status == 404 || failure.status == 405
    }

    /// The backoff of a bulk request's items is over: those still waiting go out again (in one bulk request when
    /// there are two or more, with the same keys), or back to the front of the queue while delivery is paused.
    mutating func bulkRetryDue(_ ids: [UInt64]) -> (Dispatch?, Actions) {
        var actions = Actions()
        let due = ids.filter { id in
            guard let entry = entries[id], case .retrying = entry.state else { return false }
            return true
        }
        for id in due {
            backingOff.remove(id)
            batchLeads[id] = nil
        }
        guard !due.isEmpty else { return (nil, actions) }
        if isPaused {
            requeueAll(due, &actions)
            return (nil, actions)
        }
        stats.retrying -= due.count
        var dispatches = due.compactMap { beginAttempt($0, &actions) }
        guard !dispatches.isEmpty else { return (nil, actions) }
        var lead = dispatches.removeFirst()
        if !dispatches.isEmpty {
            lead.batch = dispatches
            noteBatchSent(lead, &actions)
        }
        emitStats(&actions)
        return (lead, actions)
    }

    /// Puts operations back at the front of the ready queue, in their order, and hands them to parked workers.
    private mutating func requeueAll(_ ids: [UInt64], _ actions: inout Actions) {
        guard !ids.isEmpty else { return }
        for id in ids.reversed() {
            batchLeads[id] = nil
            requeueFront(id, &actions)
        }
        wakeWorkers(&actions)
    }

    /// The API accepts the token again: delivery resumes.
    mutating func authRestored() -> Actions {
        var actions = Actions()
        guard isPaused else { return actions }
        isPaused = false
        for (kind, health) in kindHealth where health == .authFailed { kindHealth[kind] = nil }
        if directHealth == .authFailed { directHealth = .ok }
        refreshHealth(&actions)
        actions.notices.append(.resumedAfterAuth)
        wakeWorkers(&actions)
        return actions
    }

    /// The outcome of a direct call (register, terminate, a synchronous span start): health moves as with
    /// deliveries, so a failing API shows even when nothing is queued.
    mutating func directCallFinished(failure: AttemptFailure.Kind?) -> Actions {
        var actions = Actions()
        switch failure {
        case nil:
            if health != .ok && !isPaused { actions.expedite = expeditable(backingOff) }
            directHealth = .ok
        case .auth?: directHealth = .authFailed
        case .unreachable?: directHealth = .unreachable
        case .transient?: directHealth = .retrying
        case .conflict?, .permanent?: break
        }
        refreshHealth(&actions)
        return actions
    }

    /// Closes the queue to new operations; workers stop once it is empty.
    mutating func close() -> Actions {
        var actions = Actions()
        isClosed = true
        wakeWorkers(&actions)
        if isDrained { actions.drained = true }
        return actions
    }

    /// The client stops: every parked worker is told to stop, and the report says what is left.
    mutating func stop() -> (DeliveryReport, Actions) {
        var actions = Actions()
        isClosed = true
        while let worker = parkedWorkers.popFirst() { actions.resume.append((worker, nil)) }
        let report = DeliveryReport(undelivered: undelivered, failed: failedOperations, deliveredCount: stats.delivered)
        return (report, actions)
    }

    /// Takes back operations a store kept (a restart): each is queued again with its id, key and dependencies on
    /// operations that are still among them; `resolvedSpans` maps local span ids whose create was delivered to
    /// their API ids.
    mutating func restore(
        _ operations: [TelemetryOperation], resolvedSpans: [String: String], now: Date
    ) -> Actions {
        var actions = Actions()
        let sorted = operations.sorted { $0.id < $1.id }
        spans.reserveCapacity(spans.count + operations.count / 2)
        apiToLocal.reserveCapacity(apiToLocal.count + resolvedSpans.count)
        dependents.reserveCapacity(dependents.count + operations.count)
        for (localID, apiID) in resolvedSpans {
            if spans[localID] == nil {
                let snapshot = SpanSnapshot(
                    id: localID, apiID: apiID, instanceID: "", schemaName: "", phase: .active, preparedAt: now,
                    createDelivered: true)
                var record = SpanRecord(snapshot: snapshot)
                record.isListed = false
                spans[localID] = record
            }
            spans[localID]?.apiID = apiID
            apiToLocal[apiID] = localID
        }
        for operation in sorted {
            nextOperationID = max(nextOperationID, operation.id + 1)
            if instances[operation.instanceID] == nil {
                let snapshot = InstanceSnapshot(
                    id: operation.instanceID, phase: .active, registeredAt: operation.enqueuedAt, quality: [:])
                instances[operation.instanceID] = InstanceRecord(snapshot: snapshot)
                instanceOrder.append(operation.instanceID)
            }
            if case .createSpan(let spanID, let parentID, let schemaName, _, let payload, let startedAt) = operation.body {
                if spans[spanID] == nil {
                    let snapshot = SpanSnapshot(
                        id: spanID, instanceID: operation.instanceID, parentID: parentID, schemaName: schemaName,
                        phase: .active, payload: payload, preparedAt: startedAt, startedAt: startedAt)
                    spans[spanID] = SpanRecord(snapshot: snapshot)
                }
                spans[spanID]?.createOperation = operation.id
            }
            if case .finishSpan(let spanID, let status, _, let timestamp) = operation.body {
                spans[spanID]?.finishOperation = operation.id
                spans[spanID]?.phase = StatusMapping.spanPhase(for: status)
                spans[spanID]?.finishedAt = timestamp
            }
            if let number = operation.spanID.flatMap(Self.spanNumber) { nextSpanNumber = max(nextSpanNumber, number) }
            switch operation.kind {
            case .startInstance: instances[operation.instanceID]?.startOperation = operation.id
            case .finishInstance: instances[operation.instanceID]?.finishOperation = operation.id
            case .createSpan, .finishSpan, .recordQuality:
                instances[operation.instanceID]?.openOperations.insert(operation.id)
            }
            let live = operation.dependencies.filter { entries[$0.operationID] != nil }
            insert(operation, live: live, &actions)
            entries[operation.id]?.restored = true
            if entries[operation.id]?.payloadOnDisk == true, let spanID = operation.spanID {
                leavePayloadsOnDisk(spanID, result: operation.kind == .finishSpan)
            }
        }
        oldestCandidate = sorted.first?.id ?? nextOperationID
        refreshOldest()
        emitStats(&actions)
        wakeWorkers(&actions)
        return actions
    }

    private static func spanNumber(_ id: String) -> UInt64? {
        guard id.hasPrefix("span-") else { return nil }
        return UInt64(id.dropFirst(5))
    }

    // MARK: Rules

    private func checkOpen(adding count: Int = 1, payload: [String: JSONValue]? = nil) throws(PrefactorError) {
        if isClosed { throw PrefactorError.shutDown }
        if let limit = settings.maxQueuedOperations, entries.count + count > limit { throw PrefactorError.queueFull(limit) }
        if let limit = settings.maxQueuedBytes,
            queuedBytes + count * TelemetryOperation.fixedSize + (payload.map(JSONValue.estimatedSize) ?? 0) > limit
        {
            throw PrefactorError.queueFull(bytes: limit)
        }
    }

    /// Which limit refused the last operation: the operations limit, or the bytes limit.
    var fullLimit: QueueNotice? {
        if let limit = settings.maxQueuedOperations, entries.count >= limit { return .full(limit: limit) }
        if let limit = settings.maxQueuedBytes { return .fullOfBytes(limit: limit) }
        return nil
    }

    /// A span that may be started: known, prepared, and the client open.
    private func startable(_ id: String) throws(PrefactorError) -> String {
        guard let localID = localSpanID(id), let record = spans[localID] else { throw PrefactorError.unknownSpan(id) }
        guard record.phase == .prepared else {
            throw PrefactorError.spanAlreadyStarted(id, as: record.phase, hint: nil)
        }
        try checkOpen()
        return localID
    }

    @discardableResult
    private mutating func enqueueCreate(
        _ localID: String, status: AgentStatus, payload: [String: JSONValue], startedAt: Date, now: Date,
        keys: inout some KeySource, _ actions: inout Actions
    ) throws(PrefactorError) -> UInt64 {
        guard let record = spans[localID] else { throw PrefactorError.unknownSpan(localID) }
        if let parentID = record.parentID, let parent = spans[parentID], parent.phase == .prepared {
            guard !parent.startInFlight else { throw PrefactorError.spanStartInFlight(parentID) }
            try enqueueCreate(
                // Started now, by its child: the time it really started, not a backdated one.
                parentID, status: .active, payload: parent.pendingPayload, startedAt: now, now: now,
                keys: &keys, &actions)
        }
        var dependencies: [TelemetryOperation.Dependency] = []
        if let start = instances[record.instanceID]?.startOperation {
            dependencies.append(.init(operationID: start, kind: .after))
        }
        if let parentID = record.parentID, let create = spans[parentID]?.createOperation {
            dependencies.append(.init(operationID: create, kind: .requires))
        }
        let operation = enqueue(
            instanceID: record.instanceID,
            body: .createSpan(
                spanID: localID, parentSpanID: record.parentID, schemaName: record.schemaName,
                status: status, payload: payload, startedAt: startedAt),
            key: keys.next(), keyGiven: false, now: now, dependencies: dependencies, &actions)
        if status == .active {
            markStarted(localID, operation: operation, payload: payload, startedAt: startedAt, &actions)
        } else {
            spans[localID]?.createOperation = operation
            instances[record.instanceID]?.openOperations.insert(operation)
        }
        return operation
    }

    private mutating func markStarted(
        _ localID: String, operation: UInt64?, payload: [String: JSONValue], startedAt: Date, _ actions: inout Actions
    ) {
        guard var record = spans[localID] else { return }
        record.createOperation = operation
        record.phase = .active
        record.payload = payload
        record.startedAt = startedAt
        spans[localID] = record
        if let operation { instances[record.instanceID]?.openOperations.insert(operation) }
        emit(.spanStarted(record.snapshot), &actions)
        if let operation, entries[operation]?.payloadOnDisk == true { leavePayloadsOnDisk(localID, result: false) }
    }

    /// The span's payload (or its result) is in the store, not in memory: its snapshot says so instead of holding it.
    private mutating func leavePayloadsOnDisk(_ localID: String, result: Bool) {
        if result { spans[localID]?.resultPayload = nil } else { spans[localID]?.payload = [:] }
        spans[localID]?.payloadInQueueFile = true
    }

    private mutating func resolve(_ localID: String, apiID: String, _ actions: inout Actions) {
        guard var record = spans[localID] else { return }
        record.apiID = apiID
        record.createDelivered = true
        spans[localID] = record
        apiToLocal[apiID] = localID
        actions.resolved.append((localID, apiID))
        emit(.spanResolved(record.snapshot), &actions)
    }

    /// Queues an operation after its unsettled dependencies.
    private mutating func enqueue(
        instanceID: String, body: TelemetryOperation.Body, key: String, keyGiven: Bool, now: Date,
        dependencies: [TelemetryOperation.Dependency], _ actions: inout Actions
    ) -> UInt64 {
        let id = nextOperationID
        nextOperationID += 1
        let live = dependencies.filter { entries[$0.operationID] != nil }
        let operation = TelemetryOperation(
            id: id, instanceID: instanceID, body: body, idempotencyKey: key, idempotencyKeyGiven: keyGiven, enqueuedAt: now,
            dependencies: live)
        actions.persist.append(operation)
        insert(operation, live: live, &actions)
        emitStats(&actions)
        return id
    }

    private mutating func insert(
        _ operation: TelemetryOperation, live: [TelemetryOperation.Dependency], _ actions: inout Actions
    ) {
        let id = operation.id
        for dependency in live {
            dependents[dependency.operationID, default: Dependents()].append(id, dependency.kind)
        }
        let bytes = operation.estimatedSize
        var entry = Entry(
            body: storedBody(of: operation), operation: operation, blockers: live.count,
            state: live.isEmpty ? .pending : .blocked, bytes: bytes)
        if let budget = settings.payloadMemoryBudget, operation.hasPayload {
            let payloadBytes = bytes - TelemetryOperation.fixedSize
            if payloadBytesInMemory + payloadBytes > budget {
                entry.dropPayload()
            } else {
                payloadBytesInMemory += payloadBytes
            }
        }
        entries[id] = entry
        queuedBytes += bytes
        waitingByKind[operation.kind, default: 0] += 1
        if live.isEmpty {
            ready.append(id)
            stats.pending += 1
        } else {
            stats.blocked += 1
        }
        if stats.oldestEnqueuedAt == nil { stats.oldestEnqueuedAt = operation.enqueuedAt }
        if publishing {
            actions.events.append(
                .operationEnqueued(OperationSnapshot(operation: operation, state: live.isEmpty ? .pending : .blocked)))
        }
    }

    /// How an entry keeps an operation: a span's create or finish without what its span's record holds, when the
    /// record holds exactly that; anything else whole.
    private func storedBody(of operation: TelemetryOperation) -> StoredBody {
        guard let spanID = operation.spanID, let number = SpanTable<SpanRecord>.number(of: spanID),
            let record = spans[spanID], record.instanceID == operation.instanceID
        else { return .whole(WholeOperation(operation)) }
        switch operation.body {
        case .createSpan(_, let parentSpanID, let schemaName, let status, let payload, let startedAt)
        where record.parentID == parentSpanID && record.schemaName == schemaName:
            return .createSpan(span: number, startedAt: startedAt, payload: payload, status: status)
        case .finishSpan(_, let status, let result, let timestamp):
            return .finishSpan(span: number, timestamp: timestamp, result: result, status: status)
        default:
            return .whole(WholeOperation(operation))
        }
    }

    /// The operation an entry keeps, built back whole.
    func operation(_ entry: Entry, id: UInt64) -> TelemetryOperation {
        let instanceID: String
        let body: TelemetryOperation.Body
        switch entry.body {
        case .whole(let whole): return whole.operation
        case .createSpan(let span, let startedAt, let payload, let status):
            let spanID = "span-\(span)"
            let record = spans[spanID]
            instanceID = record?.instanceID ?? ""
            body = .createSpan(
                spanID: spanID, parentSpanID: record?.parentID, schemaName: record?.schemaName ?? "", status: status,
                payload: payload, startedAt: startedAt)
        case .finishSpan(let span, let timestamp, let result, let status):
            let spanID = "span-\(span)"
            instanceID = spans[spanID]?.instanceID ?? ""
            body = .finishSpan(spanID: spanID, status: status, resultPayload: result, timestamp: timestamp)
        }
        return TelemetryOperation(
            id: id, instanceID: instanceID, body: body, storedKey: entry.key, idempotencyKeyGiven: entry.idempotencyKeyGiven,
            enqueuedAt: entry.enqueuedAt, storedDependencies: entry.dependencies)
    }

    /// The instance of an entry's operation.
    private func instanceID(of entry: Entry) -> String {
        switch entry.body {
        case .whole(let whole): return whole.operation.instanceID
        case .createSpan(let span, _, _, _), .finishSpan(let span, _, _, _):
            return spans["span-\(span)"]?.instanceID ?? ""
        }
    }

    /// Hands ready operations to parked workers; once closed and empty, tells them to stop.
    private mutating func wakeWorkers(_ actions: inout Actions) {
        var handed = false
        while !isPaused, !ready.isEmpty, let worker = parkedWorkers.popFirst() {
            guard let dispatch = takeReady(&actions) else {
                parkedWorkers.prepend(worker)
                break
            }
            actions.resume.append((worker, dispatch))
            handed = true
        }
        if handed { emitStats(&actions) }
        if isClosed && isDrained {
            while let worker = parkedWorkers.popFirst() { actions.resume.append((worker, nil)) }
        }
    }

    /// Takes the oldest ready operation and marks it in flight; a never-attempted span create takes its queued
    /// finish along when combining is on.
    private mutating func takeReady(_ actions: inout Actions) -> Dispatch? {
        guard !isPaused, let id = ready.popFirst(), let entry = entries[id] else { return nil }
        stats.pending -= 1
        guard var dispatch = beginSending(id, entry, &actions) else { return nil }
        if bulkEnabled, batchable(entry) {
            let mates = takeBatchMates(limit: min(settings.bulkMaxItems, entry.batchCap) - 1, &actions)
            if !mates.isEmpty {
                dispatch.batch = mates
                noteBatchSent(dispatch, &actions)
            }
        }
        return dispatch
    }

    /// Begins an attempt of a ready operation; a never-attempted span create takes its queued finish along when
    /// combining is on.
    private mutating func beginSending(_ id: UInt64, _ entry: Entry, _ actions: inout Actions) -> Dispatch? {
        var dispatch = beginAttempt(id, &actions)
        if settings.coalesceSpanFinishes, entry.attempts == 0, !entry.restored, entry.kind == .createSpan {
            // Announced right after the create: the two travel in one request.
            dispatch?.combinedFinish = combineFinish(into: id, entry: entry, &actions)
            if let finish = dispatch?.combinedFinish, entries[finish.id]?.payloadOnDisk == true {
                dispatch?.payloadsOnDisk.append(finish.id)
            }
        }
        return dispatch
    }

    /// Whether span creates travel in bulk requests: configured (at least 2 items) and the API has the endpoint.
    private var bulkEnabled: Bool { settings.bulkMaxItems >= 2 && !bulkUnavailable }

    /// Whether an operation may be an item of a bulk request: a span create whose key the bulk endpoint accepts
    /// (8 to 64 characters) and that was not split down to going alone.
    private func batchable(_ entry: Entry) -> Bool {
        entry.kind == .createSpan && entry.batchCap >= 2 && BulkRequest.keyLength.contains(entry.idempotencyKeyLength)
    }

    /// Takes up to `limit` more ready span creates for the bulk request of the one just taken, from the oldest ready
    /// operations on (a window of them, so a long ready queue costs no more than a short one). Every ready operation
    /// has its dependencies settled, so none of them waits for another: a child's create is only ready once its
    /// parent's API id is known. Operations passed over keep their place.
    private mutating func takeBatchMates(limit: Int, _ actions: inout Actions) -> [Dispatch] {
        var limit = limit
        var mates: [Dispatch] = []
        var passedOver: [UInt64] = []
        var window = max(64, 4 * settings.bulkMaxItems)
        while mates.count < limit, window > 0, let id = ready.popFirst() {
            window -= 1
            guard let entry = entries[id], batchable(entry), entry.batchCap >= mates.count + 2 else {
                passedOver.append(id)
                continue
            }
            limit = min(limit, entry.batchCap - 1)
            stats.pending -= 1
            if let dispatch = beginSending(id, entry, &actions) { mates.append(dispatch) }
        }
        for id in passedOver.reversed() { ready.prepend(id) }
        return mates
    }

    /// Counts a bulk request going out and announces what it carries.
    private mutating func noteBatchSent(_ dispatch: Dispatch, _ actions: inout Actions) {
        let carried = dispatch.carriedOperationIDs
        stats.bulkRequests += 1
        stats.bulkOperations += carried.count
        emit(.batchSent(operationIDs: carried), &actions)
    }

    /// Counts a new attempt and builds what the worker sends.
    private mutating func beginAttempt(_ id: UInt64, _ actions: inout Actions) -> Dispatch? {
        guard var entry = entries[id] else { return nil }
        entry.attempts += 1
        entry.state = .inFlight(attempt: entry.attempts)
        entries[id] = entry
        stats.inFlight += 1
        emit(.operationSent(operationID: id, attempt: entry.attempts), &actions)
        var dispatch = Dispatch(operation: operation(entry, id: id), attempt: entry.attempts)
        if entry.payloadOnDisk { dispatch.payloadsOnDisk.append(id) }
        switch dispatch.operation.body {
        case .createSpan(_, let parentID, _, _, _, _):
            dispatch.parentAPIID = parentID.map { parent in localSpanID(parent).flatMap { spans[$0]?.apiID } ?? parent }
            if let finishID = combinedFinishes[id], let finish = entries[finishID] {
                dispatch.combinedFinish = operation(finish, id: finishID)
                if finish.payloadOnDisk { dispatch.payloadsOnDisk.append(finishID) }
            }
        case .finishSpan(let spanID, _, _, _):
            dispatch.spanAPIID = spans[spanID]?.apiID
        default:
            break
        }
        return dispatch
    }

    /// When the span's finish is queued and waits only for this create (an active one, never attempted), it goes in
    /// flight now and is settled with the create. A finish whose key the caller chose is never combined.
    private mutating func combineFinish(into createID: UInt64, entry: Entry, _ actions: inout Actions) -> TelemetryOperation? {
        guard let spanID = entry.spanID, let finishID = spans[spanID]?.finishOperation,
            var finish = entries[finishID], finish.state == .blocked, finish.blockers == 1,
            entry.isActiveCreate, !finish.idempotencyKeyGiven, finish.dependsOn(createID)
        else { return nil }
        finish.attempts = 1
        finish.state = .inFlight(attempt: 1)
        entries[finishID] = finish
        stats.blocked -= 1
        stats.inFlight += 1
        combinedFinishes[createID] = finishID
        emit(.operationSent(operationID: finishID, attempt: 1), &actions)
        return operation(finish, id: finishID)
    }

    private mutating func scheduleRetry(_ id: UInt64, at next: Date, delay: Duration, error: String, _ actions: inout Actions) {
        guard var entry = entries[id] else { return }
        entry.state = .retrying(attempt: entry.attempts, nextAttemptAt: next, error: error)
        entries[id] = entry
        stats.inFlight -= 1
        stats.retrying += 1
        backingOff.insert(id)
        actions.retrying.append((id, entry.attempts, error))
        emit(
            .operationRetrying(operationID: id, attempt: entry.attempts, nextAttemptAt: next, delay: delay, error: error),
            &actions)
        emitStats(&actions)
    }

    /// Puts an in-flight or retrying operation back at the front of the ready queue (delivery paused); a finish
    /// that travels with it stays with it, so the next attempt sends the same body.
    private mutating func requeueFront(_ id: UInt64, _ actions: inout Actions) {
        guard var entry = entries[id] else { return }
        if case .retrying = entry.state { stats.retrying -= 1 } else { stats.inFlight -= 1 }
        entry.state = .pending
        entries[id] = entry
        ready.prepend(id)
        stats.pending += 1
        emit(.operationReady(operationID: id), &actions)
        emitStats(&actions)
    }

    /// Settles an operation (and a finish that travelled with it) as delivered and releases what waited for it.
    private mutating func settleDelivered(_ id: UInt64, _ actions: inout Actions) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        recordDelivered(entry, id, &actions)
        if let finishID = combinedFinishes.removeValue(forKey: id), let finish = entries.removeValue(forKey: finishID) {
            recordDelivered(finish, finishID, &actions)
            release(finishID, failed: false, &actions)
        }
        release(id, failed: false, &actions)
        afterSettling(&actions)
    }

    private mutating func recordDelivered(_ entry: Entry, _ id: UInt64, _ actions: inout Actions) {
        actions.forget.append(id)
        queuedBytes -= entry.bytes
        releasePayloadBytes(entry)
        waitingByKind[entry.kind, default: 1] -= 1
        backingOff.remove(id)
        countLeaving(entry.state)
        stats.delivered += 1
        if entry.kind == .finishSpan, let spanID = entry.spanID {
            spans[spanID]?.finishDelivered = true
        }
        emit(.operationDelivered(operationID: id, attempts: entry.attempts), &actions)
        instances[instanceID(of: entry)]?.openOperations.remove(id)
    }

    /// Settles an operation as failed for good, and fails what required it (a finish that travelled with it
    /// included, as it requires it).
    private mutating func failPermanently(_ id: UInt64, reason: String, status: Int?, _ actions: inout Actions) {
        failOne(id, reason: reason, status: status, &actions)
        afterSettling(&actions)
    }

    private mutating func failOne(_ id: UInt64, reason: String, status: Int?, _ actions: inout Actions) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        if let finishID = combinedFinishes.removeValue(forKey: id), var finish = entries[finishID] {
            // Back to waiting for the create, whose failure fails it through its requirement.
            finish.state = .blocked
            entries[finishID] = finish
            stats.inFlight -= 1
            stats.blocked += 1
        }
        actions.failed.append((id, reason))
        queuedBytes -= entry.bytes
        releasePayloadBytes(entry)
        waitingByKind[entry.kind, default: 1] -= 1
        backingOff.remove(id)
        countLeaving(entry.state)
        if entry.state == .pending, let index = ready.firstIndex(of: id) { ready.remove(at: index) }
        stats.failed += 1
        let failure = FailedOperation(operation: operation(entry, id: id), reason: reason, status: status)
        failedOperations.append(failure)
        if let spanID = entry.spanID, var record = spans[spanID] {
            record.deliveryError = reason
            if entry.kind == .createSpan { record.createFailed = true }
            spans[spanID] = record
        }
        actions.notices.append(.failedPermanently(kind: entry.kind, reason: reason))
        emit(.operationFailed(failure), &actions)
        instances[instanceID(of: entry)]?.openOperations.remove(id)
        release(id, failed: true, &actions)
    }

    /// A settled operation's payload no longer counts against ``Settings/payloadMemoryBudget``.
    private mutating func releasePayloadBytes(_ entry: Entry) {
        if settings.payloadMemoryBudget != nil, !entry.payloadOnDisk, entry.hasPayload {
            payloadBytesInMemory -= entry.bytes - TelemetryOperation.fixedSize
        }
    }

    private mutating func countLeaving(_ state: OperationState) {
        switch state {
        case .blocked: stats.blocked -= 1
        case .pending: stats.pending -= 1
        case .inFlight: stats.inFlight -= 1
        case .retrying: stats.retrying -= 1
        }
    }

    /// Releases the operations that waited for a settled one: ready when nothing else blocks them, failed when one
    /// they require failed.
    private mutating func release(_ id: UInt64, failed: Bool, _ actions: inout Actions) {
        guard let waiting = dependents.removeValue(forKey: id)?.all else { return }
        for (dependentID, kind) in waiting {
            guard var entry = entries[dependentID] else { continue }
            if failed && kind == .requires { failedRequirement.insert(dependentID) }
            entry.blockers -= 1
            entries[dependentID] = entry
            guard entry.blockers == 0 else { continue }
            if failedRequirement.remove(dependentID) != nil {
                failOne(dependentID, reason: "An operation it depends on failed (operation \(id))", status: nil, &actions)
                continue
            }
            entry.state = .pending
            entries[dependentID] = entry
            stats.blocked -= 1
            stats.pending += 1
            ready.append(dependentID)
            emit(.operationReady(operationID: dependentID), &actions)
        }
    }

    private mutating func afterSettling(_ actions: inout Actions) {
        // A kind with nothing left waiting no longer says anything about the API.
        for kind in kindHealth.keys where waitingByKind[kind, default: 0] == 0 { kindHealth[kind] = nil }
        refreshHealth(&actions)
        refreshOldest()
        emitStats(&actions)
        wakeWorkers(&actions)
        if isDrained { actions.drained = true }
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

    /// Health is the worst of the recent outcomes: of each kind of queued request that still has operations
    /// waiting, and of direct calls; `authFailed` while delivery is paused.
    private mutating func refreshHealth(_ actions: inout Actions) {
        func rank(_ health: APIHealth) -> Int {
            switch health {
            case .ok: return 0
            case .retrying: return 1
            case .unreachable: return 2
            case .authFailed: return 3
            }
        }
        var worst = isPaused ? APIHealth.authFailed : directHealth
        for health in kindHealth.values where rank(health) > rank(worst) { worst = health }
        setHealth(worst, &actions)
    }

    private mutating func setHealth(_ health: APIHealth, _ actions: inout Actions) {
        guard self.health != health else { return }
        self.health = health
        emit(.healthChanged(health), &actions)
    }

    private func emit(_ event: @autoclosure () -> ClientEvent, _ actions: inout Actions) {
        if publishing { actions.events.append(event()) }
    }

    private func emitStats(_ actions: inout Actions) {
        if publishing { actions.events.append(.queueChanged(stats)) }
    }
}

/// Where the machine gets idempotency keys: the system's random source in the client, a seeded one in tests.
protocol KeySource {
    /// A fresh key.
    mutating func next() -> String
}
