import Foundation
import GRDB
import PrefactorWire

extension Store {
    static let spanColumns = """
        id, agent_instance_id, parent_span_id, schema_name, schema_title, status, payload, result_payload,
        account_id, agent_id, started_at, finished_at, inserted_at, updated_at
        """

    func renderSpan(_ row: Row, summaryFrom info: SchemaInfo? = nil) -> String {
        var object = JSONObjectText()
        object.string("type", "agent_span")
        object.string("id", row["id"])
        object.string("agent_instance_id", row["agent_instance_id"])
        object.string("account_id", row["account_id"])
        object.string("agent_id", row["agent_id"])
        object.string("parent_span_id", row["parent_span_id"])
        let schemaName: String = row["schema_name"]
        object.string("schema_name", schemaName)
        object.string("schema_title", row["schema_title"])
        object.string("status", row["status"])
        let payload: String = row["payload"]
        object.raw("payload", payload)
        let result: String? = row["result_payload"]
        object.raw("result_payload", result ?? "null")
        if let info {
            var summary: String?
            if let template = info.spanTemplates[schemaName] {
                var context = (try? JSONValue(parsing: Data(payload.utf8)))?.objectValue ?? [:]
                if let result, let resultObject = (try? JSONValue(parsing: Data(result.utf8)))?.objectValue {
                    context.merge(resultObject, uniquingKeysWith: { _, new in new })
                }
                summary = SummaryTemplate.render(template, context: context)
            }
            object.string("summary", summary)
        } else {
            object.string("summary", nil)
        }
        object.timestamp("started_at", microseconds: row["started_at"])
        object.timestamp("finished_at", microseconds: row["finished_at"])
        object.timestamp("inserted_at", microseconds: row["inserted_at"])
        object.timestamp("updated_at", microseconds: row["updated_at"])
        return object.result
    }

    /// The control block for spans of an instance, when it was terminated (spec §6).
    static func control(for instance: Row) -> String? {
        let status: String = instance["status"]
        guard status == AgentStatus.terminated.rawValue else { return nil }
        var control = JSONObjectText()
        control.bool("terminate", true)
        control.string("reason", instance["termination_reason"])
        return control.result
    }

    static func counterColumn(_ status: String) -> String? {
        switch status {
        case "pending": return "span_pending"
        case "active": return "span_active"
        case "complete": return "span_complete"
        case "failed": return "span_failed"
        case "cancelled": return "span_cancelled"
        default: return nil
        }
    }

    // MARK: Create

