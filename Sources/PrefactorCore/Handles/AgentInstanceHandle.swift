import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// One registered agent instance: start it, record spans in it, finish it, and learn when an operator terminates it.
public struct AgentInstanceHandle: Sendable, Hashable {
    /// The instance's API id.
    public let id: String
    /// The client that registered the instance, and records its spans.
    package let client: PrefactorClient

    /// Compares handles by instance id and client.
    public static func == (lhs: AgentInstanceHandle, rhs: AgentInstanceHandle) -> Bool {
        lhs.id == rhs.id && lhs.client === rhs.client
    }

    /// Hashes the instance id.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
    }

    /// Queues the instance's start (a no-op when already started).
    ///
    /// - Throws: ``PrefactorError`` when the client is shut down.
    public func start() async throws {
        try await client.instanceManager.start(id)
    }

    /// Queues the instance's finish, after every span and quality operation queued before it.
    ///
    /// - Parameter status: The final status.
    /// - Throws: ``PrefactorError`` (``PrefactorError/Code/alreadyFinished`` when finished before).
    public func finish(status: FinishStatus = .complete) async throws {
        try await client.instanceManager.finish(id, status: status)
    }

    /// Queues a quality record.
    ///
    /// - Parameters:
    ///   - name: A quality schema name.
    ///   - payload: The record, or `nil` to remove it.
    /// - Throws: ``PrefactorError``.
    public func recordQuality(name: String, payload: [String: JSONValue]?) async throws {
        try await client.instanceManager.recordQuality(id, name: name, payload: payload)
    }

    /// Prepares and starts a span in this instance.
    ///
    /// - Parameters:
    ///   - schemaName: The span type.
    ///   - parentSpanID: The parent; `nil` picks the innermost open span of the current task.
    ///   - payload: The span's parameters.
    /// - Returns: The span's id.
    /// - Throws: ``PrefactorError``.
    @discardableResult
    public func createSpan(
        schemaName: String, parentSpanID: String? = nil, payload: [String: JSONValue] = [:]
    ) async throws -> String {
        try await client.spanManager.create(instanceID: id, schemaName: schemaName, parentSpanID: parentSpanID, payload: payload)
    }

    /// Finishes a span of this instance.
    ///
    /// - Parameters:
    ///   - spanID: The span's id.
    ///   - resultPayload: The result.
    ///   - status: The final status.
    /// - Throws: ``PrefactorError``.
    public func finishSpan(
        _ spanID: String, resultPayload: [String: JSONValue]? = nil, status: FinishStatus = .complete
    ) async throws {
        try await client.spanManager.finish(spanID, resultPayload: resultPayload, status: status)
    }

    /// Runs `body` inside a span and finishes the span when `body` returns or throws.
    ///
    /// Inside `body`, spans created without an explicit parent become children of this one. Call
    /// ``SpanContext/start(payload:)`` to start the span with its parameters, ``SpanContext/complete(_:)``,
    /// ``SpanContext/fail(_:)`` or ``SpanContext/cancel()`` to finish it. When `body` returns, a span not yet finished
    /// is started (with `payload`) if needed and completed; a span cancelled before it started takes the
    /// cancel-unstarted path. When `body` throws, a span not yet finished is finished as `failed` with the error in its
    /// result, and the error is rethrown.
    ///
    /// - Parameters:
    ///   - schemaName: The span type.
    ///   - parentSpanID: An explicit parent, which wins over the enclosing span.
    ///   - payload: The parameters used when the span is started implicitly.
    ///   - isolation: Where `body` runs: the caller's actor, so `body` may capture and change the caller's state.
    ///   - body: The work, given the span.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws, or ``PrefactorError``.
    public func span<T>(
        _ schemaName: String, parentSpanID: String? = nil, payload: [String: JSONValue] = [:],
        isolation: isolated (any Actor)? = #isolation,
        _ body: (SpanContext) async throws -> T
    ) async throws -> T {
        let manager = client.spanManager
        let spanID = manager.prepare(instanceID: id, schemaName: schemaName, parentSpanID: parentSpanID)
        manager.setPendingPayload(spanID, payload)
        let context = SpanContext(id: spanID, client: client, payload: payload)
        let value: T
        do {
            value = try await SpanStack.$current.withValue(
                SpanStack.current + [spanID], operation: { try await body(context) }, isolation: isolation)
        } catch {
            if !context.isFinished {
                try? await context.fail([
                    "error": .string(String(describing: error)), "error_type": .string("\(type(of: error))"),
                ])
            }
            throw error
        }
        try await context.close()
        return value
    }

    /// Whether an operator terminated the instance (seen on a span response or by the instance poll).
    public var isTerminated: Bool {
        client.read { $0.instance(id)?.phase == .terminated }
    }

    /// The operator's reason, once terminated.
    public var terminationReason: String? {
        client.read { $0.instance(id)?.terminationReason }
    }

    /// Waits until an operator terminates the instance.
    ///
    /// - Returns: The termination, or `nil` when the client shuts down first.
    public func waitForTermination() async -> Termination? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Termination?, Never>) in
            let immediate: Termination?? = client.storage.withLock { storage in
                guard let instance = storage.machine.instance(id) else { return .some(nil) }
                if instance.phase == .terminated {
                    return .some(Termination(instanceID: id, reason: instance.terminationReason))
                }
                if storage.machine.isClosed { return .some(nil) }
                storage.terminationWaiters[id, default: []].append(continuation)
                return .none
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// The instance as the client knows it.
    public var snapshot: InstanceSnapshot? {
        client.read { $0.instance(id) }
    }
}

/// An operator's termination of an instance.
public struct Termination: Sendable, Hashable {
    /// The instance.
    public var instanceID: String
    /// The reason given, if any.
    public var reason: String?

    /// Creates a termination.
    public init(instanceID: String, reason: String?) {
        self.instanceID = instanceID
        self.reason = reason
    }
}
