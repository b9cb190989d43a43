import Foundation
import GRDB
import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

@Suite(.timeLimit(.minutes(1)))
struct RestartTests {
    /// A fresh folder for one database; removed with everything in it (the SQLite file, `-wal` and `-shm`).
    static func withTemporaryDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("prefactor-server-tests-\(UUID().uuidString)", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try await body(folder.appendingPathComponent("nested/prefactor.sqlite").path)
    }

    /// A database written before stored responses were kept in write order (a table keyed by scope and key) is moved
    /// to the new table when opened: a request sent again with its key is still answered from its record.
    @Test func storedResponsesSurviveTheMoveToWriteOrder() async throws {
        try await Self.withTemporaryDatabase { path in
            let first = try await withAPI(database: .file(path)) { api in
                _ = try await api.register(["id": "ai_kept"])
                return try await api.createSpan(
                    instance: "ai_kept", ["id": "sp_kept", "started_at": "2025-01-01T00:00:01Z"],
                    topLevel: ["idempotency_key": "kept-key"])
            }
            // The file as the earlier schema left it.
            try await DatabaseQueue(path: path).write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE old_records (
                            scope TEXT NOT NULL, key TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,
                            inserted_at INTEGER NOT NULL, PRIMARY KEY(scope, key)) WITHOUT ROWID;
                        INSERT INTO old_records SELECT scope, key, status, body, inserted_at FROM idempotency_records;
                        DROP TABLE idempotency_records;
                        ALTER TABLE old_records RENAME TO idempotency_records;
                        DELETE FROM grdb_migrations WHERE identifier = 'v2-idempotency-in-write-order';
                        """)
                #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM idempotency_records") ?? 0 >= 1)
            }
            try await withAPI(database: .file(path)) { api in
                let replay = try await api.createSpan(
                    instance: "ai_kept", ["id": "sp_kept", "started_at": "2025-01-01T00:00:01Z"],
                    topLevel: ["idempotency_key": "kept-key"])
                expectIdentical(replay, first)
                #expect(try await api.spans(of: "ai_kept").count == 1)
            }
            let migrated = try await DatabaseQueue(path: path).read { db in
                try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            }
            #expect(migrated.contains("v2-idempotency-in-write-order"))
        }
    }

    @Test func everythingSurvivesARestart() async throws {
        try await Self.withTemporaryDatabase { path in
            struct Saved: Sendable {
                var snapshot: String
                var agent: String
                var spanCreate: Reply
                var context: String
                var summaries: [JSONValue]
            }
            let saved = try await withAPI(database: .file(path)) { api in
                _ = try await api.createAgent(["id": "agent_kept", "name": "Kept", "external_identifier": "kept"])
                _ = try await api.register(["id": "ai_kept", "agent_id": "agent_kept"])
                _ = try await api.post("/api/v1/agent_instance/ai_kept/start", ["timestamp": "2025-01-01T00:00:00Z"]).details()
                _ = try await api.post(
                    "/api/v1/agent_instance/ai_kept/record_quality", ["name": "accuracy", "payload": ["score": 7]]
                ).details()
                let spanCreate = try await api.createSpan(
                    instance: "ai_kept", ["id": "sp_kept", "started_at": "2025-01-01T00:00:01Z"],
                    topLevel: ["idempotency_key": "kept-key"])
                _ = try await api.post("/api/v1/agent_spans/sp_kept/finish", ["result_payload": ["response": "yes"]]).details()
                _ = try await api.createSpanID(
                    instance: "ai_kept", status: "pending", ["parent_span_id": "sp_kept", "started_at": "2025-01-01T00:00:02Z"])
                _ = try await api.register(["id": "ai_done"])
                _ = try await api.post("/api/v1/agent_instance/ai_done/terminate", ["reason": "end of day"]).details()
                return Saved(
                    snapshot: try await api.snapshot(instances: ["ai_kept", "ai_done"]),
                    agent: try await api.get("/api/v1/agent/agent_kept").text,
                    spanCreate: spanCreate,
                    context: try await api.get("/api/v1/agent_instance/ai_kept/agent_context").text,
                    summaries: try await api.spans(of: "ai_kept", query: "include_summaries=true"))
            }
            #expect(FileManager.default.fileExists(atPath: path))

            try await withAPI(database: .file(path)) { api in
                #expect(try await api.snapshot(instances: ["ai_kept", "ai_done"]) == saved.snapshot)
                #expect(try await api.get("/api/v1/agent/agent_kept").text == saved.agent)
                #expect(try await api.get("/api/v1/agent_instance/ai_kept/agent_context").text == saved.context)
                let summaries = try await api.spans(of: "ai_kept", query: "include_summaries=true")
                #expect(summaries == saved.summaries)
                #expect(summaries.first?["summary"] == "gpt-4 said yes")

                let instance = try await api.getInstance("ai_kept").details()
                #expect(instance["status"] == "active")
                #expect(instance["started_at"] == "2025-01-01T00:00:00.000000Z")
                #expect(instance["quality_payloads"] == ["accuracy": ["score": 7]])
                #expect(instance["quality_summaries"] == ["accuracy": "score=7"])
                #expect(instance["span_counts"]?["total"] == 2)
                #expect(try await api.getInstance("ai_done").details()["termination_reason"] == "end of day")

                // Idempotency records survive too: the replay returns the stored response and adds nothing.
                let replay = try await api.createSpan(
                    instance: "ai_kept", ["id": "sp_kept", "started_at": "2025-01-01T00:00:01Z"],
                    topLevel: ["idempotency_key": "kept-key"])
                expectIdentical(replay, saved.spanCreate)
                #expect(try await api.spans(of: "ai_kept").count == 2)

                // State machines continue where they were, and the schema version is still known.
                try await api.post("/api/v1/agent_spans/sp_kept/finish", [:]).expectError(409, "invalid_action")
                try await api.post("/api/v1/agent_instance/ai_done/finish", [:]).expectError(409, "invalid_action")
                _ = try await api.post(
                    "/api/v1/agent_instance/ai_kept/record_quality", ["name": "tone", "payload": ["label": "warm"]]
                ).details()
                let finished = try await api.post("/api/v1/agent_instance/ai_kept/finish", ["status": "complete"]).details()
                #expect(finished["status"] == "complete")
                // The default agent is not duplicated by the second start.
                #expect(try await api.get("/api/v1/agent").summaries().map { $0["id"] } == ["agent_kept", "agent_local"])
            }
        }
    }

    @Test func aNewFileStartsEmptyWithTheDefaultAgent() async throws {
        try await Self.withTemporaryDatabase { path in
            try await withAPI(database: .file(path)) { (api: API) async throws in
                #expect(try await api.get("/api/v1/agent").summaries().map { $0["id"] } == ["agent_local"])
                #expect(try await api.get("/api/v1/agent_instance").summaries().isEmpty)
            }
        }
    }
}
