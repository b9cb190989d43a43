import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

extension PrefactorClient {
    typealias Dispatch = TelemetryStateMachine.Dispatch

    func workerLoop() async {
        let worker = storage.withLock { storage in
            storage.nextWorkerID += 1
            return storage.nextWorkerID
        }
        while let dispatch = await nextDispatch(worker) {
            await deliver(dispatch)
        }
    }

    /// Waits for the next operation to send; `nil` once the client stops.
    func nextDispatch(_ worker: TelemetryStateMachine.WorkerID) async -> Dispatch? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Dispatch?, Never>) in
                let (stopNow, effects) = storage.withLock {
                    storage -> (Bool, [(CheckedContinuation<Dispatch?, Never>, Dispatch?)]) in
                    // Checked under the lock: a cancellation either happened before (seen here) or finds the worker parked.
                    if Task.isCancelled { return (true, []) }
                    storage.workers[worker] = continuation
                    storage.machine.publishing = hub.hasSubscribers
                    let actions = storage.machine.workerReady(worker)
                    if !actions.events.isEmpty { hub.emit(actions.events) }
                    return (
                        false,
                        actions.resume.compactMap { worker, dispatch in
                            storage.workers.removeValue(forKey: worker).map { ($0, dispatch) }
                        }
                    )
                }
                if stopNow { continuation.resume(returning: nil) }
                for (waiting, dispatch) in effects { waiting.resume(returning: dispatch) }
            }
        } onCancel: {
            self.send { $0.workerCancelled(worker) }
        }
    }

    /// Sends one operation until it is settled, handed back to the queue, or the client stops. The API client's
    /// retry loop makes the attempts; the machine decides after each failure (through ``QueueRetryController``)
    /// whether the operation is settled, handed back (auth pause) or tried again, and when.
    func deliver(_ dispatch: Dispatch) async {
        let id = dispatch.operation.id
        defer { _ = storage.withLock { $0.expeditedEarly.remove(id) } }
        let controller = QueueRetryController(client: self, operationID: id)
        do {
            let result = try await APIClient.$retryController.withValue(controller) { try await execute(dispatch) }
            send { $0.attemptSucceeded(id, spanAPIID: result.spanAPIID) }
            handleControl(result.control, instanceID: dispatch.operation.instanceID)
        } catch {
            if controller.handledFailure { return }  // the machine has it: settled, handed back, or left to report
            // Refused before any request went out (an id never resolved, a request the client will not send).
            let failure: TelemetryStateMachine.AttemptFailure
            switch error {
            case let error as PrefactorHTTPError: failure = .init(kind: .permanent, message: error.description, status: nil)
            case let error as PrefactorError: failure = .init(kind: .permanent, message: error.message, status: nil)
            default: return  // cancelled: the client is stopping, and reports the operation as not delivered
            }
            let now = clock.now()
            send { $0.attemptFailed(id, failure, now: now, jitter: 0).1 }
        }
    }

    /// Waits out an operation's backoff, or less when the machine brings the retry forward (retry now, or the API
    /// answering again: then after a short random pause, so that the retries do not all go at once).
    ///
    /// - Returns: `false` when the task was cancelled (the client is stopping).
    func waitForRetry(_ id: UInt64, delay: Duration) async -> Bool {
        let expedited = await withTaskGroup(of: Bool.self) { group -> Bool in
            group.addTask {
                try? await self.clock.sleep(for: delay)
                return false
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let now = self.storage.withLock { storage -> Bool in
                            if Task.isCancelled || storage.expeditedEarly.remove(id) != nil { return true }
                            storage.retryWakers[id] = continuation
                            return false
                        }
                        if now { continuation.resume() }
                    }
                } onCancel: {
                    let waker = self.storage.withLock { $0.retryWakers.removeValue(forKey: id) }
                    waker?.resume()
                }
                return !Task.isCancelled
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if Task.isCancelled { return false }
        if expedited {
            let pause = Duration.milliseconds(Int64(random() % 250))
            do { try await clock.sleep(for: pause) } catch { return false }
        }
        return true
    }

    /// Retries an operation that waits out a backoff now (an operator's "retry now"); nothing for any other.
    ///
    /// - Parameter operationID: The operation.
    public func retryNow(operationID: UInt64) {
        send { $0.retryNow(operationID) }
    }

    /// What a delivered attempt produced.
    struct Delivered {
        var spanAPIID: String?
        var control: ControlSignal?
    }

    /// What an API error means for the queue.
    static func classify(_ error: PrefactorHTTPError) -> TelemetryStateMachine.AttemptFailure {
        let cause = error.lastError ?? error
        switch cause.code {
        case .auth: return .init(kind: .auth, message: error.description, status: cause.status)
        case .conflict: return .init(kind: .conflict, message: error.description, status: cause.status)
        case .transport, .timeout: return .init(kind: .unreachable, message: error.message, status: nil)
        default:
            return .init(kind: cause.isTransient ? .transient : .permanent, message: error.description, status: cause.status)
        }
    }

    /// Lets the outcome of a direct call (register, terminate, a synchronous span start: sent at once, not queued)
    /// update ``APIHealth`` as deliveries do.
    ///
    /// - Parameter error: The call's error, or `nil` when it succeeded.
    func noteDirectCall(failure error: (any Error)?) {
        let kind: TelemetryStateMachine.AttemptFailure.Kind?
        if let error {
            guard let failure = error as? PrefactorHTTPError else { return }
            kind = Self.classify(failure).kind
        } else {
            kind = nil
        }
        send { $0.directCallFinished(failure: kind) }
    }

    func execute(_ dispatch: Dispatch) async throws -> Delivered {
        let operation = dispatch.operation
        let key = operation.idempotencyKey
        switch operation.body {
        case .startInstance(let timestamp):
            _ = try await api.startAgentInstance(id: operation.instanceID, timestamp: timestamp, idempotencyKey: key)
            return Delivered()
        case .finishInstance(let status, let timestamp):
            _ = try await api.finishAgentInstance(
                id: operation.instanceID, status: status, timestamp: timestamp, idempotencyKey: key)
            return Delivered()
        case .recordQuality(let name, let payload):
            _ = try await api.recordQuality(
                instanceID: operation.instanceID, name: name, payload: payload, idempotencyKey: key)
            return Delivered()
        case .createSpan(_, let parentSpanID, let schemaName, let status, let payload, let startedAt):
            if let parentSpanID, dispatch.parentAPIID == nil { throw PrefactorError.spanNotCreated(parentSpanID) }
            var request = CreateSpanRequest(
                agentInstanceID: operation.instanceID, schemaName: schemaName, status: status, payload: payload,
                parentSpanID: dispatch.parentAPIID, startedAt: startedAt, idempotencyKey: key)
            // A finish that travels with this create: one request with the final status, result and finish time.
            if let finish = dispatch.combinedFinish,
                case .finishSpan(_, let finalStatus, let resultPayload, let timestamp) = finish.body
            {
                request.status = StatusMapping.agentStatus(for: finalStatus)
                request.resultPayload = resultPayload
                request.finishedAt = timestamp
            }
            let response = try await api.createSpan(request)
            return Delivered(spanAPIID: response.span.id, control: response.control)
        case .finishSpan(let spanID, let status, let resultPayload, let timestamp):
            guard let apiID = dispatch.spanAPIID else { throw PrefactorError.spanNotCreated(spanID) }
            let response = try await api.finishSpan(
                id: apiID, status: status, resultPayload: resultPayload, timestamp: timestamp, idempotencyKey: key)
            return Delivered(control: response.control)
        }
    }

    func handleControl(_ control: ControlSignal?, instanceID: String) {
        guard let control, control.terminate else { return }
        markTerminated(instanceID, reason: control.reason)
    }

    /// Records an operator's termination once: an event, and every waiter on the handle resumes.
    func markTerminated(_ instanceID: String, reason: String?) {
        let now = clock.now()
        send { $0.instanceTerminated(instanceID, reason: reason, now: now) }
    }

    // MARK: Maintenance

    /// Every tick: probes a rejected token; every poll interval: checks started instances for termination.
    func maintenanceLoop() async {
        var lastPoll = ContinuousClock.now
        var lastProbe = ContinuousClock.now
        var probeDelay = configuration.maintenanceInterval
        while !Task.isCancelled {
            do { try await clock.sleep(for: configuration.maintenanceInterval) } catch { return }
            let now = ContinuousClock.now
            if read(\.isPaused), now - lastProbe >= probeDelay {
                lastProbe = now
                do {
                    try await APIClient.$retryController.withValue(NoRetries()) { _ = try await api.ping() }
                    send { $0.authRestored() }
                    probeDelay = configuration.maintenanceInterval
                } catch {
                    probeDelay = min(probeDelay * 2, .seconds(30))
                }
            }
            if now - lastPoll >= configuration.terminationPollInterval {
                lastPoll = now
                await pollTermination()
            }
        }
    }

    func pollTermination() async {
        let watched = read(\.liveInstanceIDs)
        for id in watched {
            guard !Task.isCancelled else { return }
            let instance = try? await APIClient.$retryController.withValue(NoRetries()) { try await api.agentInstance(id: id) }
            if let instance, instance.status == .terminated {
                markTerminated(id, reason: instance.terminationReason)
            }
        }
    }
}

