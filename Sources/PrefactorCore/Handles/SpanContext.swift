import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// The span of a ``AgentInstanceHandle/span(_:parentSpanID:payload:_:)`` body.
///
/// Finishing is idempotent: once the span is finished, later ``complete(_:)``, ``fail(_:)`` or ``cancel()`` calls do
/// nothing.
public final class SpanContext: Sendable {
    private struct State {
        var started = false
        var finished = false
        var result: [String: JSONValue] = [:]
    }

    /// The span's local id (resolved to the API's id on delivery; accepted everywhere).
    public let id: String
    let client: PrefactorClient
    let payload: [String: JSONValue]
    private let state = Mutex(State())

    init(id: String, client: PrefactorClient, payload: [String: JSONValue]) {
        self.id = id
        self.client = client
        self.payload = payload
    }

    /// Whether the span was finished (completed, failed or cancelled).
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Whether the span was started (by ``start(payload:)``, or implicitly by a child span).
    public var isStarted: Bool { state.withLock { $0.started } || startedImplicitly }

    /// Whether a child span started this one (its create is queued although its context never started it).
    private var startedImplicitly: Bool {
        guard let phase = client.spanManager.span(withID: id)?.phase else { return false }
        return phase != .prepared
    }

    /// Starts the span (queues its create); a no-op when already started.
    ///
    /// - Parameter payload: The span's parameters; defaults to the payload given to `span(...)`.
    /// - Throws: ``PrefactorError``.
    public func start(payload: [String: JSONValue]? = nil) async throws {
        let shouldStart = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started && !state.finished
        }
        guard shouldStart else { return }
        do {
            try await client.spanManager.startIfPrepared(id, payload: payload ?? self.payload, startedAt: Date())
        } catch {
            state.withLock { $0.started = false }
            throw error
        }
    }

    /// Merges values into the result sent when the span finishes.
    ///
    /// - Parameter result: Values to merge (later values win).
    public func setResult(_ result: [String: JSONValue]) {
        state.withLock { $0.result.merge(result) { _, new in new } }
    }

    /// Finishes the span as `complete`, starting it first if needed.
    ///
    /// - Parameter result: Values merged into the result.
    /// - Throws: ``PrefactorError``.
    public func complete(_ result: [String: JSONValue] = [:]) async throws {
        try await finish(.complete, result: result)
    }

    /// Finishes the span as `failed`, starting it first if needed.
    ///
    /// - Parameter result: Values merged into the result (e.g. the error).
    /// - Throws: ``PrefactorError``.
    public func fail(_ result: [String: JSONValue] = [:]) async throws {
        try await finish(.failed, result: result)
    }

    /// Cancels the span: a started span is finished as `cancelled`; a span never started takes the
    /// cancel-unstarted path (created `pending`, then finished `cancelled`).
    ///
    /// - Throws: ``PrefactorError``.
    public func cancel() async throws {
        let startedImplicitly = self.startedImplicitly
        let neverStarted = state.withLock { state -> Bool? in
            guard !state.finished else { return nil }
            if !state.started && !startedImplicitly {
                state.finished = true
                return true
            }
            return false
        }
        switch neverStarted {
        case nil: return
        case true?:
            do {
                try await client.spanManager.cancelUnstarted(id)
            } catch {
                state.withLock { $0.finished = false }
                throw error
            }
        case false?:
            try await finish(.cancelled, result: [:])
        }
    }

    /// Finishes the span when its body returns: completes it unless it is already finished.
    func close() async throws {
        try await finish(.complete, result: [:])
    }

    private func finish(_ status: FinishStatus, result: [String: JSONValue]) async throws {
        let claim = state.withLock { state -> (Bool, [String: JSONValue])? in
            guard !state.finished else { return nil }
            state.finished = true
            state.result.merge(result) { _, new in new }
            return (state.started, state.result)
        }
        guard let (started, merged) = claim else { return }
        do {
            if !started {
                // Started implicitly, with the time it was prepared, so its duration covers the body.
                // A child may have started it already; then it is only finished.
                let preparedAt = client.spanManager.span(withID: id)?.preparedAt
                try await client.spanManager.startIfPrepared(id, payload: payload, startedAt: preparedAt ?? .now)
                state.withLock { $0.started = true }
            }
            try await client.spanManager.finish(id, resultPayload: merged.isEmpty ? nil : merged, status: status)
        } catch {
            state.withLock { $0.finished = false }
            throw error
        }
    }
}
