import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

extension PrefactorClient {
    /// Registers an instance (synchronously) and returns its handle.
    ///
    /// - Parameters:
    ///   - agentID: The agent; `nil` with a deployment-scoped token.
    ///   - agentVersion: `name`, `external_identifier`, `description`.
    ///   - agentSchemaVersion: The schema version; `nil` builds one from the configured ``SchemaRegistry``.
    ///   - instanceID: A client-chosen instance id.
    ///   - environmentID: The environment.
    ///   - purpose: Why the instance runs.
    /// - Returns: The instance's handle.
    /// - Throws: ``PrefactorError``.
    public func createAgentInstance(
        agentID: String? = nil, agentVersion: [String: JSONValue], agentSchemaVersion: [String: JSONValue]? = nil,
        instanceID: String? = nil, environmentID: String? = nil, purpose: InstancePurpose? = nil
    ) async throws -> AgentInstanceHandle {
        let id = try await instanceManager.register(
            agentID: agentID, agentVersion: agentVersion, agentSchemaVersion: agentSchemaVersion, instanceID: instanceID,
            environmentID: environmentID, purpose: purpose)
        return AgentInstanceHandle(id: id, client: self)
    }

    /// The handle of an instance this client registered.
    ///
    /// - Parameter id: The instance id.
    /// - Returns: The handle, or `nil` when the client does not know the instance.
    public func instance(withID id: String) -> AgentInstanceHandle? {
        read { $0.instance(id) == nil ? nil : AgentInstanceHandle(id: id, client: self) }
    }
}

/// Runs a ``PrefactorClient`` for the duration of `body`, then drains its queue and shuts it down.
///
/// The client's workers run while `body` runs. When `body` returns, the queue is drained for up to
/// ``PrefactorClient/Configuration/drainTimeout``; if anything could not be delivered (or failed for good), a
/// ``PrefactorError`` with code ``PrefactorError/Code/undelivered`` and the exact ``DeliveryReport`` is thrown. When
/// `body` throws, the queue is drained just the same and `body`'s error is rethrown.
///
/// - Parameters:
///   - configuration: The client configuration.
///   - logger: Where the client logs.
///   - isolation: Where `body` runs: the caller's actor (the main actor included), so `body` may capture and
///     change the caller's state without being `Sendable`.
///   - body: Your code, given the running client.
/// - Returns: What `body` returns.
/// - Throws: `body`'s error, an authentication error when the token is rejected at start, or
///   ``PrefactorError/Code/undelivered``.
public func withPrefactorClient<T>(
    configuration: PrefactorClient.Configuration,
    logger: Logger = Logger(label: "prefactor.core", factory: { _ in SwiftLogNoOpLogHandler() }),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PrefactorClient) async throws -> T
) async throws -> T {
    let client = try PrefactorClient(configuration: configuration, logger: logger)
    if configuration.validateTokenOnStart {
        do {
            try await client.api.ping()
        } catch  where error.code == .auth {
            throw PrefactorError(code: .api, message: "The API rejected the token; check PREFACTOR_API_TOKEN", underlying: error)
        } catch {
            logger.info(
                "The API did not answer the start-up ping; telemetry is queued until it does", metadata: ["error": "\(error)"])
        }
    }
    // Marked running before `body` runs: a body that returns before the child task starts must still be drained
    // by `shutdown()` rather than reported undelivered.
    guard client.beginRunning() == .started else { throw PrefactorError.alreadyRunning }
    return try await withThrowingTaskGroup(of: Void.self, isolation: isolation) { group in
        group.addTask { await client.runUntilShutdown() }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(client))
        } catch {
            result = .failure(error)
        }
        let report = await client.shutdown()
        try await group.waitForAll()
        let value = try result.get()
        if !report.isComplete {
            throw PrefactorError(
                code: .undelivered,
                message:
                    "\(report.undelivered.count) operation(s) were not delivered and \(report.failed.count) failed permanently",
                report: report)
        }
        return value
    }
}

extension PrefactorClient {
    /// Terminates an instance on the server (an operator action, sent at once rather than queued). The agent that
    /// owns the instance learns of it from its next span response or instance poll.
    ///
    /// - Parameters:
    ///   - id: The instance id (any instance the token may see, not only this client's).
    ///   - reason: Why.
    /// - Throws: ``PrefactorError`` with code ``PrefactorError/Code/api`` when the API refuses.
    public func terminateInstance(_ id: String, reason: String?) async throws {
        let instance: AgentInstance
        do {
            instance = try await api.terminateAgentInstance(id: id, reason: reason)
        } catch {
            noteDirectCall(failure: error)
            throw PrefactorError(code: .api, message: "Terminating agent instance \(id) failed", underlying: error)
        }
        noteDirectCall(failure: nil)
        markTerminated(id, reason: instance.terminationReason ?? reason)
    }
}
