import Foundation
import GRDB
import PrefactorWire

extension Store {
    static let spanColumns = """
        id, agent_instance_id, parent_span_id, schema_name, schema_title, status, payload, result_payload,
        account_id, agent_id, started_at, finished_at, inserted_at, updated_at
        """

    static let qualifiedSpanColumns = spanColumns.split(separator: ",")
        .map { "s." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")

    /// A stored span, by column (in the order of ``spanColumns``).
    struct SpanRow {
        var id: String
        var instanceID: String
        var parentID: String?
        var schemaName: String
        var schemaTitle: String?
        var status: String
        var payload: String
        var resultPayload: String?
        var accountID: String?
        var agentID: String?
        var startedAt: Int64?
        var finishedAt: Int64?
        var insertedAt: Int64
        var updatedAt: Int64
    }

    static func spanRow(_ row: ColumnReader) -> SpanRow {
        SpanRow(
            id: row.text(0), instanceID: row.text(1), parentID: row.string(2), schemaName: row.text(3),
            schemaTitle: row.string(4), status: row.text(5), payload: row.text(6), resultPayload: row.string(7),
            accountID: row.string(8), agentID: row.string(9), startedAt: row.int64(10), finishedAt: row.int64(11),
            insertedAt: row.int64(12) ?? 0, updatedAt: row.int64(13) ?? 0)
    }

    func renderSpan(_ span: SpanRow, summaryFrom info: SchemaInfo? = nil) -> String {
        var object = JSONObjectText()
        object.string(AgentSpan.CodingKeys.type.rawValue, "agent_span")
        object.string(AgentSpan.CodingKeys.id.rawValue, span.id)
        object.string(AgentSpan.CodingKeys.agentInstanceID.rawValue, span.instanceID)
        object.string(AgentSpan.CodingKeys.accountID.rawValue, span.accountID)
        object.string(AgentSpan.CodingKeys.agentID.rawValue, span.agentID)
        object.string(AgentSpan.CodingKeys.parentSpanID.rawValue, span.parentID)
        let schemaName = span.schemaName
        object.string(AgentSpan.CodingKeys.schemaName.rawValue, schemaName)
        object.string(AgentSpan.CodingKeys.schemaTitle.rawValue, span.schemaTitle)
        object.string(AgentSpan.CodingKeys.status.rawValue, span.status)
        let payload = span.payload
        object.raw(AgentSpan.CodingKeys.payload.rawValue, payload)
        let result = span.resultPayload
        object.raw(AgentSpan.CodingKeys.resultPayload.rawValue, result ?? "null")
        if let info {
            var summary: String?
            if let template = info.spanTemplates[schemaName] {
                var context = (try? JSONValue(parsing: Data(payload.utf8)))?.objectValue ?? [:]
                if let result, let resultObject = (try? JSONValue(parsing: Data(result.utf8)))?.objectValue {
                    context.merge(resultObject, uniquingKeysWith: { _, new in new })
                }
                summary = SummaryTemplate.render(template, context: context)
            }
            object.string(AgentSpan.CodingKeys.summary.rawValue, summary)
        } else {
            object.string(AgentSpan.CodingKeys.summary.rawValue, nil)
        }
        object.timestamp(AgentSpan.CodingKeys.startedAt.rawValue, microseconds: span.startedAt)
        object.timestamp(AgentSpan.CodingKeys.finishedAt.rawValue, microseconds: span.finishedAt)
        object.timestamp(AgentSpan.CodingKeys.insertedAt.rawValue, microseconds: span.insertedAt)
        object.timestamp(AgentSpan.CodingKeys.updatedAt.rawValue, microseconds: span.updatedAt)
        return object.result
    }

    /// The control block for spans of an instance, when it was terminated (spec §6).
    static func control(status: String, reason: String?) -> String? {
        guard status == AgentStatus.terminated.rawValue else { return nil }
        var control = JSONObjectText()
        control.bool("terminate", true)
        control.string("reason", reason)
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

    func createSpan(_ body: [String: JSONValue], scope: String) throws -> PreparedWrite {
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
        // Both official SDKs always send the status (spec §3.7); a create without one is a client bug, not `active`.
        if details["status"] == nil || details["status"] == .null { fields.fail("status", "is required") }
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
        fields.absorb(outer)
        try fields.check()
        guard let instanceID, let schemaName else { throw APIError.invalidField("details", "is incomplete") }
        let key = topKey ?? innerKey

        return write(scope: scope, key: key, writesLast: true) { db, time in
            guard
                let instance = try db.fetchFirst(
                    cached:
                        "SELECT account_id, agent_id, schema_version_id, status, termination_reason FROM agent_instances WHERE id = ?",
                    [.text(instanceID)],
                    {
                        (
                            accountID: $0.text(0), agentID: $0.text(1), schemaVersionID: $0.string(2), status: $0.text(3),
                            reason: $0.string(4)
                        )
                    })
            else { throw APIError.notFound("Agent instance \(instanceID) not found") }
            let spanID = requestedID ?? Store.newID("sp")
            if requestedID != nil,
                try Bool.fetchOne(cached: db, sql: "SELECT 1 FROM agent_spans WHERE id = ?", arguments: [spanID]) != nil
            {
                throw APIError.conflict("Span \(spanID) already exists")
            }
            if let parentID {
                guard
                    let parentInstance = try String.fetchOne(
                        cached: db, sql: "SELECT agent_instance_id FROM agent_spans WHERE id = ?", arguments: [parentID])
                else {
                    throw APIError.invalidField("parent_span_id", "does not exist: \(parentID)")
                }
                guard parentInstance == instanceID else {
                    throw APIError.invalidField("parent_span_id", "belongs to another agent instance")
                }
            }
            let info = try self.schemaInfo(db, id: instance.schemaVersionID)
            let span = SpanRow(
                id: spanID, instanceID: instanceID, parentID: parentID, schemaName: schemaName,
                schemaTitle: info.spanTitles[schemaName] ?? schemaName, status: status.rawValue,
                payload: JSONText.serialize(payload), resultPayload: resultPayload.map(JSONText.serialize),
                accountID: instance.accountID, agentID: instance.agentID, startedAt: startedAt ?? time,
                finishedAt: status.isTerminal ? (finishedAt ?? time) : nil, insertedAt: time, updatedAt: time)
            try db.execute(
                cached: """
                    INSERT INTO agent_spans
                        (id, agent_instance_id, parent_span_id, schema_name, schema_title, status, payload,
                         result_payload, account_id, agent_id, started_at, finished_at, inserted_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                [
                    .text(span.id), .text(span.instanceID), .text(span.parentID), .text(span.schemaName), .text(span.schemaTitle),
                    .text(span.status), .text(span.payload), .text(span.resultPayload), .text(span.accountID),
                    .text(span.agentID),
                    .integer(span.startedAt), .integer(span.finishedAt), .integer(time), .integer(time),
                ])
            let column = Store.counterColumn(status.rawValue)!
            try db.execute(
                cached: "UPDATE agent_instances SET \(column) = \(column) + 1, updated_at = ? WHERE id = ?",
                [.integer(time), .text(instanceID)])
            return Store.success(self.renderSpan(span), control: Store.control(status: instance.status, reason: instance.reason))
        }
    }

    // MARK: Finish

    func finishSpan(id: String, body: [String: JSONValue], scope: String) throws -> PreparedWrite {
        var fields = FieldReader(body)
        let status = fields.optionalEnum("status", FinishStatus.self) ?? .complete
        let resultPayload = fields.optionalObject("result_payload")
        let timestamp = fields.optionalTimestamp("timestamp")
        let key = fields.idempotencyKey()
        try fields.check()
        return write(scope: scope, key: key, writesLast: true) { db, time in
            guard
                let (found, instanceStatus, terminationReason) = try db.fetchFirst(
                    cached: """
                        SELECT \(Store.qualifiedSpanColumns), i.status, i.termination_reason
                        FROM agent_spans s JOIN agent_instances i ON i.id = s.agent_instance_id WHERE s.id = ?
                        """,
                    [.text(id)], { (Store.spanRow($0), $0.text(14), $0.string(15)) })
            else { throw APIError.notFound("Span \(id) not found") }
            var span = found
            let current = span.status
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
            let instanceID = span.instanceID
            span.status = status.rawValue
            if let resultPayload { span.resultPayload = JSONText.serialize(resultPayload) }
            span.finishedAt = timestamp ?? time
            span.updatedAt = time
            try db.execute(
                cached: """
                    UPDATE agent_spans SET status = ?, result_payload = ?, finished_at = ?,
                        updated_at = ? WHERE id = ?
                    """,
                [.text(span.status), .text(span.resultPayload), .integer(span.finishedAt), .integer(time), .text(id)])
            let from = Store.counterColumn(current)!
            let to = Store.counterColumn(status.rawValue)!
            try db.execute(
                cached: "UPDATE agent_instances SET \(from) = \(from) - 1, \(to) = \(to) + 1, updated_at = ? WHERE id = ?",
                [.integer(time), .text(instanceID)])
            return Store.success(
                self.renderSpan(span), control: Store.control(status: instanceStatus, reason: terminationReason))
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
            let total = try Int.fetchOne(cached: db, sql: "SELECT COUNT(*) FROM agent_spans \(filter)", arguments: arguments) ?? 0
            let spans = try db.fetchAll(
                cached:
                    "SELECT \(Store.spanColumns) FROM agent_spans \(filter) ORDER BY \(sort.sql), inserted_at, id LIMIT ? OFFSET ?",
                arguments: arguments + [page.size, page.offset], Store.spanRow)
            let info = includeSummaries ? try self.schemaInfo(db, id: instance["schema_version_id"]) : nil
            let items = spans.map { self.renderSpan($0, summaryFrom: info) }
            return Store.list(
                items,
                pagination: Pagination(itemCount: total, offset: page.offset, pageSize: page.size, itemsOnPage: items.count),
                sorting: sort.wire)
        }
    }
}
