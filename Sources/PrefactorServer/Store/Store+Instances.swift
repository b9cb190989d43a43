import Foundation
import GRDB
import PrefactorWire

extension Store {
    static let instanceColumns = """
        id, account_id, agent_id, agent_version_id, environment_id, agent_deployment_id, schema_version_id, status,
        purpose, external_identifier, inserted_at, updated_at, started_at, finished_at, termination_reason,
        quality_payloads, span_pending, span_active, span_complete, span_failed, span_cancelled
        """

    func fetchInstance(_ db: GRDB.Database, id: String) throws -> Row? {
        try Row.fetchOne(cached: db, sql: "SELECT \(Store.instanceColumns) FROM agent_instances WHERE id = ?", arguments: [id])
    }

    func requireInstance(_ db: GRDB.Database, id: String) throws -> Row {
        guard let row = try fetchInstance(db, id: id) else {
            throw APIError.notFound("Agent instance \(id) not found")
        }
        return row
    }

    func renderInstance(_ db: GRDB.Database, _ row: Row) throws -> String {
        var object = JSONObjectText()
        object.string(AgentInstance.CodingKeys.type.rawValue, "agent_instance")
        object.string(AgentInstance.CodingKeys.id.rawValue, row["id"])
        object.string(AgentInstance.CodingKeys.accountID.rawValue, row["account_id"])
        object.string(AgentInstance.CodingKeys.agentID.rawValue, row["agent_id"])
        object.string(AgentInstance.CodingKeys.agentVersionID.rawValue, row["agent_version_id"])
        object.string(AgentInstance.CodingKeys.environmentID.rawValue, row["environment_id"])
        object.string(AgentInstance.CodingKeys.agentDeploymentID.rawValue, row["agent_deployment_id"])
        object.string(AgentInstance.CodingKeys.status.rawValue, row["status"])
        object.string(AgentInstance.CodingKeys.purpose.rawValue, row["purpose"])
        object.string("external_identifier", row["external_identifier"])
        object.timestamp(AgentInstance.CodingKeys.insertedAt.rawValue, microseconds: row["inserted_at"])
        object.timestamp(AgentInstance.CodingKeys.updatedAt.rawValue, microseconds: row["updated_at"])
        object.timestamp(AgentInstance.CodingKeys.startedAt.rawValue, microseconds: row["started_at"])
        object.timestamp(AgentInstance.CodingKeys.finishedAt.rawValue, microseconds: row["finished_at"])
        object.string(AgentInstance.CodingKeys.terminationReason.rawValue, row["termination_reason"])
        let pending: Int = row["span_pending"]
        let active: Int = row["span_active"]
        let complete: Int = row["span_complete"]
        let failed: Int = row["span_failed"]
        let cancelled: Int = row["span_cancelled"]
        var counts = JSONObjectText()
        counts.int("total", pending + active + complete + failed + cancelled)
        counts.int("pending", pending)
        counts.int("active", active)
        counts.int("complete", complete)
        counts.int("failed", failed)
        counts.int("cancelled", cancelled)
        counts.int("finished", complete + failed + cancelled)
        object.raw(AgentInstance.CodingKeys.spanCounts.rawValue, counts.result)
        let qualityText: String = row["quality_payloads"]
        object.raw(AgentInstance.CodingKeys.qualityPayloads.rawValue, qualityText)
        let quality = (try? JSONValue(parsing: Data(qualityText.utf8)))?.objectValue ?? [:]
        var summaries = JSONObjectText()
        if !quality.isEmpty {
            let info = try schemaInfo(db, id: row["schema_version_id"])
            for (name, payload) in quality.sorted(by: { $0.key < $1.key }) {
                if let template = info.qualityTemplates[name], let context = payload.objectValue {
                    summaries.string(name, SummaryTemplate.render(template, context: context))
                }
            }
        }
        object.raw(AgentInstance.CodingKeys.qualitySummaries.rawValue, summaries.result)
        return object.result
    }

    func instanceResponse(_ db: GRDB.Database, id: String) throws -> StoredResponse {
        Store.success(try renderInstance(db, requireInstance(db, id: id)))
    }

    // MARK: Register

