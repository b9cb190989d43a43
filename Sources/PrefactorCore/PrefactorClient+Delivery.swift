import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

extension PrefactorClient {
    /// What an attempt's failure means for the operation.
    enum Verdict {
        case delivered
        /// Worth another attempt; the HTTP status of this one, if the API answered.
        case retry(String, Int?)
        case pauseForAuth(String)
        case fail(String, Int?)
    }

    func workerLoop() async {
        while let operation = await nextOperation() {
            await deliver(operation)
        }
    }

    /// Waits for the next ready operation; `nil` once the client stops.
    func nextOperation() async -> TelemetryOperation? {
        if Task.isCancelled { return nil }
        let waiterID = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TelemetryOperation?, Never>) in
                let immediate: (TelemetryOperation?, Bool) = mutate { state in
                    if let operation = state.takeReady() { return (operation, true) }
                    if state.closed && state.isDrained { return (nil, true) }
                    state.waiters[waiterID] = continuation
                    state.waiterOrder.append(waiterID)
                    return (nil, false)
                }
                if immediate.1 { continuation.resume(returning: immediate.0) }
            }
        } onCancel: {
            let continuation = self.state.withLock { $0.waiters.removeValue(forKey: waiterID) }
            continuation?.resume(returning: nil)
        }
    }

    /// Sends one operation until it is delivered, fails for good, or the client stops.
    func deliver(_ operation: TelemetryOperation) async {
        var attempt = 1
        while true {
            let verdict = await self.attempt(operation)
            switch verdict {
            case .delivered:
                let wakes = mutate { state in
                    state.setHealth(.ok)
                    return state.delivered(operation.id, store: store)
                }
                resume(wakes)
                return
            case .fail(let reason, let status):
                logger.info(
                    "Telemetry operation failed permanently",
                    metadata: ["prefactor.operation": "\(operation.kind.rawValue)", "prefactor.reason": "\(reason)"])
                let wakes = mutate { state in state.failedPermanently(operation.id, reason: reason, status: status, store: store) }
                resume(wakes)
                return
            case .pauseForAuth(let reason):
                logger.info("The API rejected the token; delivery paused", metadata: ["prefactor.reason": "\(reason)"])
                mutate { state in
                    state.paused = true
                    state.setHealth(.authFailed)
                    state.requeueFront(operation.id)
                }
                return
            case .retry(let reason, let status):
                if let limit = configuration.maxDeliveryAttempts, attempt >= limit {
                    let wakes = mutate { state in
                        state.failedPermanently(
                            operation.id, reason: "Gave up after \(attempt) attempts: \(reason)", status: status, store: store)
                    }
                    resume(wakes)
                    return
                }
                let policy = configuration.api.retryPolicy
                let delay = policy.delay(beforeRetry: min(attempt - 1, 30), unit: Double.random(in: 0..<1))
                mutate { state in state.scheduleRetry(operation.id, after: delay, now: Date(), error: reason) }
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return  // stopping: the operation stays undelivered and is reported
                }
                let paused = mutate { state -> Bool in
                    if state.paused {
                        state.requeueFront(operation.id)
                        return true
                    }
                    state.beginRetry(operation.id)
                    return false
                }
                if paused { return }
                attempt += 1
            }
        }
    }

    /// One attempt at an operation.
    func attempt(_ operation: TelemetryOperation) async -> Verdict {
        do {
            try await execute(operation)
            return .delivered
        } catch let error as PrefactorHTTPError {
            return verdict(for: error, operation: operation)
        } catch let error as PrefactorError {
            return .fail(error.message, nil)
        } catch {
            return .retry("\(error)", nil)
        }
    }

    func verdict(for error: PrefactorHTTPError, operation: TelemetryOperation) -> Verdict {
        switch error.code {
        case .auth:
            return .pauseForAuth(error.description)
        case .conflict where operation.kind == .finishSpan || operation.kind == .finishInstance:
            return .delivered  // already finished: the API has what we wanted
        case .transport, .timeout:
            mutate { state in state.setHealth(.unreachable) }
            return .retry(error.message, nil)
        default:
            if error.isTransient {
                mutate { state in state.setHealth(.retrying) }
                return .retry(error.description, (error.lastError ?? error).status)
            }
            return .fail(error.description, error.status)
        }
    }

    /// Lets the outcome of a direct call (register, terminate, a synchronous span start: sent at once, not queued)
    /// update ``APIHealth`` as deliveries do, so that a failing API shows even when nothing is queued.
    ///
    /// - Parameter error: The call's error, or `nil` when it succeeded.
    func noteDirectCall(failure error: (any Error)?) {
        mutate { state in
            guard let error else {
                if !state.paused { state.setHealth(.ok) }
                return
            }
            guard let failure = error as? PrefactorHTTPError else { return }
            let cause = failure.lastError ?? failure
            switch cause.code {
            case .auth: state.setHealth(.authFailed)
            case .transport, .timeout: state.setHealth(.unreachable)
            default: if cause.isTransient { state.setHealth(.retrying) }
            }
        }
    }

    /// Resolves a span id (local or API) to the API's id.
    func apiSpanID(_ id: String) throws(PrefactorError) -> String {
        try state.withLock { (state: inout ClientState) throws(PrefactorError) -> String in
            guard let record = state.spans[id] else { return id }  // not ours: already an API id
            guard let apiID = record.snapshot.apiID else {
                throw PrefactorError(code: .invalidArgument, message: "Span \(id) has no API id: its create was not delivered")
            }
            return apiID
        }
    }

    func execute(_ operation: TelemetryOperation) async throws {
        let key = operation.idempotencyKey
        switch operation.body {
        case .startInstance(let timestamp):
            _ = try await api.startAgentInstance(id: operation.instanceID, timestamp: timestamp, idempotencyKey: key)
        case .finishInstance(let status, let timestamp):
            _ = try await api.finishAgentInstance(
                id: operation.instanceID, status: status, timestamp: timestamp, idempotencyKey: key)
        case .recordQuality(let name, let payload):
            _ = try await api.recordQuality(instanceID: operation.instanceID, name: name, payload: payload, idempotencyKey: key)
        case .createSpan(let spanID, let parentSpanID, let schemaName, let status, let payload, let startedAt):
            let parent = try parentSpanID.map { id throws(PrefactorError) in try apiSpanID(id) }
            var request = CreateSpanRequest(
                agentInstanceID: operation.instanceID, schemaName: schemaName, status: status, payload: payload,
                parentSpanID: parent, startedAt: startedAt, idempotencyKey: key)
            // A finish that travels with this create: one request with the final status, result and finish time.
            if let finish = state.withLock({ $0.absorbedFinish(of: operation.id) }),
                case .finishSpan(_, let finalStatus, let resultPayload, let timestamp) = finish.body
            {
                request.status = AgentStatus(rawValue: finalStatus.rawValue) ?? status
                request.resultPayload = resultPayload
                request.finishedAt = timestamp
            }
            let response = try await api.createSpan(request)
            resolveSpan(spanID, apiID: response.span.id)
            handleControl(response.control, instanceID: operation.instanceID)
        case .finishSpan(let spanID, let status, let resultPayload, let timestamp):
            let apiID = try apiSpanID(spanID)
            let response = try await api.finishSpan(
                id: apiID, status: status, resultPayload: resultPayload, timestamp: timestamp, idempotencyKey: key)
            handleControl(response.control, instanceID: operation.instanceID)
        }
    }

    func resolveSpan(_ localID: String, apiID: String) {
        mutate { state in
            guard var record = state.spans[localID] else { return }
            record.snapshot.apiID = apiID
            record.snapshot.createDelivered = true
            state.spans[localID] = record
            state.apiToLocal[apiID] = localID
            state.emit(.spanResolved(record.snapshot))
        }
    }

    func handleControl(_ control: ControlSignal?, instanceID: String) {
        guard let control, control.terminate else { return }
        markTerminated(instanceID, reason: control.reason)
    }

    /// Records an operator's termination once: an event, and every waiter on the handle resumes.
    func markTerminated(_ instanceID: String, reason: String?) {
        let waiters = mutate { state -> [CheckedContinuation<Termination?, Never>] in
            guard var record = state.instances[instanceID], record.snapshot.phase != .terminated else { return [] }
            record.snapshot.phase = .terminated
            record.snapshot.terminationReason = reason
            record.snapshot.finishedAt = record.snapshot.finishedAt ?? Date()
            let waiters = record.terminationWaiters
            record.terminationWaiters.removeAll()
            state.instances[instanceID] = record
            state.emit(.instanceTerminated(record.snapshot))
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: Termination(instanceID: instanceID, reason: reason)) }
    }

    // MARK: Maintenance

    /// Every tick: probes a rejected token; every poll interval: checks started instances for termination.
    func maintenanceLoop() async {
        var lastPoll = ContinuousClock.now
        var lastProbe = ContinuousClock.now
        var probeDelay = configuration.maintenanceInterval
        while !Task.isCancelled {
            do { try await Task.sleep(for: configuration.maintenanceInterval) } catch { return }
            let now = ContinuousClock.now
            let paused = state.withLock { $0.paused }
            if paused, now - lastProbe >= probeDelay {
                lastProbe = now
                do {
                    try await api.ping()
                    let wakes = mutate { state -> [ClientState.Wake] in
                        state.paused = false
                        state.setHealth(.ok)
                        return state.wakeWorkers()
                    }
                    resume(wakes)
                    probeDelay = configuration.maintenanceInterval
                    logger.info("The API accepts the token again; delivery resumed")
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
        let watched = state.withLock { state in
            state.instanceOrder.filter { id in
                guard let phase = state.instances[id]?.snapshot.phase else { return false }
                return phase == .active || phase == .registered
            }
        }
        for id in watched {
            guard !Task.isCancelled else { return }
            if let instance = try? await api.agentInstance(id: id), instance.status == .terminated {
                markTerminated(id, reason: instance.terminationReason)
            }
        }
    }
}
