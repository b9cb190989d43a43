import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// A span as the client knows it: ids, type, parent, status, payloads and timestamps.
public typealias Span = SpanSnapshot

/// The task-local stack of open spans, for parent detection (spec §8.6).
package enum SpanStack {
    /// The open spans of the current task, innermost last.
    @TaskLocal package static var current: [String] = []
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
        prepare(instanceID: instanceID, schemaName: schemaName, parentSpanID: parentSpanID, openSpans: SpanStack.current)
    }

    private func prepare(instanceID: String, schemaName: String, parentSpanID: String?, openSpans: [String]) -> String {
        let now = client.clock.now()
        return client.send { machine in
            machine.prepareSpan(
                instanceID: instanceID, schemaName: schemaName, parentID: parentSpanID, openSpans: openSpans, now: now)
        }
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
        try await start(id, payload: payload, startedAt: client.clock.now())
    }

    /// Starts a span unless it is no longer prepared: a child may have started it implicitly, and a span context
    /// then only finishes it. Waits for a synchronous start of it that is in flight, then looks again.
    func startIfPrepared(_ id: String, payload: [String: JSONValue], startedAt: Date) async throws {
        while true {
            if client.configuration.spanStartMode == .synchronous {
                guard let phase = client.read({ $0.span(id)?.phase }) else { throw PrefactorError.unknownSpan(id) }
                if phase != .prepared { return }
                do {
                    _ = try await startSynchronously(id, payload: payload, startedAt: startedAt)
                    return
                } catch let error as PrefactorError where error.code == .startInProgress || error.code == .alreadyStarted {
                    // Started concurrently (by a sibling child): wait for that start and look again.
                }
            } else {
                let now = client.clock.now()
                var keys = client.keys
                let outcome = try client.send { (machine: inout TelemetryStateMachine) throws(PrefactorError) in
                    try machine.startIfPrepared(id, payload: payload, startedAt: startedAt, now: now, keys: &keys)
                }
                if outcome != .startInFlight { return }
            }
            await waitForStartInFlight(id)
        }
    }

    /// Waits until no synchronous start of the span is in flight.
    private func waitForStartInFlight(_ id: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiting = client.storage.withLock { storage -> Bool in
                guard let localID = storage.machine.localSpanID(id), storage.machine.isStartInFlight(localID) else {
                    return false
                }
                storage.startWaiters[localID, default: []].append(continuation)
                return true
            }
            if !waiting { continuation.resume() }
        }
    }

    func start(_ id: String, payload: [String: JSONValue], startedAt: Date) async throws -> String {
        if client.configuration.spanStartMode == .synchronous {
            return try await startSynchronously(id, payload: payload, startedAt: startedAt)
        }
        let now = client.clock.now()
        var keys = client.keys
        try client.send { (machine: inout TelemetryStateMachine) throws(PrefactorError) in
            try machine.startSpan(id, payload: payload, startedAt: startedAt, now: now, keys: &keys)
        }
        return id
    }

    private func startSynchronously(_ id: String, payload: [String: JSONValue], startedAt: Date) async throws -> String {
        // A parent that was only prepared (its span context not started yet) is started first, as in queued mode.
        let preparedParent = client.read { machine -> (id: String, payload: [String: JSONValue], at: Date)? in
            guard let parentID = machine.span(id)?.parentID, let parent = machine.span(parentID), parent.phase == .prepared
            else { return nil }
            return (parentID, machine.pendingPayload(of: parentID), parent.preparedAt)
        }
        if let preparedParent {
            try await startIfPrepared(preparedParent.id, payload: preparedParent.payload, startedAt: preparedParent.at)
        }
        let (span, parentAPIID) = try client.send {
            (machine: inout TelemetryStateMachine) throws(PrefactorError) -> (
                (SpanSnapshot, String?), TelemetryStateMachine.Actions
            ) in
            (try machine.beginSynchronousStart(id), TelemetryStateMachine.Actions())
        }
        let response: SpanResponse
        do {
            response = try await client.api.createSpan(
                CreateSpanRequest(
                    agentInstanceID: span.instanceID, schemaName: span.schemaName, status: .active, payload: payload,
                    parentSpanID: parentAPIID, startedAt: startedAt, idempotencyKey: client.newKey()))
        } catch {
            client.noteDirectCall(failure: error)
            client.send { $0.synchronousStartFailed(span.id) }
            throw PrefactorError(code: .api, message: "Creating span \(id) failed", underlying: error)
        }
        client.noteDirectCall(failure: nil)
        client.send { $0.synchronousStartSucceeded(span.id, apiID: response.span.id, payload: payload, startedAt: startedAt) }
        client.handleControl(response.control, instanceID: span.instanceID)
        return response.span.id
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
        try finishNow(id, resultPayload: resultPayload, status: status, idempotencyKey: idempotencyKey, at: client.clock.now())
    }

    /// Queues a started span's finish without suspending, as finished at `finishedAt` (see
    /// ``finish(_:resultPayload:status:idempotencyKey:)``): for callers that cannot wait, such as a tracer's
    /// synchronous `end()`.
    package func finishNow(
        _ id: String, resultPayload: [String: JSONValue]?, status: FinishStatus, idempotencyKey: String? = nil,
        at finishedAt: Date
    ) throws(PrefactorError) {
        if let idempotencyKey { try PrefactorError.checkKey(idempotencyKey) }
        let key = idempotencyKey ?? client.newKey()
        try client.send { (machine: inout TelemetryStateMachine) throws(PrefactorError) in
            try machine.finishSpan(
                id, status: status, resultPayload: resultPayload, key: key, keyGiven: idempotencyKey != nil, now: finishedAt)
        }
    }

    /// Prepares a span and queues its create (status `active`) in one step, without suspending and whatever
    /// ``PrefactorClient/Configuration/spanStartMode`` says: for callers that cannot wait, such as a tracer's
    /// synchronous `startSpan`, which may record the span later and from another task.
    ///
    /// - Parameters:
    ///   - parentSpanID: The parent; when `nil`, the innermost of `openSpans` that is open in the instance.
    ///   - openSpans: The ``SpanStack`` of the task the span began in.
    /// - Returns: The span's local id.
    package func startNow(
        instanceID: String, schemaName: String, parentSpanID: String?, openSpans: [String], payload: [String: JSONValue],
        startedAt: Date
    ) throws(PrefactorError) -> String {
        let id = prepare(instanceID: instanceID, schemaName: schemaName, parentSpanID: parentSpanID, openSpans: openSpans)
        let now = client.clock.now()
        var keys = client.keys
        try client.send { (machine: inout TelemetryStateMachine) throws(PrefactorError) in
            try machine.startSpan(id, payload: payload, startedAt: startedAt, now: now, keys: &keys)
        }
        return id
    }

    /// Cancels a span that never started: queues a create with status `pending` and a finish with `cancelled`
    /// (two idempotency keys), as the official SDK does.
    ///
    /// - Parameter id: The prepared span's id.
    /// - Throws: ``PrefactorError`` when the span is unknown or already started.
    public func cancelUnstarted(_ id: String) async throws {
        let now = client.clock.now()
        var keys = client.keys
        try client.send { (machine: inout TelemetryStateMachine) throws(PrefactorError) in
            try machine.cancelUnstarted(id, now: now, keys: &keys)
        }
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
        client.storage.withLock { $0.machine.setPendingPayload(id, payload) }
    }

    /// The span with a local or API id, as a value snapshot.
    ///
    /// - Parameter id: The local or API id.
    /// - Returns: The span, or `nil` when this client does not know it.
    public func span(withID id: String) -> Span? {
        client.read { $0.span(id) }
    }
}
