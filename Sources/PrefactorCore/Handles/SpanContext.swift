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
    /// The span's local id (resolved to the API's id on delivery; accepted everywhere).
    public let id: String
    let client: PrefactorClient
    let payload: [String: JSONValue]
    /// The result accumulated by ``setResult(_:)``; whether the span is started or finished is the client's to know.
    private let result = Mutex<[String: JSONValue]>([:])

    init(id: String, client: PrefactorClient, payload: [String: JSONValue]) {
        self.id = id
        self.client = client
        self.payload = payload
    }

    private var phase: SpanPhase? { client.read { $0.span(id)?.phase } }

    /// Whether the span was finished (completed, failed or cancelled).
    public var isFinished: Bool { phase?.isFinished ?? false }

    /// Whether the span was started (by ``start(payload:)``, or implicitly by a child span).
    public var isStarted: Bool { (phase ?? .prepared) != .prepared }

    /// Starts the span (queues its create); a no-op when already started or finished.
    ///
    /// - Parameter payload: The span's parameters; defaults to the payload given to `span(...)`.
    /// - Throws: ``PrefactorError``.
    public func start(payload: [String: JSONValue]? = nil) async throws {
        try await client.spanManager.startIfPrepared(id, payload: payload ?? self.payload, startedAt: client.clock.now())
    }

    /// Merges values into the result sent when the span finishes.
    ///
    /// - Parameter result: Values to merge (later values win).
    public func setResult(_ result: [String: JSONValue]) {
        self.result.withLock { $0.merge(result) { _, new in new } }
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
        guard let phase, !phase.isFinished else { return }
        if phase == .prepared {
            do {
                try await client.spanManager.cancelUnstarted(id)
                return
            } catch let error as PrefactorError where error.code == .alreadyStarted || error.code == .startInProgress {
                // Started meanwhile (by a child): finish it as cancelled.
            }
        }
        try await finish(.cancelled, result: [:])
    }

    /// Finishes the span when its body returns: completes it unless it is already finished.
    func close() async throws {
        try await finish(.complete, result: [:])
    }

    private func finish(_ status: FinishStatus, result: [String: JSONValue]) async throws {
        guard let phase, !phase.isFinished else { return }
        let merged = self.result.withLock { accumulated in
            accumulated.merge(result) { _, new in new }
            return accumulated
        }
        if phase == .prepared {
            // Started implicitly, with the time it was prepared, so its duration covers the body. A child may have
            // started it already; then it is only finished.
            let preparedAt = client.read { $0.span(id)?.preparedAt }
            try await client.spanManager.startIfPrepared(id, payload: payload, startedAt: preparedAt ?? client.clock.now())
        }
        do {
            try await client.spanManager.finish(id, resultPayload: merged.isEmpty ? nil : merged, status: status)
        } catch let error as PrefactorError where error.code == .alreadyFinished {
            // Finished concurrently: finishing is idempotent.
        }
    }
}
