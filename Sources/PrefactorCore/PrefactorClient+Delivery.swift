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
            // A bulk request may leave the worker an item to retry on its own, or the rest of a batch to resend.
            var next: Dispatch? = dispatch
            while let current = next {
                guard let loaded = loadPayloads(current) else { break }
                next = loaded.batch.isEmpty ? await deliver(loaded) : await deliverBatch(loaded)
            }
        }
    }

    /// Reads back from the queue file the payloads the queue left there (a large backlog, see
    /// ``Configuration/queuePayloadMemory``), so the request carries them; `nil` when some could not be read (those
    /// operations fail for good, the rest go back to the queue).
    func loadPayloads(_ dispatch: Dispatch) -> Dispatch? {
        guard !dispatch.payloadsOnDisk.isEmpty || dispatch.batch.contains(where: { !$0.payloadsOnDisk.isEmpty }) else {
            return dispatch
        }
        let ids = dispatch.payloadsOnDisk + dispatch.batch.flatMap(\.payloadsOnDisk)
        var found: [UInt64: TelemetryOperation] = [:]
        var reason = "It is not in the queue file"
        do {
            found = try journal?.operations(ids) ?? [:]
        } catch {
            reason = "\(error)"
        }
        let missing = Set(ids).subtracting(found.keys)
        guard missing.isEmpty else {
            let message = "Its payload could not be read back from the queue file: \(reason)"
            logger.error("\(message)", metadata: ["prefactor.operations": "\(missing.sorted())"])
            send { $0.payloadsUnreadable(dispatch, missing: missing, reason: message) }
            return nil
        }
        func filled(_ item: Dispatch) -> Dispatch {
            var item = item
            if let full = found[item.operation.id] { item.operation.body = full.body }
            if let finish = item.combinedFinish, let full = found[finish.id] { item.combinedFinish?.body = full.body }
            item.payloadsOnDisk = []
            return item
        }
        var loaded = filled(dispatch)
        loaded.batch = dispatch.batch.map(filled)
        return loaded
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
    ///
    /// - Returns: Nothing: the shape of ``deliverBatch(_:)``, whose worker may have more to send.
    func deliver(_ dispatch: Dispatch) async -> Dispatch? {
        let id = dispatch.operation.id
        defer { _ = storage.withLock { $0.expeditedEarly.remove(id) } }
        let controller = QueueRetryController(client: self, operationIDs: [id], isBatch: false)
        do {
            let result = try await APIClient.$retryController.withValue(controller) { try await execute(dispatch) }
            send { $0.attemptSucceeded(id, spanAPIID: result.spanAPIID) }
            handleControl(result.control, instanceID: dispatch.operation.instanceID)
        } catch {
            if controller.handledFailure { return nil }  // the machine has it: settled, handed back, or left to report
            guard let failure = Self.refusal(error) else { return nil }
            let now = clock.now()
            send { $0.attemptFailed(id, failure, now: now, jitter: 0).1 }
        }
        return nil
    }

    /// A request the client refused to send (an id never resolved, a body the API would reject) as a permanent
    /// failure; `nil` for a cancellation (the client is stopping and reports the operation as not delivered).
    static func refusal(_ error: any Error) -> TelemetryStateMachine.AttemptFailure? {
        switch error {
        case let error as PrefactorHTTPError: return .init(kind: .permanent, message: error.description, status: nil)
        case let error as PrefactorError: return .init(kind: .permanent, message: error.message, status: nil)
        default: return nil
        }
    }

    /// Sends span creates as one bulk request (`POST /api/v1/bulk`) and settles each item as its own request would
    /// have been. The retry loop resends the same request (same items, same keys) after a failure of the request as
    /// a whole, as the machine decides (``TelemetryStateMachine/bulkFailed(_:_:now:jitter:)``).
    ///
    /// - Returns: What the worker sends next: an item that failed transiently, after its backoff, as its own
    ///   request; or the items left of a batch whose other items used up their attempts.
    func deliverBatch(_ dispatch: Dispatch) async -> Dispatch? {
        let items = dispatch.items
        let ids = items.map(\.operation.id)
        defer { storage.withLock { storage in for id in ids { storage.expeditedEarly.remove(id) } } }
        let controller = QueueRetryController(client: self, operationIDs: ids, isBatch: true)
        let response: BulkResponse
        do {
            let request = BulkRequest(
                items: try items.map { BulkItem.createSpan(try createRequest($0), idempotencyKey: $0.operation.idempotencyKey) })
            response = try await APIClient.$retryController.withValue(controller) { try await api.executeBulk(request) }
        } catch {
            if let followUp = controller.followUp { return followUp }
            if controller.handledFailure { return nil }
            // Refused before it went out: split, down to requests of their own, which meet the single rules.
            guard let failure = Self.refusal(error) else { return nil }
            let now = clock.now()
            send { $0.bulkFailed(ids, failure, now: now, jitter: 0).1 }
            return nil
        }
        var outcomes: [UInt64: TelemetryStateMachine.BulkItemOutcome] = [:]
        var controls: [(instanceID: String, control: ControlSignal)] = []
        for item in items {
            guard let output = response.outputs[item.operation.idempotencyKey] else { continue }
            let (outcome, control) = Self.outcome(of: output)
            outcomes[item.operation.id] = outcome
            if let control { controls.append((item.operation.instanceID, control)) }
        }
        let now = clock.now()
        let jitter = Double(random() >> 11) / Double(1 << 53)
        let held = send { $0.bulkAnswered(ids, outcomes: outcomes, now: now, jitter: jitter) }
        for (instanceID, control) in controls { handleControl(control, instanceID: instanceID) }
        guard let held, await waitForRetry(held.id, delay: held.delay) else { return nil }
        return send { $0.retryDue(held.id) }
    }

    /// What one output of a bulk response means for its span create, and the control signal it carried.
    static func outcome(of output: BulkOutput) -> (TelemetryStateMachine.BulkItemOutcome, ControlSignal?) {
        switch output.status {
        case .success:
            guard let span = try? output.details(as: AgentSpan.self) else {
                let message =
                    "Invalid bulk output for agent_spans/create: \(JSONText.serialize(.object(output.fields)).prefix(200))"
                return (.failed(.init(kind: .permanent, message: message, status: nil)), nil)
            }
            return (.delivered(spanAPIID: span.id), ControlSignal.lenient(output.fields["control"]))
        case .error:
            return (.failed(classify(itemError: output)), nil)
        }
    }

    /// A bulk item's error as the queue needs to know it. The output carries the API's error code but no HTTP
    /// status, so the kind is read from the code: the codes the API answers 401/403, 409 and 429/5xx with.
    static func classify(itemError output: BulkOutput) -> TelemetryStateMachine.AttemptFailure {
        let code = output.code ?? "unknown"
        let message = "bulk item [\(code)]: \(output.message ?? "no message")"
        let kind: TelemetryStateMachine.AttemptFailure.Kind
        switch code {
        case "unauthorized", "forbidden": kind = .auth
        case "conflict", "invalid_action": kind = .conflict
        case "internal_error", "service_unavailable", "bad_gateway", "gateway_timeout", "too_many_requests", "rate_limited",
            "timeout":
            kind = .transient
        default: kind = .permanent
        }
        return .init(kind: kind, message: message, status: nil)
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
        case .createSpan:
            let response = try await api.createSpan(try createRequest(dispatch))
            return Delivered(spanAPIID: response.span.id, control: response.control)
        case .finishSpan(let spanID, let status, let resultPayload, let timestamp):
            guard let apiID = dispatch.spanAPIID else { throw PrefactorError.spanNotCreated(spanID) }
            let response = try await api.finishSpan(
                id: apiID, status: status, resultPayload: resultPayload, timestamp: timestamp, idempotencyKey: key)
            return Delivered(control: response.control)
        }
    }

    /// The body of a span create, with the finish that travels with it.
    func createRequest(_ dispatch: Dispatch) throws(PrefactorError) -> CreateSpanRequest {
        let operation = dispatch.operation
        guard case .createSpan(_, let parentSpanID, let schemaName, let status, let payload, let startedAt) = operation.body
        else { throw PrefactorError(code: .invalidArgument, message: "operation \(operation.id) is not a span create") }
        if let parentSpanID, dispatch.parentAPIID == nil { throw PrefactorError.spanNotCreated(parentSpanID) }
        var request = CreateSpanRequest(
            agentInstanceID: operation.instanceID, schemaName: schemaName, status: status, payload: payload,
            parentSpanID: dispatch.parentAPIID, startedAt: startedAt, idempotencyKey: operation.idempotencyKey)
        // A finish that travels with this create: one request with the final status, result and finish time.
        if let finish = dispatch.combinedFinish,
            case .finishSpan(_, let finalStatus, let resultPayload, let timestamp) = finish.body
        {
            request.status = StatusMapping.agentStatus(for: finalStatus)
            request.resultPayload = resultPayload
            request.finishedAt = timestamp
        }
        return request
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

/// The queue's retry rules, given to the API client's retry loop for one operation (or the items of one bulk
/// request): each failed attempt goes to the state machine, which settles it, pauses delivery, or schedules the next
/// attempt (and may bring it forward).
final class QueueRetryController: RetryController {
    let client: PrefactorClient
    /// The operation, or the items of the bulk request in order.
    let operationIDs: [UInt64]
    /// Whether the request is a bulk request.
    let isBatch: Bool
    private let state = Mutex<(handled: Bool, followUp: TelemetryStateMachine.Dispatch?)>((false, nil))

    init(client: PrefactorClient, operationIDs: [UInt64], isBatch: Bool) {
        self.client = client
        self.operationIDs = operationIDs
        self.isBatch = isBatch
    }

    /// Whether a failure reached the machine (then the worker has nothing more to do with it).
    var handledFailure: Bool { state.withLock { $0.handled } }

    /// What to send instead of the same bulk request again: its items left when others used up their attempts.
    var followUp: TelemetryStateMachine.Dispatch? { state.withLock { $0.followUp } }

    func retryDelay(after failure: PrefactorHTTPError) async -> Duration? {
        state.withLock { $0.handled = true }
        // The client is stopping and cancelled the attempt: not an answer of the API. The operation is left as it
        // is and reported as not delivered.
        if Task.isCancelled { return nil }
        let jitter = Double(client.random() >> 11) / Double(1 << 53)
        let now = client.clock.now()
        let ids = operationIDs
        let classified = PrefactorClient.classify(failure)
        let step =
            isBatch
            ? client.send { $0.bulkFailed(ids, classified, now: now, jitter: jitter) }
            : client.send { $0.attemptFailed(ids[0], classified, now: now, jitter: jitter) }
        guard case .retry(let delay) = step else { return nil }
        return delay
    }

    func wait(_ delay: Duration) async -> Bool {
        // Stopping ends the wait: the operation stays undelivered and is reported.
        guard await client.waitForRetry(operationIDs[0], delay: delay) else { return false }
        let ids = operationIDs
        // Paused meanwhile (the token was rejected): handed back to the queue instead.
        guard isBatch else { return client.send { $0.retryDue(ids[0]) } != nil }
        guard let next = client.send({ $0.bulkRetryDue(ids) }) else { return false }
        if next.items.map(\.operation.id) == ids { return true }  // the same request again
        state.withLock { $0.followUp = next }
        return false
    }
}
