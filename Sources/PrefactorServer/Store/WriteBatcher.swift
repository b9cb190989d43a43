import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// Group commit: applies queued write jobs in one SQLite transaction, each in its own savepoint.
///
/// A job that throws rolls back to its savepoint and fails alone; the others commit together. Jobs run in arrival
/// order, so two requests with the same idempotency key in one batch see each other. A run (the items of a bulk
/// request) is queued as one: its jobs run back to back, and the first that fails ends it.
final class WriteBatcher: Sendable {
    typealias Outcome = Result<StoredResponse, any Error>

    private struct Pending {
        var writes: [PreparedWrite]
        var continuation: CheckedContinuation<[Outcome], Never>
    }

    private struct State {
        var pending: [Pending] = []
        var running = false
    }

    private let writer: any DatabaseWriter
    private let now: @Sendable () -> Int64
    private let state = Mutex(State())
    /// How much the write-ahead log holds, as the writer connection reports after each commit; `nil` without a log
    /// (an in-memory database).
    private let log: LogLength?
    /// How much the write-ahead log may hold before the next batch is followed by a checkpoint that starts it over.
    ///
    /// Background checkpoints (``Checkpointer``) are passive: under a steady stream of writes they never catch up
    /// with the end of the log, so the log could never start over and would grow without bound. This one runs on the
    /// writer connection, between two batches, so no write can overtake it. It is a `RESTART` checkpoint: the next
    /// write goes back to the start of the file, which keeps its size; writing over pages the file already has is
    /// cheaper than growing a truncated file again.
    private let walCheckpointBytes: Int
    /// The most jobs applied in one transaction (a longer run goes alone).
    static let maximumBatch = 256

    /// A connection of its own for the passive checkpoints started while the log fills (see ``boundWAL()``).
    private let eagerCheckpoints: DatabaseQueue?
    private let eagerCheckpointRunning = Atomic<Bool>(false)
    /// How much the log held when the last of those checkpoints started; 0 once the log has started over.
    private let eagerCheckpointFrom = Atomic<Int>(0)
    /// How much the log grows between two of those checkpoints: a sixteenth of the bound.
    private var eagerCheckpointStep: Int { walCheckpointBytes / 16 }

    /// - Parameter path: The database file, for a database with a write-ahead log; `nil` for one in memory.
    init(
        writer: any DatabaseWriter, path: String? = nil, walCheckpointBytes: Int = 32 << 20,
        now: @escaping @Sendable () -> Int64
    ) throws {
        self.writer = writer
        self.log = path == nil ? nil : try LogLength(writer)
        if let path {
            var configuration = Configuration()
            configuration.label = "prefactor.checkpoint.eager"
            self.eagerCheckpoints = try DatabaseQueue(path: path, configuration: configuration)
        } else {
            self.eagerCheckpoints = nil
        }
        self.walCheckpointBytes = walCheckpointBytes
        self.now = now
    }