    func register(_ body: [String: JSONValue], scope: String) throws -> PreparedWrite {
        var fields = FieldReader(body)
        // The official SDKs always send agent_version (`{}` at least); agent_schema_version may be left out.
        if body["agent_version"] == nil || body["agent_version"] == .null {
            fields.fail("agent_version", "is required (an object; {} for the default version)")
        }
        let agentVersion = fields.optionalObject("agent_version") ?? [:]
        let schemaVersion = fields.optionalObject("agent_schema_version") ?? [:]
        let updateCurrentVersion = fields.optionalBool("update_current_version") ?? true
        let agentID = fields.optionalString("agent_id") ?? Store.defaultAgentID
        let environmentID = fields.optionalString("environment_id") ?? Store.environmentID
        let requestedID = fields.optionalString("id")
        let key = fields.idempotencyKey()
        let purpose = fields.optionalEnum("purpose", InstancePurpose.self) ?? .live
        let externalIdentifier = fields.optionalString("external_identifier")
        if requestedID?.isEmpty == true { fields.fail("id", "must not be empty") }
        for key in ["agent_id", "environment_id"] where body[key] == .string("") {
            fields.fail(key, "must not be empty")
        }
        var versionFields = FieldReader(agentVersion)
        let versionIdentifier = versionFields.optionalString("external_identifier") ?? "default"
        _ = versionFields.optionalString("name")
        _ = versionFields.optionalString("description")
        fields.absorb(versionFields, prefix: "agent_version.")
        var schemaErrors: [String: [String]] = [:]
        _ = SchemaInfo(body: schemaVersion, errors: &schemaErrors)
        var schemaFields = FieldReader(schemaVersion)
        let schemaIdentifier = schemaFields.optionalString("external_identifier")
        for (field, messages) in schemaFields.errors.merging(schemaErrors, uniquingKeysWith: +) {
            for message in messages {
                fields.fail(field.hasPrefix("agent_schema_version") ? field : "agent_schema_version.\(field)", message)
            }
        }
        try fields.check()

        return write(scope: scope, key: key) { db, time in
            guard
                let agentStatus = try String.fetchOne(
                    cached: db, sql: "SELECT status FROM agents WHERE id = ?", arguments: [agentID])
            else { throw APIError.notFound("Agent \(agentID) not found") }
            if agentStatus == AgentLifecycleStatus.retired.rawValue {
                throw APIError.invalidAction("Agent \(agentID) is retired; reinstate it before registering instances")
            }
            guard try Bool.fetchOne(cached: db, sql: "SELECT 1 FROM environments WHERE id = ?", arguments: [environmentID]) != nil
            else { throw APIError.notFound("Environment \(environmentID) not found") }

            let versionID = try Self.findOrCreate(
                db, table: "agent_versions", prefix: "av", agentID: agentID, externalIdentifier: versionIdentifier,
                body: agentVersion, time: time)
            var schemaVersionID: String?
            if !schemaVersion.isEmpty {
                schemaVersionID = try Self.findOrCreate(
                    db, table: "agent_schema_versions", prefix: "asv", agentID: agentID,
                    externalIdentifier: schemaIdentifier ?? "unnamed", body: schemaVersion, time: time)
            }
            var deploymentID = try String.fetchOne(
                cached: db, sql: "SELECT id FROM agent_deployments WHERE agent_id = ? AND environment_id = ?",
                arguments: [agentID, environmentID])
            if deploymentID == nil {
                let newID = Store.newID("dep")
                try db.execute(
                    cached: """
                        INSERT INTO agent_deployments
                            (id, account_id, agent_id, environment_id, current_version_id, inserted_at, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [newID, Store.accountID, agentID, environmentID, versionID, time, time])
                deploymentID = newID
            } else if updateCurrentVersion {
                try db.execute(
                    cached: "UPDATE agent_deployments SET current_version_id = ?, updated_at = ? WHERE id = ?",
                    arguments: [versionID, time, deploymentID])
            }
            let instanceID = requestedID ?? Store.newID("ai")
            if try self.fetchInstance(db, id: instanceID) != nil {
                throw APIError.conflict("Agent instance \(instanceID) already exists")
            }
            if let externalIdentifier,
                try Bool.fetchOne(
                    cached: db, sql: "SELECT 1 FROM agent_instances WHERE agent_id = ? AND external_identifier = ?",
                    arguments: [agentID, externalIdentifier]) != nil
            {
                throw APIError.conflict("An instance of agent \(agentID) already has external_identifier \(externalIdentifier)")
            }
            try db.execute(
                cached: """
                    INSERT INTO agent_instances
                        (id, account_id, agent_id, agent_version_id, environment_id, agent_deployment_id,
                         schema_version_id, status, purpose, external_identifier, inserted_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)
                    """,
                arguments: [
                    instanceID, Store.accountID, agentID, versionID, environmentID, deploymentID, schemaVersionID,
                    purpose.rawValue, externalIdentifier, time, time,
                ])
            try db.execute(
                cached: "UPDATE agents SET status = 'active', updated_at = ? WHERE id = ? AND status IN ('pending', 'dormant')",
                arguments: [time, agentID])
            return try self.instanceResponse(db, id: instanceID)
        }
    }

    static func findOrCreate(
        _ db: GRDB.Database, table: String, prefix: String, agentID: String, externalIdentifier: String,
        body: [String: JSONValue], time: Int64
    ) throws -> String {
        if let id = try String.fetchOne(
            cached: db, sql: "SELECT id FROM \(table) WHERE agent_id = ? AND external_identifier = ?",
            arguments: [agentID, externalIdentifier])
        {
            return id
        }
        let id = Store.newID(prefix)
        try db.execute(
            cached: "INSERT INTO \(table) (id, agent_id, external_identifier, body, inserted_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [id, agentID, externalIdentifier, JSONText.serialize(body), time])
        return id
    }

    // MARK: Transitions

    func startInstance(id: String, body: [String: JSONValue], scope: String) throws -> PreparedWrite {
        var fields = FieldReader(body)
        let timestamp = fields.optionalTimestamp("timestamp")
        let key = fields.idempotencyKey()
        try fields.check()
        return write(scope: scope, key: key) { db, time in
            let row = try self.requireInstance(db, id: id)
            let status: String = row["status"]
            guard status == AgentStatus.pending.rawValue else {
                throw APIError.invalidAction("Agent instance \(id) cannot start: it is \(status)")
            }
            try db.execute(
                cached: "UPDATE agent_instances SET status = 'active', started_at = ?, updated_at = ? WHERE id = ?",
                arguments: [timestamp ?? time, time, id])
            return try self.instanceResponse(db, id: id)
        }
    }

    func finishInstance(id: String, body: [String: JSONValue], scope: String) throws -> PreparedWrite {
        var fields = FieldReader(body)
        let status = fields.optionalEnum("status", FinishStatus.self) ?? .complete
        let timestamp = fields.optionalTimestamp("timestamp")
        let key = fields.idempotencyKey()
        try fields.check()
        return write(scope: scope, key: key) { db, time in
            let row = try self.requireInstance(db, id: id)
            let current: String = row["status"]
            guard current == AgentStatus.pending.rawValue || current == AgentStatus.active.rawValue else {
                throw APIError.invalidAction("Agent instance \(id) is already \(current)")
            }
            try db.execute(
                cached: "UPDATE agent_instances SET status = ?, finished_at = ?, updated_at = ? WHERE id = ?",
                arguments: [status.rawValue, timestamp ?? time, time, id])
            return try self.instanceResponse(db, id: id)
        }
    }

    func terminateInstance(id: String, body: [String: JSONValue], scope: String) throws -> PreparedWrite {
        var fields = FieldReader(body)
        let reason = fields.optionalString("reason")
        let key = fields.idempotencyKey()
        try fields.check()
        return write(scope: scope, key: key) { db, time in
            let row = try self.requireInstance(db, id: id)
            let current: String = row["status"]
            guard current == AgentStatus.pending.rawValue || current == AgentStatus.active.rawValue else {
                throw APIError.invalidAction("Agent instance \(id) is already \(current)")
            }
            try db.execute(
                cached: """
                    UPDATE agent_instances SET status = 'terminated', termination_reason = ?, finished_at = ?,
                        updated_at = ? WHERE id = ?
                    """,
                arguments: [reason, time, time, id])
            return try self.instanceResponse(db, id: id)
        }
    }

    func recordQuality(id: String, body: [String: JSONValue], scope: String) throws -> PreparedWrite {
        var fields = FieldReader(body)
        let name = fields.requiredString("name")
        if body["payload"] == nil {
            fields.fail("payload", "is required (an object, or null to remove the record)")
        }
        let payload = fields.optionalObject("payload")
        let key = fields.idempotencyKey()
        try fields.check()
        guard let name else { throw APIError.invalidField("name", "is required") }
        return write(scope: scope, key: key) { db, time in
            let row = try self.requireInstance(db, id: id)
            let info = try self.schemaInfo(db, id: row["schema_version_id"])
            guard info.qualityNames.contains(name) else {
                let known = info.qualityNames.sorted().joined(separator: ", ")
                throw APIError.invalidField(
                    "name",
                    "is not a quality schema of this instance's schema version (known: \(known.isEmpty ? "none" : known))")
            }
            let text: String = row["quality_payloads"]
            var quality = (try? JSONValue(parsing: Data(text.utf8)))?.objectValue ?? [:]
            if let payload { quality[name] = .object(payload) } else { quality[name] = nil }
            try db.execute(
                cached: "UPDATE agent_instances SET quality_payloads = ?, updated_at = ? WHERE id = ?",
                arguments: [JSONText.serialize(quality), time, id])
            return try self.instanceResponse(db, id: id)
        }
    }

    // MARK: Reads

    func instance(id: String) async throws -> StoredResponse {
        try await read { db in try self.instanceResponse(db, id: id) }
    }

    func listInstances(_ query: QueryParameters) async throws -> StoredResponse {
        var errors: [String: [String]] = [:]
        let page = query.page(errors: &errors)
        let sort = query.sorting(
            allowed: ["inserted_at", "updated_at", "started_at", "finished_at", "status", "id"], default: "-inserted_at",
            errors: &errors)
        let agentID = query["agent_id"]
        let status = query["status"]
        if let status, AgentStatus(rawValue: status) == nil {
            errors["status", default: []].append("must be one of \(AgentStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let updatedSince = query.timestamp("updated_since", errors: &errors)
        if !errors.isEmpty { throw APIError.validation(errors) }
        return try await read { db in
            if let agentID,
                try Bool.fetchOne(cached: db, sql: "SELECT 1 FROM agents WHERE id = ?", arguments: [agentID]) == nil
            {
                throw APIError.notFound("Agent \(agentID) not found")
            }
            var conditions: [String] = []
            var arguments = StatementArguments()
            if let agentID {
                conditions.append("agent_id = ?")
                arguments += [agentID]
            }
            if let status {
                conditions.append("status = ?")
                arguments += [status]
            }
            if let updatedSince {
                conditions.append("updated_at >= ?")
                arguments += [updatedSince]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let total =
                try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM agent_instances \(filter)", arguments: arguments) ?? 0
            let rows = try Row.fetchAll(
                cached: db,
                sql: """
                    SELECT \(Store.instanceColumns) FROM agent_instances \(filter)
                    ORDER BY \(sort.sql), id LIMIT ? OFFSET ?
                    """,
                arguments: arguments + [page.size, page.offset])
            let items = try rows.map { try self.renderInstance(db, $0) }
            return Store.list(
                items,
                pagination: Pagination(itemCount: total, offset: page.offset, pageSize: page.size, itemsOnPage: items.count),
                sorting: sort.wire)
        }
    }

    func agentContext(id: String) async throws -> StoredResponse {
        try await read { db in
            let row = try self.requireInstance(db, id: id)
            let spans = try db.fetchAll(
                cached: "SELECT \(Store.spanColumns) FROM agent_spans WHERE agent_instance_id = ? ORDER BY started_at, id",
                arguments: [id], Store.spanRow)
            let info = try self.schemaInfo(db, id: row["schema_version_id"])
            var body = JSONObjectText()
            body.string("format", "agent_context_v1")
            body.raw("instance", try self.renderInstance(db, row))
            body.raw("spans", "[" + spans.map { self.renderSpan($0, summaryFrom: info) }.joined(separator: ",") + "]")
            var context = JSONObjectText()
            context.raw("body", body.result)
            var object = JSONObjectText()
            object.string("status", "success")
            object.raw("agent_context", context.result)
            return .success(object.result)
        }
    }
}
