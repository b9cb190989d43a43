import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import ServiceLifecycle
import Synchronization

/// The Prefactor core client: registers agent instances, records spans, and delivers everything through a queue and
/// a pool of workers so the agent never waits on the network.
///
/// Run it as a `Service` (its ``run()`` hosts the workers), or use the scoped helper, which runs it, gives it to
/// your code and then drains the queue:
///
/// ```swift
/// try await withPrefactorClient(configuration: .fromEnvironment()) { client in
///     let run = try await client.createAgentInstance(agentID: nil, agentVersion: ["name": "my-agent"])
///     try await run.start()
///     try await run.span("agent:llm", payload: ["model": "gpt-4"]) { span in
///         try await span.complete(["response": "hello"])
///     }
///     try await run.finish()
/// }
/// ```
///
/// Guarantees beyond the official SDKs: span start returns at once (``SpanStartMode/queued``); operations reach the
/// API in causal order though workers run in parallel; every operation keeps one idempotency key across retries;
/// transient failures are retried until shutdown and 401/403 pauses delivery without losing the queue; shutdown
/// reports exactly what could not be delivered. Every change is published through ``events()``.
public final class PrefactorClient: Service, Sendable {
    /// The configuration.
    public let configuration: Configuration
    /// The API: direct calls use its retries; queued operations are sent one attempt at a time (the queue retries,
    /// so that every attempt is an event).
    let api: APIClient
    let logger: Logger
    let clock: any ClientClock
    let random: @Sendable () -> UInt64
    let storage: Mutex<Storage>
    let hub: EventHub
    /// Where queued operations are kept: the queue file when one is configured, else the configured store.
    let store: any TelemetryQueueStore
    /// The store when it is a queue file: its writes are staged under the lock and committed after it.
    let journal: SQLiteTelemetryQueueStore?
    /// What the store reported when it was opened (damaged files moved aside, operations recovered, records
    /// skipped); also published as events to the first subscribers and logged.
    public let queueNotices: [QueueNotice]
    private let lifecycle = Mutex(Lifecycle())

    /// The state machine and the waiters of the shell, under one lock.
    struct Storage {
        var machine: TelemetryStateMachine
        var workers: [TelemetryStateMachine.WorkerID: CheckedContinuation<TelemetryStateMachine.Dispatch?, Never>] = [:]
        var nextWorkerID: TelemetryStateMachine.WorkerID = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var startWaiters: [String: [CheckedContinuation<Void, Never>]] = [:]
        var terminationWaiters: [String: [CheckedContinuation<Termination?, Never>]] = [:]
        /// Workers waiting out a backoff, by operation: resumed early when the machine expedites the retry.
        var retryWakers: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Retries brought forward before their worker began to wait: it does not wait.
        var expeditedEarly: Set<UInt64> = []
    }

    private struct Lifecycle {
        var running = false
        var finished = false
        var shutdownRequested = false
        var shutdownSignal: CheckedContinuation<Void, Never>?
        var reportWaiters: [CheckedContinuation<DeliveryReport, Never>] = []
        var report: DeliveryReport?
    }

