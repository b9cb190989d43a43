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
    /// Queued operations: no HTTP retries, the queue retries so that every attempt is an event.
    let api: APIClient
    /// Synchronous calls (register, synchronous span start): the configured HTTP retries.
    let directAPI: APIClient
    let logger: Logger
    let state: Mutex<ClientState>
    let hub: EventHub
    var store: any TelemetryQueueStore { configuration.queueStore }
    private let lifecycle = Mutex(Lifecycle())

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
    public init(
        configuration: Configuration,
        logger: Logger = Logger(label: "prefactor.core", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(PrefactorError) {
        try configuration.validate()
        var apiConfiguration = configuration.api
        apiConfiguration.retryPolicy.maxRetries = 0
        let transport = AsyncHTTPClientTransport(for: configuration.api)
        do {
            self.api = try APIClient(configuration: apiConfiguration, transport: transport, logger: logger)
            self.directAPI = try APIClient(configuration: configuration.api, transport: transport, logger: logger)
        } catch {
            throw PrefactorError(code: .invalidArgument, message: error.message, underlying: error)
        }
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(ClientState(store: configuration.queueStore, coalesceSpanFinishes: configuration.coalesceSpanFinishes))
        self.hub = EventHub(bufferSize: configuration.eventBufferSize)
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
        state.withLock { $0.snapshot() }
    }

    /// A snapshot and a stream of every event after it, taken atomically: applying the events to the snapshot
    /// reproduces the client's state.
    public func subscribe() -> (snapshot: ClientSnapshot, events: AsyncStream<ClientEvent>) {
        state.withLock { state in (state.snapshot(), hub.subscribe()) }
    }

    /// Mutates the state and publishes the resulting events in order, under the state lock.
    func mutate<T, E: Error>(_ body: (inout ClientState) throws(E) -> T) throws(E) -> T {
        try state.withLock { (state: inout ClientState) throws(E) -> T in
            state.publishing = hub.hasSubscribers
            defer {
                hub.emit(state.events)
                state.events.removeAll(keepingCapacity: true)
            }
            return try body(&state)
        }
    }

    /// Resumes woken workers (the enqueue path, which never empties the queue).
    func resumeWorkers(_ wakes: [ClientState.Wake]) {
        for wake in wakes { wake.continuation.resume(returning: wake.operation) }
    }

    func resume(_ wakes: [ClientState.Wake]) {
        for wake in wakes { wake.continuation.resume(returning: wake.operation) }
        let drained = state.withLock { state in
            defer { state.pendingDrainWakes.removeAll() }
            return state.pendingDrainWakes
        }
        for waiter in drained { waiter.resume() }
    }

    // MARK: Lifecycle

    /// Runs the delivery workers and the termination poll until ``shutdown()`` or a graceful shutdown of the
    /// surrounding service group; then drains the queue (up to ``Configuration/drainTimeout``) and returns.
    public func run() async throws {
        guard beginRunning() else {
            throw PrefactorError(code: .invalidArgument, message: "run() was already called on this client")
        }
        await runUntilShutdown()
    }

    /// Marks the client as running, so that a ``shutdown()`` from now on waits for ``runUntilShutdown()`` to drain
    /// the queue; `false` when it ran (or was shut down) before.
    func beginRunning() -> Bool {
        lifecycle.withLock { lifecycle in
            defer { lifecycle.running = true }
            return !(lifecycle.running || lifecycle.finished)
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
            mutate { state in state.closed = true }
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
            mutate { state in state.closed = true }
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
    public var isShutDown: Bool { state.withLock { $0.closed } }

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
        let wakes = mutate { state in state.wakeWorkers() }
        resume(wakes)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done = self.state.withLock { state in
                        if state.isDrained { return true }
                        state.drainWaiters.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            // Release a drain waiter left behind by the timeout.
            let waiters = self.state.withLock { state in
                defer { state.drainWaiters.removeAll() }
                return state.drainWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    private func finishLifecycle() {
        let (report, pendingWorkers) = mutate { state -> (DeliveryReport, [ClientState.Wake]) in
            state.closed = true
            let report = DeliveryReport(
                undelivered: store.pendingOperations(), failed: state.failed, deliveredCount: state.stats.delivered)
            var wakes: [ClientState.Wake] = []
            for (_, continuation) in state.waiters { wakes.append(.init(continuation: continuation, operation: nil)) }
            state.waiters.removeAll()
            state.waiterOrder.removeAll()
            for instanceID in state.instanceOrder {
                for waiter in state.instances[instanceID]?.terminationWaiters ?? [] { waiter.resume(returning: nil) }
                state.instances[instanceID]?.terminationWaiters.removeAll()
            }
            return (report, wakes)
        }
        resume(pendingWorkers)
        let waiters = lifecycle.withLock { lifecycle in
            lifecycle.finished = true
            lifecycle.report = report
            defer { lifecycle.reportWaiters.removeAll() }
            return lifecycle.reportWaiters
        }
        hub.finishAll()
        for waiter in waiters { waiter.resume(returning: report) }
        if !report.isComplete {
            logger.info(
                "Shut down with telemetry not delivered",
                metadata: ["prefactor.undelivered": "\(report.undelivered.count)", "prefactor.failed": "\(report.failed.count)"])
        }
    }

    // MARK: Enqueueing

    /// Queues an operation; throws when the client is shut down.
    @discardableResult
    func enqueue(
        _ state: inout ClientState, instanceID: String, body: TelemetryOperation.Body, key: String? = nil,
        dependencies: [TelemetryOperation.Dependency], wakes: inout [ClientState.Wake]
    ) throws(PrefactorError) -> TelemetryOperation {
        guard !state.closed else { throw PrefactorError.shutDown }
        let (operation, newWakes) = state.enqueue(
            instanceID: instanceID, body: body, key: key ?? IdempotencyKey.generate(), keyGiven: key != nil, now: Date(),
            dependencies: dependencies, store: store)
        wakes += newWakes
        return operation
    }
}
