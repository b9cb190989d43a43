import Foundation
import GRDB
import PrefactorWire

extension Store {
    static let agentColumns = """
        id, name, description, external_identifier, status, owner_person_id, risk_profile_id, team_id,
        inserted_at, updated_at
        """

    func requireAgent(_ db: GRDB.Database, id: String) throws -> Row {
        guard
            let row = try Row.fetchOne(cached: db, sql: "SELECT \(Store.agentColumns) FROM agents WHERE id = ?", arguments: [id])
        else { throw APIError.notFound("Agent \(id) not found") }
        return row
    }

    func renderAgent(_ db: GRDB.Database, _ row: Row, summary: Bool, counts: Bool = true) throws -> String {
        let id: String = row["id"]
        let status: String = row["status"]
        var object = JSONObjectText()
        object.string("type", "agent")
        object.string("id", id)
        object.string("name", row["name"])
        object.string("description", row["description"])
        object.string("external_identifier", row["external_identifier"])
        object.string("status", status)
        object.string("owner_person_id", row["owner_person_id"])
        if !summary { object.string("risk_profile_id", row["risk_profile_id"]) }
        object.string("team_id", row["team_id"])
        let instanceTotal =
            try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM agent_instances WHERE agent_id = ?", arguments: [id]) ?? 0
        if !summary && counts {
            var byStatus: [String: Int] = [:]
            for row in try Row.fetchAll(
                cached: db, sql: "SELECT status, COUNT(*) FROM agent_instances WHERE agent_id = ? GROUP BY status",
                arguments: [id])
            {
                byStatus[row[0]] = row[1]
            }
            var counts = JSONObjectText()
            counts.int("total", instanceTotal)
            for name in ["pending", "active", "complete", "failed", "cancelled", "terminated"] {
                counts.int(name, byStatus[name] ?? 0)
            }
            counts.int(
                "finished",
                ["complete", "failed", "cancelled", "terminated"].reduce(0) { $0 + (byStatus[$1] ?? 0) })
            object.raw("instance_counts", counts.result)
        }
        var actions = JSONObjectText()
        actions.bool("update", status != "retired")
        actions.bool("retire", status != "retired")
        actions.bool("reinstate", status == "retired")
        actions.bool("delete", instanceTotal == 0 && id != Store.defaultAgentID)
        object.raw("available_actions", actions.result)
        object.timestamp("inserted_at", microseconds: row["inserted_at"])
        object.timestamp("updated_at", microseconds: row["updated_at"])
        return object.result
    }

    func agentResponse(_ db: GRDB.Database, id: String) throws -> StoredResponse {
        Store.success(try renderAgent(db, requireAgent(db, id: id), summary: false))
    }

    func agent(id: String) async throws -> StoredResponse {
        try await read { db in try self.agentResponse(db, id: id) }
    }

    func createAgent(_ body: [String: JSONValue], scope: String) throws -> PreparedWrite {
        var outer = FieldReader(body)
        let key = outer.idempotencyKey()
        guard let details = outer.optionalObject("details") else {
            throw APIError.invalidField("details", body["details"] == nil ? "is required" : "must be an object")
        }
        var fields = FieldReader(details)
        let name = fields.requiredString("name")
        let description = fields.optionalString("description")
        let externalIdentifier = fields.optionalString("external_identifier")
        let requestedID = fields.optionalString("id")
        // An agent with an empty id could never be addressed: /api/v1/agent/ is no agent's path.
        if requestedID?.isEmpty == true { fields.fail("id", "must not be empty") }
        if externalIdentifier?.isEmpty == true { fields.fail("external_identifier", "must not be empty") }
        let owner = fields.optionalString("owner_person_id")
        let risk = fields.optionalString("risk_profile_id")
        let team = fields.optionalString("team_id")
        fields.absorb(outer)
        try fields.check()
        guard let name else { throw APIError.invalidField("name", "is required") }
        return write(scope: scope, key: key) { db, time in
            let id = requestedID ?? Store.newID("agent")
            if try Bool.fetchOne(cached: db, sql: "SELECT 1 FROM agents WHERE id = ?", arguments: [id]) != nil {
                throw APIError.conflict("Agent \(id) already exists")
            }
            if let externalIdentifier,
                try Bool.fetchOne(
                    cached: db, sql: "SELECT 1 FROM agents WHERE external_identifier = ?", arguments: [externalIdentifier]) != nil
            {
                throw APIError.conflict("An agent with external_identifier \(externalIdentifier) already exists")
            }
            try db.execute(
                cached: """
                    INSERT INTO agents (id, account_id, name, description, external_identifier, status,
                        owner_person_id, risk_profile_id, team_id, inserted_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)
                    """,
                arguments: [id, Store.accountID, name, description, externalIdentifier, owner, risk, team, time, time])
            return try self.agentResponse(db, id: id)
        }
    }