    /// Creates a client. Nothing is sent until ``run()`` runs (register, which is synchronous, excepted).
    ///
    /// - Parameters:
    ///   - configuration: The API and queue settings.
    ///   - logger: Where the client logs (debug and info only); silent by default.
    /// - Throws: ``PrefactorError`` when the configuration is invalid.
    public convenience init(
        configuration: Configuration,
        logger: Logger = Logger(label: "prefactor.core", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(PrefactorError) {
        try configuration.validate()
        try self.init(
            configuration: configuration, logger: logger, transport: AsyncHTTPClientTransport(for: configuration.api),
            clock: SystemClientClock(), random: { UInt64.random(in: .min ... .max) })
    }

    /// Creates a client on a given transport, clock and random source (idempotency keys and backoff jitter).
    package init(
        configuration: Configuration, logger: Logger, transport: any HTTPTransport, clock: any ClientClock,
        random: @escaping @Sendable () -> UInt64
    ) throws(PrefactorError) {
        try configuration.validate()
        do {
            self.api = try APIClient(
                configuration: configuration.api, transport: transport, logger: logger,
                sleep: { try await clock.sleep(for: $0) }, random: { Double(random() >> 11) / Double(1 << 53) })
        } catch {
            throw PrefactorError(code: .invalidConfiguration, message: error.message, underlying: error)
        }
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.random = random
        var notices: [QueueNotice] = []
        if let file = configuration.queueFile {
            let fileStore = try SQLiteTelemetryQueueStore(path: file, durability: configuration.queueDurability)
            notices += fileStore.openingNotices
            self.store = fileStore
        } else {
            self.store = configuration.queueStore
        }
        self.journal = store as? SQLiteTelemetryQueueStore
        let settings = TelemetryStateMachine.Settings(
            coalesceSpanFinishes: configuration.coalesceSpanFinishes, maxDeliveryAttempts: configuration.maxDeliveryAttempts,
            retryPolicy: configuration.api.retryPolicy, maxQueuedOperations: configuration.maxQueuedOperations,
            maxQueuedBytes: configuration.maxQueuedBytes, bulkMaxItems: configuration.bulkMaxItems,
            payloadMemoryBudget: journal == nil ? nil : configuration.queuePayloadMemory)
        var machine = TelemetryStateMachine(settings: settings)
        if store.isDurable {
            // Take over what an earlier process left: same ids, keys and dependencies; recorded API ids.
            let recovered = store.recover()
            if !recovered.operations.isEmpty {
                // Nobody subscribes yet: no events to build for what is taken over (the first snapshot has it all).
                machine.publishing = false
                _ = machine.restore(recovered.operations, resolvedSpans: recovered.resolved, now: clock.now())
                notices.append(.recovered(path: configuration.queueFile ?? "store", count: recovered.operations.count))
            }
            if recovered.skipped > 0 {
                notices.append(.recordsSkipped(path: configuration.queueFile ?? "store", count: recovered.skipped))
            }
        }
        self.queueNotices = notices
        self.storage = Mutex(Storage(machine: machine))
        self.hub = EventHub(bufferSize: configuration.eventBufferSize)
        for notice in notices { logger.info("Queue: \(notice)") }
        // The log could not be applied to the SQLite file: published, never silent (the steps stay in the log).
        journal?.onApplyFailure { [weak self] error in self?.reportWriteFailure(error) }
    }

    /// The instance manager (register, start, finish, record quality).
    public var instanceManager: AgentInstanceManager { AgentInstanceManager(client: self) }

    /// The span manager (prepare, start, finish, cancel before start).
    public var spanManager: SpanManager { SpanManager(client: self) }

    // MARK: Events

    /// A new stream of every later event; each caller gets its own stream.
    public func events() -> AsyncStream<ClientEvent> {
        hub.subscribe()
    }

    /// Everything the client knows now.
    public func snapshot() -> ClientSnapshot {
        storage.withLock { $0.machine.snapshot() }
    }

    /// A snapshot and a stream of every event after it, taken atomically: applying the events to the snapshot
    /// reproduces the client's state.
    public func subscribe() -> (snapshot: ClientSnapshot, events: AsyncStream<ClientEvent>) {
        storage.withLock { storage in (storage.machine.snapshot(), hub.subscribe()) }
    }

    // MARK: The shell

    /// What to do once the lock is released: continuations to resume and lines to log.
    struct Effects {
        var workers: [(CheckedContinuation<TelemetryStateMachine.Dispatch?, Never>, TelemetryStateMachine.Dispatch?)] = []
        var drained: [CheckedContinuation<Void, Never>] = []
        var starts: [CheckedContinuation<Void, Never>] = []
        var terminations: [(CheckedContinuation<Termination?, Never>, Termination?)] = []
        var retries: [CheckedContinuation<Void, Never>] = []
        var notices: [TelemetryStateMachine.Notice] = []

        var isEmpty: Bool {
            workers.isEmpty && drained.isEmpty && starts.isEmpty && terminations.isEmpty && retries.isEmpty
                && notices.isEmpty
        }
    }

    /// Feeds one input to the machine under the lock and carries out its actions: events are published under the
    /// lock (so that ``subscribe()`` stays atomic and events stay in order), store writes are made in order,
    /// and continuations are resumed and notices logged after the lock is released.
    @discardableResult
    func send<T, E: Error>(
        _ input: (inout TelemetryStateMachine) throws(E) -> (T, TelemetryStateMachine.Actions)
    ) throws(E) -> T {
        let (value, effects, ticket) = try storage.withLock {
            (storage: inout Storage) throws(E) -> (T, Effects, UInt64?) in
            storage.machine.publishing = hub.hasSubscribers
            let value: T
            let actions: TelemetryStateMachine.Actions
            do throws(E) {
                (value, actions) = try input(&storage.machine)
            } catch {
                if let refusal = error as? PrefactorError, refusal.code == .queueFull, let notice = storage.machine.fullLimit {
                    hub.emit([.queueNotice(notice)])
                }
                throw error
            }
            if !actions.events.isEmpty { hub.emit(actions.events) }
            var ticket: UInt64?
            if store.isDurable {
                let changes = StoreChanges(
                    persist: actions.persist, forget: actions.forget, resolved: actions.resolved.map { ($0.local, $0.api) },
                    failed: actions.failed.map { ($0.id, $0.reason) },
                    retrying: actions.retrying.map { ($0.id, $0.attempts, $0.error) })
                if !changes.isEmpty, let journal {
                    // Staged in the machine's order under the lock; written after it (below), so the agent never
                    // waits for the lock behind another thread's transaction, and concurrent steps share one commit.
                    ticket = journal.stage(changes)
                } else if !changes.isEmpty {
                    reportWriteFailure(store.apply(changes))
                }
            }
            return (value, Self.collect(actions, from: &storage), ticket)
        }
        // In the file before the call returns, and before any worker is handed what it queued; a settlement is
        // written in the same transaction as the API id it produced.
        if let ticket, let journal { reportWriteFailure(journal.flush(through: ticket)) }
        if !effects.isEmpty { carryOut(effects) }
        return value
    }

    /// Never silent: the operations stay in memory (and are delivered or reported), the file misses them.
    private func reportWriteFailure(_ failure: String?) {
        guard let failure else { return }
        let notice = QueueNotice.writeFailed(path: configuration.queueFile ?? "the queue store", error: failure)
        hub.emit([.queueNotice(notice)])
        logger.error("\(notice.summary)")
    }

    /// Feeds an input that returns only actions.
    func send<E: Error>(_ input: (inout TelemetryStateMachine) throws(E) -> TelemetryStateMachine.Actions) throws(E) {
        try send { (machine: inout TelemetryStateMachine) throws(E) -> ((), TelemetryStateMachine.Actions) in
            ((), try input(&machine))
        }
    }

    private static func collect(_ actions: TelemetryStateMachine.Actions, from storage: inout Storage) -> Effects {
        var effects = Effects()
        for (worker, dispatch) in actions.resume {
            if let continuation = storage.workers.removeValue(forKey: worker) {
                effects.workers.append((continuation, dispatch))
            }
        }
        if actions.drained {
            effects.drained = storage.drainWaiters
            storage.drainWaiters.removeAll()
        }
        for spanID in actions.startsEnded {
            effects.starts += storage.startWaiters.removeValue(forKey: spanID) ?? []
        }
        for termination in actions.terminated {
            for waiter in storage.terminationWaiters.removeValue(forKey: termination.instanceID) ?? [] {
                effects.terminations.append((waiter, termination))
            }
        }
        for id in actions.expedite {
            if let waker = storage.retryWakers.removeValue(forKey: id) {
                effects.retries.append(waker)
            } else {
                storage.expeditedEarly.insert(id)
            }
        }
        effects.notices = actions.notices
        return effects
    }

    private func carryOut(_ effects: Effects) {
        for (continuation, dispatch) in effects.workers { continuation.resume(returning: dispatch) }
        for continuation in effects.drained { continuation.resume() }
        for continuation in effects.starts { continuation.resume() }
        for (continuation, termination) in effects.terminations { continuation.resume(returning: termination) }
        for continuation in effects.retries { continuation.resume() }
        for notice in effects.notices {
            switch notice {
            case .failedPermanently(let kind, let reason):
                logger.info(
                    "Telemetry operation failed permanently",
                    metadata: ["prefactor.operation": "\(kind.rawValue)", "prefactor.reason": "\(reason)"])
            case .pausedForAuth(let reason):
                logger.info("The API rejected the token; delivery paused", metadata: ["prefactor.reason": "\(reason)"])
            case .resumedAfterAuth:
                logger.info("The API accepts the token again; delivery resumed")
            case .bulkUnavailable(let reason):
                logger.info(
                    "Span creates go as single requests from now on", metadata: ["prefactor.reason": "\(reason)"])
            }
        }
    }

    /// Reads the machine under the lock.
    func read<T>(_ body: (TelemetryStateMachine) -> T) -> T {
        storage.withLock { body($0.machine) }
    }

    /// A source of fresh idempotency keys from the client's random source.
    var keys: ClientKeySource { ClientKeySource(random: random) }

    /// A fresh idempotency key.
    func newKey() -> String {
        var keys = self.keys
        return keys.next()
    }

    // MARK: Lifecycle

    /// Runs the delivery workers and the termination poll until ``shutdown()`` or a graceful shutdown of the
    /// surrounding service group; then drains the queue (up to ``Configuration/drainTimeout``) and returns. On a client
    /// shut down before it ran, it returns at once: the shutdown already reported what was left, so a caller that
    /// starts `run()` in a task and shuts down early has nothing to race.
    ///
    /// - Throws: ``PrefactorError`` with code ``PrefactorError/Code/clientAlreadyRunning`` when called a second time.
    public func run() async throws {
        switch beginRunning() {
        case .started: await runUntilShutdown()
        case .shutDownBeforeRunning: return
        case .alreadyRan: throw PrefactorError.alreadyRunning
        }
    }

    /// What ``beginRunning()`` found.
    enum RunStart {
        /// The client is now running.
        case started
        /// ``shutdown()`` came first: nothing to run.
        case shutDownBeforeRunning
        /// ``run()`` was called before.
        case alreadyRan
    }

    /// Marks the client as running, so that a ``shutdown()`` from now on waits for ``runUntilShutdown()`` to drain
    /// the queue, unless it ran or was shut down before.
    func beginRunning() -> RunStart {
        lifecycle.withLock { lifecycle in
            if lifecycle.running { return .alreadyRan }
            if lifecycle.finished { return .shutDownBeforeRunning }
            lifecycle.running = true
            return .started
        }
    }

    /// The body of ``run()``, once ``beginRunning()`` succeeded.
    func runUntilShutdown() async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<configuration.workers {
                group.addTask { await self.workerLoop() }
            }
            group.addTask { await self.maintenanceLoop() }
            await withGracefulShutdownHandler {
                await self.waitForShutdownRequest()
            } onGracefulShutdown: {
                self.requestShutdown()
            }
            send { $0.close() }
            await waitUntilDrained(timeout: configuration.drainTimeout)
            group.cancelAll()
        }
        finishLifecycle()
        try? await api.shutdown()
    }