/// The queue's retry rules, given to the API client's retry loop for one operation: each failed attempt goes to the
/// state machine, which settles it, pauses delivery, or schedules the next attempt (and may bring it forward).
final class QueueRetryController: RetryController {
    let client: PrefactorClient
    let operationID: UInt64
    private let handled = Mutex(false)

    init(client: PrefactorClient, operationID: UInt64) {
        self.client = client
        self.operationID = operationID
    }

    /// Whether a failure reached the machine (then the worker has nothing more to do with it).
    var handledFailure: Bool { handled.withLock { $0 } }

    func retryDelay(after failure: PrefactorHTTPError) async -> Duration? {
        handled.withLock { $0 = true }
        // The client is stopping and cancelled the attempt: not an answer of the API. The operation is left as it
        // is and reported as not delivered.
        if Task.isCancelled { return nil }
        let jitter = Double(client.random() >> 11) / Double(1 << 53)
        let now = client.clock.now()
        let id = operationID
        let step = client.send { $0.attemptFailed(id, PrefactorClient.classify(failure), now: now, jitter: jitter) }
        guard case .retry(let delay) = step else { return nil }
        return delay
    }

    func wait(_ delay: Duration) async -> Bool {
        // Stopping ends the wait: the operation stays undelivered and is reported.
        guard await client.waitForRetry(operationID, delay: delay) else { return false }
        let id = operationID
        // Paused meanwhile (the token was rejected): handed back to the queue instead.
        return client.send { $0.retryDue(id) } != nil
    }
}
