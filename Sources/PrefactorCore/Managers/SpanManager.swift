import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// A span as the client knows it: ids, type, parent, status, payloads and timestamps.
public typealias Span = SpanSnapshot

/// The task-local stack of open spans, for parent detection (spec §8.6).
enum SpanStack {
    @TaskLocal static var current: [String] = []
}

/// Prepares, starts and finishes spans; every API call is queued.
///
/// A span is *prepared* (a local record and id, no API call), then *started* (its create is queued) and *finished*
/// (its finish is queued after the create). ``cancelUnstarted(_:)`` takes a prepared span straight to `cancelled`.
public struct SpanManager: Sendable {
    let client: PrefactorClient

    /// Prepares a span: records it locally and returns its id. No API call.
    ///
    /// - Parameters:
    ///   - instanceID: The instance.
    ///   - schemaName: The span type, e.g. `agent:llm`.
    ///   - parentSpanID: The parent; when `nil`, the innermost open span of the current task (see
    ///     ``AgentInstanceHandle/span(_:parentSpanID:payload:_:)``).
    /// - Returns: The span's local id, valid for every later call.
    public func prepare(instanceID: String, schemaName: String, parentSpanID: String? = nil) -> String {
        client.mutate { state -> String in
            // Short local ids ("span-<n>") stay inline in Swift strings: no allocation per copy.
            state.nextSpanNumber += 1
            let id = "span-\(state.nextSpanNumber)"
            let parent = parentSpanID.map { state.localSpanID($0) ?? $0 } ?? innermostOpenSpan(state, instanceID: instanceID)
            let snapshot = SpanSnapshot(
                id: id, apiID: nil, instanceID: instanceID, parentID: parent, schemaName: schemaName, phase: .prepared,
                payload: [:], resultPayload: nil, preparedAt: Date(), startedAt: nil, finishedAt: nil,
                createDelivered: false, finishDelivered: false, deliveryError: nil)
            state.spans[id] = SpanRecord(snapshot: snapshot)
            state.spanOrder.append(id)
            state.emit(.spanPrepared(snapshot))
            return id
        }
    }

    func innermostOpenSpan(_ state: ClientState, instanceID: String) -> String? {
        for id in SpanStack.current.reversed() {
            guard let record = state.spans[id], record.snapshot.instanceID == instanceID else { continue }
            if !record.snapshot.phase.isFinished { return id }
        }
        return nil
    }

    /// Starts a prepared span: queues its create (status `active`) and returns at once.
    ///
    /// In ``PrefactorClient/SpanStartMode/synchronous`` mode the create is sent now and the API's id returned.
    ///
    /// - Parameters:
    ///   - id: The id from ``prepare(instanceID:schemaName:parentSpanID:)``.
    ///   - payload: The span's parameters.
    /// - Returns: The span's id: the local id (resolved to the API's id on delivery), or the API's id in synchronous
    ///   mode. Both are accepted everywhere.
    /// - Throws: ``PrefactorError`` for an unknown or already started span, or a shut-down client.
    @discardableResult
    public func start(_ id: String, payload: [String: JSONValue] = [:]) async throws -> String {
        try await start(id, payload: payload, startedAt: Date())
    }

    /// Starts a span unless it is no longer prepared: a child may have started it implicitly (see
    /// `enqueueCreate`), and a span context then only finishes it.
    func startIfPrepared(_ id: String, payload: [String: JSONValue], startedAt: Date) async throws {
        while await settledPhase(id) == .prepared {
            do {
                _ = try await start(id, payload: payload, startedAt: startedAt)
                return
            } catch let error as PrefactorError where error.code == .alreadyFinished {
                continue  // started concurrently (e.g. by a sibling child): look again
            }
        }
    }