    func createSpan(_ body: [String: JSONValue], scope: String) async throws -> StoredResponse {
        var outer = FieldReader(body)
        let topKey = outer.idempotencyKey()
        guard let details = outer.optionalObject("details") else {
            outer.fail("details", body["details"] == nil ? "is required" : "must be an object")
            try outer.check()
            throw APIError.invalidField("details", "is required")
        }
        var fields = FieldReader(details)
        let instanceID = fields.requiredString("agent_instance_id")
        let schemaName = fields.requiredString("schema_name")
        let status = fields.optionalEnum("status", AgentStatus.self) ?? .active
        if status == .terminated { fields.fail("status", "cannot be terminated") }
        let payload = fields.optionalObject("payload") ?? [:]
        let resultPayload = fields.optionalObject("result_payload")
        let requestedID = fields.optionalString("id")
        if requestedID?.isEmpty == true { fields.fail("id", "must not be empty") }
        let parentID = fields.optionalString("parent_span_id")
        let startedAt = fields.optionalTimestamp("started_at")
        let finishedAt = fields.optionalTimestamp("finished_at")
        let innerKey = fields.idempotencyKey()
        for (field, messages) in outer.errors {
            for message in messages { fields.fail(field, message) }
        }
        try fields.check()
        guard let instanceID, let schemaName else { throw APIError.invalidField("details", "is incomplete") }
        let key = topKey ?? innerKey

        return try await write(scope: scope, key: key) { db, time in
            let instance = try self.requireInstance(db, id: instanceID)
            let spanID = requestedID ?? Store.newID("sp")
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM agent_spans WHERE id = ?", arguments: [spanID]) != nil {
                throw APIError.conflict("Span \(spanID) already exists")
            }
            if let parentID {
                guard
                    let parentInstance = try String.fetchOne(
                        db, sql: "SELECT agent_instance_id FROM agent_spans WHERE id = ?", arguments: [parentID])
                else {
                    throw APIError.invalidField("parent_span_id", "does not exist: \(parentID)")
                }
                guard parentInstance == instanceID else {
                    throw APIError.invalidField("parent_span_id", "belongs to another agent instance")
                }
            }
            let info = try self.schemaInfo(db, id: instance["schema_version_id"])
            let started = startedAt ?? time
            let finished: Int64? = status.isTerminal ? (finishedAt ?? time) : nil
            try db.execute(
                sql: """
                    INSERT INTO agent_spans
                        (id, agent_instance_id, parent_span_id, schema_name, schema_title, status, payload,
                         result_payload, account_id, agent_id, started_at, finished_at, inserted_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    spanID, instanceID, parentID, schemaName, info.spanTitles[schemaName] ?? schemaName,
                    status.rawValue, JSONText.serialize(payload), resultPayload.map(JSONText.serialize),
                    instance["account_id"], instance["agent_id"], started, finished, time, time,
                ])
            let column = Store.counterColumn(status.rawValue)!
            try db.execute(
                sql: "UPDATE agent_instances SET \(column) = \(column) + 1, updated_at = ? WHERE id = ?",
                arguments: [time, instanceID])
            let row = try Row.fetchOne(db, sql: "SELECT \(Store.spanColumns) FROM agent_spans WHERE id = ?", arguments: [spanID])!
            return Store.success(self.renderSpan(row), control: Store.control(for: instance))
        }
    }

    // MARK: Finish

    func finishSpan(id: String, body: [String: JSONValue], scope: String) async throws -> StoredResponse {
        var fields = FieldReader(body)
        let status = fields.optionalEnum("status", FinishStatus.self) ?? .complete
        let resultPayload = fields.optionalObject("result_payload")
        let timestamp = fields.optionalTimestamp("timestamp")
        let key = fields.idempotencyKey()
        try fields.check()
        return try await write(scope: scope, key: key) { db, time in
            guard
                let span = try Row.fetchOne(
                    db, sql: "SELECT \(Store.spanColumns) FROM agent_spans WHERE id = ?", arguments: [id])
            else { throw APIError.notFound("Span \(id) not found") }
            let current: String = span["status"]
            switch current {
            case AgentStatus.active.rawValue:
                break
            case AgentStatus.pending.rawValue where status == .cancelled:
                break
            case AgentStatus.pending.rawValue:
                throw APIError.invalidAction("Span \(id) is pending: a span that never started can only be cancelled")
            default:
                throw APIError.invalidAction("Span \(id) is already \(current)")
            }
            let instanceID: String = span["agent_instance_id"]
            try db.execute(
                sql: """
                    UPDATE agent_spans SET status = ?, result_payload = COALESCE(?, result_payload), finished_at = ?,
                        updated_at = ? WHERE id = ?
                    """,
                arguments: [status.rawValue, resultPayload.map(JSONText.serialize), timestamp ?? time, time, id])
            let from = Store.counterColumn(current)!
            let to = Store.counterColumn(status.rawValue)!
            try db.execute(
                sql: "UPDATE agent_instances SET \(from) = \(from) - 1, \(to) = \(to) + 1, updated_at = ? WHERE id = ?",
                arguments: [time, instanceID])
            let instance = try self.requireInstance(db, id: instanceID)
            let row = try Row.fetchOne(db, sql: "SELECT \(Store.spanColumns) FROM agent_spans WHERE id = ?", arguments: [id])!
            return Store.success(self.renderSpan(row), control: Store.control(for: instance))
        }
    }

    // MARK: List

    func listSpans(_ query: QueryParameters) async throws -> StoredResponse {
        var errors: [String: [String]] = [:]
        let instanceID = query["agent_instance_id"]
        if instanceID == nil { errors["agent_instance_id", default: []].append("is required") }
        let startTime = query.timestamp("start_time", errors: &errors)
        let endTime = query.timestamp("end_time", errors: &errors)
        let updatedSince = query.timestamp("updated_since", errors: &errors)
        let page = query.page(errors: &errors)
        let sort = query.sorting(
            allowed: ["started_at", "finished_at", "inserted_at", "updated_at", "status", "schema_name", "id"],
            default: "started_at", errors: &errors)
        let includeSummaries = query.bool("include_summaries")
        if !errors.isEmpty { throw APIError.validation(errors) }
        guard let instanceID else { throw APIError.invalidField("agent_instance_id", "is required") }
        return try await read { db in
            let instance = try self.requireInstance(db, id: instanceID)
            var conditions = ["agent_instance_id = ?"]
            var arguments: StatementArguments = [instanceID]
            if let startTime {
                conditions.append("started_at >= ?")
                arguments += [startTime]
            }
            if let endTime {
                conditions.append("started_at <= ?")
                arguments += [endTime]
            }
            if let updatedSince {
                conditions.append("updated_at >= ?")
                arguments += [updatedSince]
            }
            let filter = "WHERE " + conditions.joined(separator: " AND ")
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM agent_spans \(filter)", arguments: arguments) ?? 0
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT \(Store.spanColumns) FROM agent_spans \(filter) ORDER BY \(sort.sql), inserted_at, id LIMIT ? OFFSET ?",
                arguments: arguments + [page.size, page.offset])
            let info = includeSummaries ? try self.schemaInfo(db, id: instance["schema_version_id"]) : nil
            let items = rows.map { self.renderSpan($0, summaryFrom: info) }
            return Store.list(
                items, pagination: Pagination(itemCount: total, offset: page.offset, pageSize: page.size, itemsOnPage: items.count),
                sorting: sort.wire)
        }
    }
}
