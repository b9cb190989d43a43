import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// Registers agent instances and queues their start, finish and quality records.
///
/// Register is synchronous (it returns the API's instance id); everything else is queued and returns at once.
public struct AgentInstanceManager: Sendable {
    let client: PrefactorClient

    /// Registers an instance with the API and returns its id.
    ///
    /// - Parameters:
    ///   - agentID: The agent; `nil` with a deployment-scoped token.
    ///   - agentVersion: `name`, `external_identifier`, `description`.
    ///   - agentSchemaVersion: The schema version body (spec §7.1); `nil` builds one from the configured
    ///     ``SchemaRegistry``.
    ///   - instanceID: A client-chosen instance id.
    ///   - environmentID: The environment; `nil` with a deployment-scoped token.
    ///   - purpose: Why the instance runs (the API defaults to `live`).
    /// - Returns: The instance id.
    /// - Throws: ``PrefactorError`` (``PrefactorError/Code/api`` with the API error when registration fails,
    ///   ``PrefactorError/Code/missingSchema`` when there is no schema version and no registry).
    public func register(
        agentID: String?, agentVersion: [String: JSONValue], agentSchemaVersion: [String: JSONValue]? = nil,
        instanceID: String? = nil, environmentID: String? = nil, purpose: InstancePurpose? = nil
    ) async throws -> String {
        guard !client.isShutDown else { throw PrefactorError.shutDown }
        let schema: [String: JSONValue]
        if let agentSchemaVersion {
            schema = agentSchemaVersion
        } else if let registry = client.configuration.schemaRegistry {
            schema = registry.agentSchemaVersion(externalIdentifier: SchemaRegistry.automaticIdentifier(agentID: agentID))
        } else {
            throw PrefactorError(
                code: .missingSchema,
                message:
                    "No agentSchemaVersion was given and no schemaRegistry is configured; pass one of them (an empty [:] is allowed)"
            )
        }
        let request = RegisterAgentInstanceRequest(
            agentVersion: agentVersion, agentSchemaVersion: schema, updateCurrentVersion: true, agentID: agentID,
            environmentID: environmentID, id: instanceID, idempotencyKey: client.newKey(), purpose: purpose)
        let instance: AgentInstance
        do {
            instance = try await client.api.registerAgentInstance(request)
        } catch {
            client.noteDirectCall(failure: error)
            throw PrefactorError(code: .api, message: "Registering the agent instance failed", underlying: error)
        }
        client.noteDirectCall(failure: nil)
        let now = client.clock.now()
        // The API answers with the version's id only: the name and identifier given here are what a UI can show.
        let name = agentVersion["name"]?.stringValue
        let version = agentVersion["external_identifier"]?.stringValue
        client.send {
            $0.instanceRegistered(id: instance.id, agentID: instance.agentID, agentName: name, agentVersion: version, now: now)
        }
        return instance.id
    }

    /// Queues the instance's start. Starting again is a no-op.
    ///
    /// - Parameter id: The instance id.
    /// - Throws: ``PrefactorError`` when the instance is unknown or the client is shut down.
    public func start(_ id: String) async throws {
        try await start(id, idempotencyKey: client.newKey(), keyGiven: false)
    }

    /// Queues the instance's start with a given idempotency key.
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - idempotencyKey: The key (at most 64 characters).
    /// - Throws: ``PrefactorError``.
    public func start(_ id: String, idempotencyKey: String) async throws {
        try await start(id, idempotencyKey: idempotencyKey, keyGiven: true)
    }

    private func start(_ id: String, idempotencyKey: String, keyGiven: Bool) async throws {
        try PrefactorError.checkKey(idempotencyKey)
        let now = client.clock.now()
        try client.send { (machine: inout TelemetryStateMachine) throws(PrefactorError) in
            try machine.startInstance(id, key: idempotencyKey, keyGiven: keyGiven, now: now)
        }
    }

    /// Queues the instance's finish after all of its queued span and quality operations.
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - status: The final status.
    /// - Throws: ``PrefactorError`` (``PrefactorError/Code/alreadyFinished`` when finished before).
    public func finish(_ id: String, status: FinishStatus = .complete) async throws {
        try await finish(id, status: status, idempotencyKey: client.newKey(), keyGiven: false)
    }

    /// Queues the instance's finish with a given idempotency key.
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - status: The final status.
    ///   - idempotencyKey: The key (at most 64 characters).
    /// - Throws: ``PrefactorError``.
    public func finish(_ id: String, status: FinishStatus = .complete, idempotencyKey: String) async throws {
        try await finish(id, status: status, idempotencyKey: idempotencyKey, keyGiven: true)
    }

    private func finish(_ id: String, status: FinishStatus, idempotencyKey: String, keyGiven: Bool) async throws {
        try PrefactorError.checkKey(idempotencyKey)
        let now = client.clock.now()
        try client.send { (machine: inout TelemetryStateMachine) throws(PrefactorError) in
            try machine.finishInstance(id, status: status, key: idempotencyKey, keyGiven: keyGiven, now: now)
        }
    }

    /// Queues a quality record (`payload: nil` removes the record of that name).
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - name: A quality schema name of the instance's schema version.
    ///   - payload: The record.
    /// - Throws: ``PrefactorError``.
    public func recordQuality(_ id: String, name: String, payload: [String: JSONValue]?) async throws {
        let now = client.clock.now()
        let key = client.newKey()
        try client.send { (machine: inout TelemetryStateMachine) throws(PrefactorError) in
            try machine.recordQuality(id, name: name, payload: payload, key: key, now: now)
        }
    }
}