    func updateAgent(id: String, body: [String: JSONValue], scope: String) throws -> PreparedWrite {
        var outer = FieldReader(body)
        let key = outer.idempotencyKey()
        guard let details = outer.optionalObject("details") else {
            throw APIError.invalidField("details", body["details"] == nil ? "is required" : "must be an object")
        }
        var fields = FieldReader(details)
        var assignments: [(String, String?)] = []
        if details["name"] != nil, let name = fields.requiredString("name") { assignments.append(("name", name)) }
        for column in ["description", "owner_person_id", "risk_profile_id", "team_id"] where details[column] != nil {
            assignments.append((column, fields.optionalString(column)))
        }
        if details["external_identifier"] != nil { fields.fail("external_identifier", "cannot be changed") }
        fields.absorb(outer)
        try fields.check()
        let changes = assignments
        return write(scope: scope, key: key) { db, time in
            let row = try self.requireAgent(db, id: id)
            if (row["status"] as String) == "retired" {
                throw APIError.invalidAction("Agent \(id) is retired; reinstate it before updating")
            }
            for (column, value) in changes {
                try db.execute(
                    cached: "UPDATE agents SET \(column) = ?, updated_at = ? WHERE id = ?", arguments: [value, time, id])
            }
            return try self.agentResponse(db, id: id)
        }
    }

    func transitionAgent(id: String, action: String, body: [String: JSONValue], scope: String) throws -> PreparedWrite {
        var fields = FieldReader(body)
        let key = fields.idempotencyKey()
        try fields.check()
        return write(scope: scope, key: key) { db, time in
            let row = try self.requireAgent(db, id: id)
            let status: String = row["status"]
            switch action {
            case "retire":
                guard status != "retired" else { throw APIError.invalidAction("Agent \(id) is already retired") }
                try db.execute(
                    cached: "UPDATE agents SET status = 'retired', updated_at = ? WHERE id = ?", arguments: [time, id])
            case "reinstate":
                guard status == "retired" else { throw APIError.invalidAction("Agent \(id) is not retired") }
                try db.execute(cached: "UPDATE agents SET status = 'active', updated_at = ? WHERE id = ?", arguments: [time, id])
            default:
                guard id != Store.defaultAgentID else {
                    throw APIError.invalidAction("Agent \(id) is this server's default agent and cannot be deleted")
                }
                if try Bool.fetchOne(cached: db, sql: "SELECT 1 FROM agent_instances WHERE agent_id = ?", arguments: [id]) != nil
                {
                    throw APIError.invalidAction("Agent \(id) has instances and cannot be deleted; retire it instead")
                }
                let rendered = try self.renderAgent(db, row, summary: false)
                try db.execute(cached: "DELETE FROM agents WHERE id = ?", arguments: [id])
                return Store.success(rendered)
            }
            return try self.agentResponse(db, id: id)
        }
    }

    func listAgents(_ query: QueryParameters) async throws -> StoredResponse {
        var errors: [String: [String]] = [:]
        let page = query.page(errors: &errors)
        let sort = query.sorting(
            allowed: ["name", "id", "inserted_at", "updated_at", "status"], default: "name", errors: &errors)
        let updatedSince = query.timestamp("updated_since", errors: &errors)
        if !errors.isEmpty { throw APIError.validation(errors) }
        return try await read { db in
            var conditions: [String] = []
            var arguments = StatementArguments()
            for column in ["risk_profile_id", "team_id", "owner_person_id", "status"] {
                if let value = query[column] {
                    conditions.append("\(column) = ?")
                    arguments += [value]
                }
            }
            if let updatedSince {
                conditions.append(
                    "(updated_at >= ? OR id IN (SELECT agent_id FROM agent_instances WHERE updated_at >= ?))")
                arguments += [updatedSince, updatedSince]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let total = try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM agents \(filter)", arguments: arguments) ?? 0
            let rows = try Row.fetchAll(
                cached: db, sql: "SELECT \(Store.agentColumns) FROM agents \(filter) ORDER BY \(sort.sql), id LIMIT ? OFFSET ?",
                arguments: arguments + [page.size, page.offset])
            let items = try rows.map { try self.renderAgent(db, $0, summary: true) }
            return Store.list(
                items,
                pagination: Pagination(itemCount: total, offset: page.offset, pageSize: page.size, itemsOnPage: items.count),
                sorting: sort.wire)
        }
    }

    func showAgent(_ query: QueryParameters) async throws -> StoredResponse {
        let agentID = query["agent_id"]
        let externalIdentifier = query["external_identifier"]
        guard (agentID == nil) != (externalIdentifier == nil) else {
            throw APIError.validation(
                ["agent_id": ["exactly one of agent_id and external_identifier is required"]],
                message: "Validation failed: exactly one of agent_id and external_identifier is required")
        }
        let includeCounts = query.bool("include_counts")
        return try await read { db in
            let row: Row?
            if let agentID {
                row = try Row.fetchOne(
                    cached: db, sql: "SELECT \(Store.agentColumns) FROM agents WHERE id = ?", arguments: [agentID])
            } else {
                row = try Row.fetchOne(
                    cached: db, sql: "SELECT \(Store.agentColumns) FROM agents WHERE external_identifier = ?",
                    arguments: [externalIdentifier])
            }
            guard let row else { throw APIError.notFound("Agent \(agentID ?? externalIdentifier ?? "") not found") }
            return Store.success(try self.renderAgent(db, row, summary: false, counts: includeCounts))
        }
    }
}
