import GRDB
import Logging
import ServiceLifecycle

/// Moves the write-ahead log into the database file in the background, on its own connection, so that writers
/// never wait for a checkpoint's disk flush. Runs as a service next to the HTTP server; checkpoints once more
/// when it stops.
struct Checkpointer: Service {
    let path: String
    let interval: Duration
    let logger: Logger

    func run() async throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.label = "prefactor.checkpoint"
        let connection = try DatabaseQueue(path: path, configuration: configuration)
        defer { checkpoint(connection, mode: "TRUNCATE") }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await withGracefulShutdownHandler {
                    try await Task.sleep(for: interval)
                } onGracefulShutdown: {
                }
            } catch {
                return
            }
            checkpoint(connection, mode: "PASSIVE")
        }
    }

    private func checkpoint(_ connection: DatabaseQueue, mode: String) {
        do {
            try connection.writeWithoutTransaction { db in
                _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(\(mode))")
            }
        } catch {
            logger.debug("Checkpoint failed; it is retried", metadata: ["error": "\(error)"])
        }
    }
}