    /// Stops accepting operations, drains the queue for up to ``Configuration/drainTimeout``, stops ``run()`` and
    /// reports what was not delivered. Safe to call more than once.
    ///
    /// - Returns: The undelivered and failed operations; ``DeliveryReport/isComplete`` when everything got through.
    @discardableResult
    public func shutdown() async -> DeliveryReport {
        let (running, report) = lifecycle.withLock { ($0.running, $0.report) }
        if let report { return report }
        requestShutdown()
        if !running {
            send { $0.close() }
            finishLifecycle()
            try? await api.shutdown()
        }
        return await withCheckedContinuation { continuation in
            let ready: DeliveryReport? = lifecycle.withLock { lifecycle in
                if let report = lifecycle.report { return report }
                lifecycle.reportWaiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Whether the client no longer accepts operations.
    public var isShutDown: Bool { read { $0.isClosed } }

    func requestShutdown() {
        let signal = lifecycle.withLock { lifecycle -> CheckedContinuation<Void, Never>? in
            lifecycle.shutdownRequested = true
            defer { lifecycle.shutdownSignal = nil }
            return lifecycle.shutdownSignal
        }
        signal?.resume()
    }

    private func waitForShutdownRequest() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = lifecycle.withLock { lifecycle in
                    if lifecycle.shutdownRequested { return true }
                    lifecycle.shutdownSignal = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.requestShutdown()
        }
    }

    private func waitUntilDrained(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done = self.storage.withLock { storage in
                        if storage.machine.isDrained { return true }
                        storage.drainWaiters.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
            }
            group.addTask { try? await self.clock.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            // Release a drain waiter left behind by the timeout.
            let waiters = self.storage.withLock { storage in
                defer { storage.drainWaiters.removeAll() }
                return storage.drainWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    private func finishLifecycle() {
        let stopReport = send { $0.stop() }
        // The queue file complete in SQLite, for whoever reads it next.
        journal?.checkpoint()
        let terminationWaiters = storage.withLock { storage in
            defer { storage.terminationWaiters.removeAll() }
            return storage.terminationWaiters.values.flatMap { $0 }
        }
        for waiter in terminationWaiters { waiter.resume(returning: nil) }
        let waiters = lifecycle.withLock { lifecycle in
            lifecycle.finished = true
            lifecycle.report = stopReport
            defer { lifecycle.reportWaiters.removeAll() }
            return lifecycle.reportWaiters
        }
        hub.finishAll()
        for waiter in waiters { waiter.resume(returning: stopReport) }
        if !stopReport.isComplete {
            logger.info(
                "Shut down with telemetry not delivered",
                metadata: [
                    "prefactor.undelivered": "\(stopReport.undelivered.count)", "prefactor.failed": "\(stopReport.failed.count)",
                ])
        }
    }
}

/// Where the client reads the time and waits: the system's clocks, or a manual clock in tests.
package protocol ClientClock: Sendable {
    /// The current time.
    func now() -> Date
    /// Waits for a duration; throws when the task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// The system's wall clock and `Task.sleep`.
struct SystemClientClock: ClientClock {
    func now() -> Date { Date() }
    func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

/// Idempotency keys from the client's random source, as UUID v4 text.
struct ClientKeySource: KeySource {
    let random: @Sendable () -> UInt64

    mutating func next() -> String {
        IdempotencyKey.format(high: random(), low: random())
    }
}