    /// Starts the write-ahead log over when it holds more than ``walCheckpointBytes``. When the checkpoint cannot
    /// finish (the background one holds the checkpoint lock, or readers still use old pages) it is tried again after
    /// the next batch; past 7/4 of the threshold, writes wait for it (at most about a second).
    ///
    /// Once the log is half full, passive checkpoints run on a connection of their own, beside the writes, each time
    /// the log has grown by another sixteenth of the bound, so that the checkpoint on the write path has only the
    /// last frames to copy and writes pause briefly. Each one then flushes the database file (see
    /// ``syncDatabaseFile(_:)``), so that the flush on the write path has only those last pages to write.
    ///
    /// Not one right after another: each copies the pages written since the one before, and the pages every batch
    /// writes (the instance's row, the ends of the tables and indexes) would be copied and flushed again each time.
    private func boundWAL() async {
        guard let log else { return }
        let bytes = log.bytes
        if bytes > walCheckpointBytes / 2, bytes <= walCheckpointBytes,
            bytes >= eagerCheckpointFrom.load(ordering: .relaxed) + eagerCheckpointStep, let eagerCheckpoints,
            eagerCheckpointRunning.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        {
            eagerCheckpointFrom.store(bytes, ordering: .relaxed)
            let running = self
            Task.detached {
                _ = try? await eagerCheckpoints.writeWithoutTransaction { db in
                    try db.checkpoint(.passive)
                    WriteBatcher.syncDatabaseFile(db)
                }
                running.eagerCheckpointRunning.store(false, ordering: .releasing)
            }
        }
        guard bytes > walCheckpointBytes else { return }
        for attempt in 0..<200 {
            if (try? await writer.writeWithoutTransaction({ db in try db.checkpoint(.restart) })) != nil {
                // Every frame is in the database file and no reader needs the log: the next commit writes from its
                // start (and reports its new length).
                log.reset()
                eagerCheckpointFrom.store(0, ordering: .relaxed)
                return
            }
            if log.bytes <= walCheckpointBytes / 4 * 7 { return }
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(5)) }
        }
    }

    /// Flushes the database file to disk, through the connection's own file handle.
    ///
    /// A passive checkpoint that the writes overtake copies pages into the database file without flushing it: SQLite
    /// flushes the file only in the checkpoint that reaches the end of the log, here the `RESTART` on the write path,
    /// which would then write to disk every page the passive ones copied while writes wait. Flushing after each
    /// passive checkpoint, on its own connection, leaves it only the pages it copies itself.
    private static func syncDatabaseFile(_ db: GRDB.Database) {
        var file: UnsafeMutablePointer<sqlite3_file>?
        guard sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_FILE_POINTER, &file) == SQLITE_OK,
            let file, let sync = file.pointee.pMethods?.pointee.xSync
        else { return }
        _ = sync(file, SQLITE_SYNC_NORMAL)
    }

    /// Queues one write.
    func submit(_ write: PreparedWrite) async -> Outcome {
        await submit(run: [write]).first ?? .failure(CancellationError())
    }

    /// Queues a run of writes, applied in order in one transaction; the run stops at the first write that throws
    /// (rolled back to its savepoint) or answers with a status outside 2xx.
    ///
    /// - Returns: The outcome of each write that ran.
    func submit(run writes: [PreparedWrite]) async -> [Outcome] {
        guard !writes.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.pending.append(Pending(writes: writes, continuation: continuation))
                if state.running { return false }
                state.running = true
                return true
            }
            if start {
                Task { await self.drain() }
            }
        }
    }

    /// Applies a run's writes, each in its own savepoint when it needs one, up to the first that fails.
    private static func apply(_ writes: [PreparedWrite], _ db: GRDB.Database, now: () -> Int64) throws -> [Outcome] {
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(writes.count)
        for write in writes {
            let outcome: Outcome
            if write.isolated {
                try db.execute(cached: "SAVEPOINT request")
                do {
                    let response = try write.job(db, now())
                    try db.execute(cached: "RELEASE SAVEPOINT request")
                    outcome = .success(response)
                } catch {
                    try db.execute(cached: "ROLLBACK TO SAVEPOINT request")
                    try db.execute(cached: "RELEASE SAVEPOINT request")
                    outcome = .failure(error)
                }
            } else {
                do { outcome = .success(try write.job(db, now())) } catch { outcome = .failure(error) }
            }
            outcomes.append(outcome)
            guard case .success(let response) = outcome, response.succeeded else { break }
        }
        return outcomes
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                var count = 0
                var taken = 0
                for pending in state.pending {
                    if taken > 0 && count + pending.writes.count > WriteBatcher.maximumBatch { break }
                    count += pending.writes.count
                    taken += 1
                }
                let batch = Array(state.pending.prefix(taken))
                state.pending.removeFirst(taken)
                if batch.isEmpty { state.running = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let runs = batch.map(\.writes)
            let now = self.now
            do {
                let outcomes = try await writer.write { db -> [[Outcome]] in
                    try runs.map { try WriteBatcher.apply($0, db, now: now) }
                }
                for (pending, outcome) in zip(batch, outcomes) { pending.continuation.resume(returning: outcome) }
                await boundWAL()
            } catch {
                for pending in batch { pending.continuation.resume(returning: [.failure(error)]) }
            }
        }
    }
}

/// The length of a connection's write-ahead log, kept up to date by its WAL hook (`sqlite3_wal_hook`), which SQLite
/// calls after each commit with the number of frames in the log: no file system call on the write path, and unlike
/// the file's size it drops when the log starts over.
final class LogLength: Sendable {
    private let frames = Atomic<Int>(0)
    private let frameBytes: Int

    /// Installs the hook on the writer connection (which then no longer checkpoints on its own: the server's
    /// checkpoints are explicit).
    init(_ writer: any DatabaseWriter) throws {
        frameBytes = (try writer.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") } ?? 4096) + 24
        // The hook's context lives as long as the connection, which may outlive this object: it is retained once and
        // never released (a few bytes per store).
        let context = Unmanaged.passRetained(self).toOpaque()
        writer.writeWithoutTransaction { db in
            _ = sqlite3_wal_hook(
                db.sqliteConnection,
                { context, _, _, frames in
                    guard let context else { return SQLITE_OK }
                    Unmanaged<LogLength>.fromOpaque(context).takeUnretainedValue().frames.store(
                        Int(frames), ordering: .relaxed)
                    return SQLITE_OK
                }, context)
        }
    }

    /// The bytes of the frames in the log.
    var bytes: Int { frames.load(ordering: .relaxed) * frameBytes }

    /// Records that the log starts over with the next commit.
    func reset() { frames.store(0, ordering: .relaxed) }
}