    /// The span's phase once no synchronous start of it is in flight (waiting for one that is).
    private func settledPhase(_ id: String) async -> SpanPhase? {
        while true {
            let phase: SpanPhase?? = await withCheckedContinuation { (continuation: CheckedContinuation<SpanPhase??, Never>) in
                let now: SpanPhase?? = client.state.withLock { state in
                    guard let localID = state.localSpanID(id), var record = state.spans[localID] else { return .some(nil) }
                    guard record.startInFlight else { return .some(record.snapshot.phase) }
                    record.startWaiters.append(continuation)
                    state.spans[localID] = record
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
            if let phase { return phase }
        }
    }

    func start(_ id: String, payload: [String: JSONValue], startedAt: Date) async throws -> String {
        if client.configuration.spanStartMode == .synchronous {
            return try await startSynchronously(id, payload: payload, startedAt: startedAt)
        }
        var wakes: [ClientState.Wake] = []
        try client.mutate { (state: inout ClientState) throws(PrefactorError) in
            let record = try startable(state, id)
            _ = try enqueueCreate(&state, record.snapshot.id, status: .active, payload: payload, startedAt: startedAt, wakes: &wakes)
        }
        client.resumeWorkers(wakes)
        return id
    }

    /// Queues a span's create, first starting a parent that was only prepared (with the payload its span context
    /// was given, at the time it was prepared), so that a child never waits on a parent that will not be created.
    private func enqueueCreate(
        _ state: inout ClientState, _ localID: String, status: AgentStatus, payload: [String: JSONValue], startedAt: Date,
        wakes: inout [ClientState.Wake]
    ) throws(PrefactorError) -> UInt64 {
        guard let record = state.spans[localID] else { throw PrefactorError.unknownSpan(localID) }
        if let parentID = record.snapshot.parentID, let parent = state.spans[parentID], parent.snapshot.phase == .prepared {
            _ = try enqueueCreate(
                &state, parentID, status: .active, payload: parent.pendingPayload, startedAt: parent.snapshot.preparedAt,
                wakes: &wakes)
        }
        let operation = try client.enqueue(
            &state, instanceID: record.snapshot.instanceID,
            body: .createSpan(
                spanID: localID, parentSpanID: record.snapshot.parentID, schemaName: record.snapshot.schemaName,
                status: status, payload: payload, startedAt: startedAt),
            dependencies: createDependencies(state, record), wakes: &wakes)
        if status == .active {
            markStarted(&state, localID, operation: operation.id, payload: payload, startedAt: startedAt)
        } else {
            state.spans[localID]?.createOperation = operation.id
            state.instances[record.snapshot.instanceID]?.openOperations.insert(operation.id)
        }
        return operation.id
    }

    private func startable(_ state: ClientState, _ id: String) throws(PrefactorError) -> SpanRecord {
        guard let localID = state.localSpanID(id), let record = state.spans[localID] else {
            throw PrefactorError.unknownSpan(id)
        }
        guard record.snapshot.phase == .prepared else {
            throw PrefactorError(
                code: .alreadyFinished, message: "Span \(id) was already started (it is \(record.snapshot.phase.rawValue))")
        }
        guard !state.closed else { throw PrefactorError.shutDown }
        return record
    }

    /// A span's create waits for the instance's start and needs its parent's create.
    private func createDependencies(_ state: ClientState, _ record: SpanRecord) -> [TelemetryOperation.Dependency] {
        var dependencies: [TelemetryOperation.Dependency] = []
        if let start = state.instances[record.snapshot.instanceID]?.startOperation {
            dependencies.append(.init(operationID: start, kind: .after))
        }
        if let parentID = record.snapshot.parentID, let create = state.spans[parentID]?.createOperation {
            dependencies.append(.init(operationID: create, kind: .requires))
        }
        return dependencies
    }

    private func markStarted(
        _ state: inout ClientState, _ localID: String, operation: UInt64?, payload: [String: JSONValue], startedAt: Date
    ) {
        guard var record = state.spans[localID] else { return }
        record.createOperation = operation
        record.snapshot.phase = .active
        record.snapshot.payload = payload
        record.snapshot.startedAt = startedAt
        state.spans[localID] = record
        if let operation { state.instances[record.snapshot.instanceID]?.openOperations.insert(operation) }
        state.emit(.spanStarted(record.snapshot))
    }

    private func startSynchronously(_ id: String, payload: [String: JSONValue], startedAt: Date) async throws -> String {
        // A parent that was only prepared (its span context not started yet) is started first, as in queued mode.
        let preparedParent = client.state.withLock { state -> (id: String, payload: [String: JSONValue], at: Date)? in
            guard let localID = state.localSpanID(id), let parentID = state.spans[localID]?.snapshot.parentID,
                let parent = state.spans[parentID], parent.snapshot.phase == .prepared
            else { return nil }
            return (parentID, parent.pendingPayload, parent.snapshot.preparedAt)
        }
        if let preparedParent {
            try await startIfPrepared(preparedParent.id, payload: preparedParent.payload, startedAt: preparedParent.at)
        }
        let (record, parentAPIID) = try client.mutate { (state: inout ClientState) throws(PrefactorError) -> (SpanRecord, String?) in
            let record = try startable(state, id)
            guard !record.startInFlight else {
                throw PrefactorError(code: .alreadyFinished, message: "Span \(id) is already being started")
            }
            var parentAPIID = record.snapshot.parentID
            if let parentID = record.snapshot.parentID, let parent = state.spans[parentID] {
                guard let apiID = parent.snapshot.apiID else {
                    throw PrefactorError(
                        code: .notStarted, message: "The parent span \(parentID) has no API id yet; start the parent first")
                }
                parentAPIID = apiID
            }
            // Until the create returns, other starters (children starting this parent) wait instead of sending
            // a second create.
            state.spans[record.snapshot.id]?.startInFlight = true
            return (record, parentAPIID)
        }
        let response: SpanResponse
        do {
            response = try await client.directAPI.createSpan(
                CreateSpanRequest(
                    agentInstanceID: record.snapshot.instanceID, schemaName: record.snapshot.schemaName, status: .active,
                    payload: payload, parentSpanID: parentAPIID, startedAt: startedAt,
                    idempotencyKey: IdempotencyKey.generate()))
        } catch {
            client.noteDirectCall(failure: error)
            endSynchronousStart(record.snapshot.id)
            throw PrefactorError(code: .api, message: "Creating span \(id) failed", underlying: error)
        }
        client.noteDirectCall(failure: nil)
        client.mutate { state in markStarted(&state, record.snapshot.id, operation: nil, payload: payload, startedAt: startedAt) }
        client.resolveSpan(record.snapshot.id, apiID: response.span.id)
        endSynchronousStart(record.snapshot.id)
        client.handleControl(response.control, instanceID: record.snapshot.instanceID)
        return response.span.id
    }

    private func endSynchronousStart(_ localID: String) {
        let waiters = client.state.withLock { state -> [CheckedContinuation<SpanPhase??, Never>] in
            guard var record = state.spans[localID] else { return [] }
            defer {
                record.startInFlight = false
                record.startWaiters.removeAll()
                state.spans[localID] = record
            }
            return record.startWaiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// Finishes a started span: queues its finish after its create.
    ///
    /// - Parameters:
    ///   - id: The span's local or API id.
    ///   - resultPayload: The result; sent only when not empty.
    ///   - status: The final status.
    ///   - idempotencyKey: The key; generated when `nil`.
    /// - Throws: ``PrefactorError`` (``PrefactorError/Code/unknownSpan``, ``PrefactorError/Code/alreadyFinished``,
    ///   ``PrefactorError/Code/notStarted`` — use ``cancelUnstarted(_:)`` for a span that never started).
    public func finish(
        _ id: String, resultPayload: [String: JSONValue]? = nil, status: FinishStatus = .complete,
        idempotencyKey: String? = nil
    ) async throws {
        if let idempotencyKey { try PrefactorError.checkKey(idempotencyKey) }
        var wakes: [ClientState.Wake] = []
        try client.mutate { (state: inout ClientState) throws(PrefactorError) in
            guard let localID = state.localSpanID(id), var record = state.spans[localID] else {
                throw PrefactorError.unknownSpan(id)
            }
            switch record.snapshot.phase {
            case .prepared:
                throw PrefactorError(
                    code: .notStarted, message: "Span \(id) was never started; start it, or cancel it with cancelUnstarted")
            case .complete, .failed, .cancelled:
                throw PrefactorError(
                    code: .alreadyFinished,
                    message: "Span \(id) was already finished as \(record.snapshot.phase.rawValue); finish a span only once")
            case .active:
                break
            }
            let now = Date()
            let dependencies = record.createOperation.map { [TelemetryOperation.Dependency(operationID: $0, kind: .requires)] } ?? []
            let operation = try client.enqueue(
                &state, instanceID: record.snapshot.instanceID,
                body: .finishSpan(spanID: localID, status: status, resultPayload: resultPayload, timestamp: now),
                key: idempotencyKey, dependencies: dependencies, wakes: &wakes)
            record.finishOperation = operation.id
            record.snapshot.phase = SpanPhase(rawValue: status.rawValue) ?? .complete
            if let resultPayload, !resultPayload.isEmpty {
                if let existing = record.snapshot.resultPayload {
                    record.snapshot.resultPayload = existing.merging(resultPayload) { _, new in new }
                } else {
                    record.snapshot.resultPayload = resultPayload  // shares storage with the queued operation
                }
            }
            record.snapshot.finishedAt = now
            state.spans[localID] = record
            state.instances[record.snapshot.instanceID]?.openOperations.insert(operation.id)
            state.emit(.spanFinished(record.snapshot))
        }
        client.resumeWorkers(wakes)
    }

    /// Cancels a span that never started: queues a create with status `pending` and a finish with `cancelled`
    /// (two idempotency keys), as the official SDK does.
    ///
    /// - Parameter id: The prepared span's id.
    /// - Throws: ``PrefactorError`` when the span is unknown or already started.
    public func cancelUnstarted(_ id: String) async throws {
        var wakes: [ClientState.Wake] = []
        try client.mutate { (state: inout ClientState) throws(PrefactorError) in
            guard let localID = state.localSpanID(id), var record = state.spans[localID] else {
                throw PrefactorError.unknownSpan(id)
            }
            guard record.snapshot.phase == .prepared else {
                throw PrefactorError(
                    code: .alreadyFinished,
                    message: "Span \(id) was started (it is \(record.snapshot.phase.rawValue)); use finish(status: .cancelled)")
            }
            let now = Date()
            let create = try enqueueCreate(
                &state, localID, status: .pending, payload: [:], startedAt: record.snapshot.preparedAt, wakes: &wakes)
            let finish = try client.enqueue(
                &state, instanceID: record.snapshot.instanceID,
                body: .finishSpan(spanID: localID, status: .cancelled, resultPayload: nil, timestamp: now),
                dependencies: [.init(operationID: create, kind: .requires)], wakes: &wakes)
            record = state.spans[localID] ?? record
            record.createOperation = create
            record.finishOperation = finish.id
            record.snapshot.phase = .cancelled
            record.snapshot.finishedAt = now
            state.spans[localID] = record
            state.instances[record.snapshot.instanceID]?.openOperations.insert(finish.id)
            state.emit(.spanFinished(record.snapshot))
        }
        client.resumeWorkers(wakes)
    }

    /// Prepares and starts a span in one call.
    ///
    /// - Parameters:
    ///   - instanceID: The instance.
    ///   - schemaName: The span type.
    ///   - parentSpanID: The parent; `nil` picks the innermost open span of the current task.
    ///   - payload: The span's parameters.
    /// - Returns: The span's id (see ``start(_:payload:)``).
    /// - Throws: ``PrefactorError``.
    @discardableResult
    public func create(
        instanceID: String, schemaName: String, parentSpanID: String? = nil, payload: [String: JSONValue] = [:]
    ) async throws -> String {
        let id = prepare(instanceID: instanceID, schemaName: schemaName, parentSpanID: parentSpanID)
        return try await start(id, payload: payload)
    }

    /// Sets the payload a prepared span is started with when it has to be started implicitly (by a child, or when
    /// its span context closes).
    func setPendingPayload(_ id: String, _ payload: [String: JSONValue]) {
        client.state.withLock { state in state.spans[id]?.pendingPayload = payload }
    }

    /// The span with a local or API id, as a value snapshot.
    ///
    /// - Parameter id: The local or API id.
    /// - Returns: The span, or `nil` when this client does not know it.
    public func span(withID id: String) -> Span? {
        client.state.withLock { state in state.localSpanID(id).flatMap { state.spans[$0]?.snapshot } }
    }
}
