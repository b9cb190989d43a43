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
                message: "No agentSchemaVersion was given and no schemaRegistry is configured; pass one of them (an empty [:] is allowed)")
        }
        let request = RegisterAgentInstanceRequest(
            agentVersion: agentVersion, agentSchemaVersion: schema, updateCurrentVersion: true, agentID: agentID,
            environmentID: environmentID, id: instanceID, idempotencyKey: IdempotencyKey.generate(), purpose: purpose)
        let instance: AgentInstance
        do {
            instance = try await client.directAPI.registerAgentInstance(request)
        } catch {
            client.noteDirectCall(failure: error)
            throw PrefactorError(code: .api, message: "Registering the agent instance failed", underlying: error)
        }
        client.noteDirectCall(failure: nil)
        client.mutate { state in
            guard state.instances[instance.id] == nil else { return }
            let snapshot = InstanceSnapshot(
                id: instance.id, agentID: instance.agentID, phase: .registered, registeredAt: Date(), quality: [:])
            state.instances[instance.id] = InstanceRecord(snapshot: snapshot)
            state.instanceOrder.append(instance.id)
            state.emit(.instanceRegistered(snapshot))
        }
        return instance.id
    }

    /// Queues the instance's start. Starting again is a no-op.
    ///
    /// - Parameter id: The instance id.
    /// - Throws: ``PrefactorError`` when the instance is unknown or the client is shut down.
    public func start(_ id: String) async throws {
        try await start(id, idempotencyKey: IdempotencyKey.generate())
    }

    /// Queues the instance's start with a given idempotency key.
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - idempotencyKey: The key (at most 64 characters).
    /// - Throws: ``PrefactorError``.
    public func start(_ id: String, idempotencyKey: String) async throws {
        try PrefactorError.checkKey(idempotencyKey)
        var wakes: [ClientState.Wake] = []
        try client.mutate { (state: inout ClientState) throws(PrefactorError) in
            guard var record = state.instances[id] else { throw PrefactorError.unknownInstance(id) }
            guard record.snapshot.phase == .registered, record.startOperation == nil else { return }
            let now = Date()
            let operation = try client.enqueue(
                &state, instanceID: id, body: .startInstance(timestamp: now), key: idempotencyKey, dependencies: [],
                wakes: &wakes)
            record.startOperation = operation.id
            record.snapshot.phase = .active
            record.snapshot.startedAt = now
            state.instances[id] = record
            state.emit(.instanceStarted(record.snapshot))
        }
        client.resumeWorkers(wakes)
    }

    /// Queues the instance's finish after all of its queued span and quality operations.
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - status: The final status.
    /// - Throws: ``PrefactorError`` (``PrefactorError/Code/alreadyFinished`` when finished before).
    public func finish(_ id: String, status: FinishStatus = .complete) async throws {
        try await finish(id, status: status, idempotencyKey: IdempotencyKey.generate())
    }

    /// Queues the instance's finish with a given idempotency key.
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - status: The final status.
    ///   - idempotencyKey: The key (at most 64 characters).
    /// - Throws: ``PrefactorError``.
    public func finish(_ id: String, status: FinishStatus = .complete, idempotencyKey: String) async throws {
        try PrefactorError.checkKey(idempotencyKey)
        var wakes: [ClientState.Wake] = []
        try client.mutate { (state: inout ClientState) throws(PrefactorError) in
            guard var record = state.instances[id] else { throw PrefactorError.unknownInstance(id) }
            if record.snapshot.phase == .terminated { return }
            guard record.finishOperation == nil else {
                throw PrefactorError(
                    code: .alreadyFinished, message: "Agent instance \(id) was already finished; finish it only once")
            }
            var dependencies = record.openOperations.sorted().map {
                TelemetryOperation.Dependency(operationID: $0, kind: .after)
            }
            if let start = record.startOperation { dependencies.append(.init(operationID: start, kind: .after)) }
            let now = Date()
            let operation = try client.enqueue(
                &state, instanceID: id, body: .finishInstance(status: status, timestamp: now), key: idempotencyKey,
                dependencies: dependencies, wakes: &wakes)
            record.finishOperation = operation.id
            record.snapshot.phase = InstancePhase(rawValue: status.rawValue) ?? .complete
            record.snapshot.finishedAt = now
            state.instances[id] = record
            state.emit(.instanceFinished(record.snapshot))
        }
        client.resumeWorkers(wakes)
    }

    /// Queues a quality record (`payload: nil` removes the record of that name).
    ///
    /// - Parameters:
    ///   - id: The instance id.
    ///   - name: A quality schema name of the instance's schema version.
    ///   - payload: The record.
    /// - Throws: ``PrefactorError``.
    public func recordQuality(_ id: String, name: String, payload: [String: JSONValue]?) async throws {
        var wakes: [ClientState.Wake] = []
        try client.mutate { (state: inout ClientState) throws(PrefactorError) in
            guard var record = state.instances[id] else { throw PrefactorError.unknownInstance(id) }
            let dependencies = record.startOperation.map { [TelemetryOperation.Dependency(operationID: $0, kind: .after)] } ?? []
            let operation = try client.enqueue(
                &state, instanceID: id, body: .recordQuality(name: name, payload: payload), dependencies: dependencies,
                wakes: &wakes)
            record.openOperations.insert(operation.id)
            record.snapshot.quality[name] = payload.map { .object($0) }
            state.instances[id] = record
            state.emit(.qualityRecorded(instanceID: id, name: name, payload: payload))
        }
        client.resumeWorkers(wakes)
    }
}
