import Foundation
import GRDB

/// Where the server keeps its data.
public enum DatabaseLocation: Sendable, Hashable {
    /// A SQLite file; created with its folder when missing.
    case file(String)
    /// A private in-memory database, gone when the server stops.
    case inMemory

    /// The default file: `$XDG_DATA_HOME/prefactor/prefactor.sqlite`, or `~/.local/share/prefactor/prefactor.sqlite`.
    ///
    /// - Parameter environment: The process environment.
    /// - Returns: The path.
    public static func defaultFilePath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base: String
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty {
            base = xdg
        } else {
            base = (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share"
        }
        return base + "/prefactor/prefactor.sqlite"
    }
}

enum Database {
    /// Opens (creating if needed) and migrates the database.
    static func open(_ location: DatabaseLocation) throws -> any DatabaseWriter {
        var configuration = Configuration()
        configuration.label = "prefactor"
        configuration.busyMode = .timeout(10)
        let writer: any DatabaseWriter
        switch location {
        case .inMemory:
            writer = try DatabaseQueue(configuration: configuration)
        case .file(let path):
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            // Readable by its owner only: it holds whatever agents sent. SQLite gives the -wal and -shm files the
            // database file's mode.
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // Checkpoints run in the background (Checkpointer), never on the write path.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
                try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
            }
            writer = try DatabasePool(path: path, configuration: configuration)
        }
        try migrator.migrate(writer)
        return writer
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL);
                    CREATE TABLE environments (
                        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL);
                    CREATE TABLE agents (
                        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT,
                        external_identifier TEXT, status TEXT NOT NULL, owner_person_id TEXT, risk_profile_id TEXT,
                        team_id TEXT, inserted_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
                    CREATE UNIQUE INDEX agents_external_identifier
                        ON agents(account_id, external_identifier) WHERE external_identifier IS NOT NULL;
                    CREATE TABLE agent_versions (
                        id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, external_identifier TEXT NOT NULL,
                        body TEXT NOT NULL, inserted_at INTEGER NOT NULL, UNIQUE(agent_id, external_identifier));
                    CREATE TABLE agent_schema_versions (
                        id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, external_identifier TEXT NOT NULL,
                        body TEXT NOT NULL, inserted_at INTEGER NOT NULL, UNIQUE(agent_id, external_identifier));
                    CREATE TABLE agent_deployments (
                        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, agent_id TEXT NOT NULL,
                        environment_id TEXT NOT NULL, current_version_id TEXT, inserted_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL, UNIQUE(agent_id, environment_id));
                    CREATE TABLE agent_instances (
                        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, agent_id TEXT NOT NULL,
                        agent_version_id TEXT NOT NULL, environment_id TEXT NOT NULL,
                        agent_deployment_id TEXT NOT NULL, schema_version_id TEXT, status TEXT NOT NULL,
                        purpose TEXT NOT NULL, external_identifier TEXT, inserted_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,
                        termination_reason TEXT, quality_payloads TEXT NOT NULL DEFAULT '{}',
                        span_pending INTEGER NOT NULL DEFAULT 0, span_active INTEGER NOT NULL DEFAULT 0,
                        span_complete INTEGER NOT NULL DEFAULT 0, span_failed INTEGER NOT NULL DEFAULT 0,
                        span_cancelled INTEGER NOT NULL DEFAULT 0);
                    CREATE INDEX agent_instances_by_agent ON agent_instances(agent_id, inserted_at);
                    CREATE INDEX agent_instances_by_update ON agent_instances(updated_at);
                    CREATE UNIQUE INDEX agent_instances_external_identifier
                        ON agent_instances(agent_id, external_identifier) WHERE external_identifier IS NOT NULL;
                    CREATE TABLE agent_spans (
                        id TEXT PRIMARY KEY, agent_instance_id TEXT NOT NULL, parent_span_id TEXT,
                        schema_name TEXT NOT NULL, schema_title TEXT, status TEXT NOT NULL, payload TEXT NOT NULL,
                        result_payload TEXT, account_id TEXT, agent_id TEXT, started_at INTEGER NOT NULL,
                        finished_at INTEGER, inserted_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
                    CREATE INDEX agent_spans_by_instance ON agent_spans(agent_instance_id, started_at);
                    CREATE INDEX agent_spans_by_update ON agent_spans(agent_instance_id, updated_at);
                    CREATE TABLE idempotency_records (
                        scope TEXT NOT NULL, key TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,
                        inserted_at INTEGER NOT NULL, PRIMARY KEY(scope, key)) WITHOUT ROWID;
                    """)
        }
        // Stored responses in the order they were written, found through a small index: keys are random, so a table
        // ordered by them took each new response into a random page of its own, and the write-ahead log carried (and
        // checkpoints copied) a page of responses for every write.
        migrator.registerMigration("v2-idempotency-in-write-order") { db in
            try db.execute(
                sql: """
                    CREATE TABLE idempotency_records_in_order (
                        seq INTEGER PRIMARY KEY, scope TEXT NOT NULL, key TEXT NOT NULL, status INTEGER NOT NULL,
                        body TEXT NOT NULL, inserted_at INTEGER NOT NULL);
                    INSERT INTO idempotency_records_in_order (scope, key, status, body, inserted_at)
                        SELECT scope, key, status, body, inserted_at FROM idempotency_records ORDER BY inserted_at;
                    DROP TABLE idempotency_records;
                    ALTER TABLE idempotency_records_in_order RENAME TO idempotency_records;
                    CREATE UNIQUE INDEX idempotency_records_by_key ON idempotency_records(scope, key);
                    """)
        }
        return migrator
    }
}
