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
    /// Once the log is half full, passive checkpoints run one after another on a connection of their own, beside the
    /// writes, so that the checkpoint on the write path has only the last frames to copy and writes pause briefly.
    private func boundWAL() async {
        guard let log else { return }
        let bytes = log.bytes
        if bytes > walCheckpointBytes / 2, bytes <= walCheckpointBytes, let eagerCheckpoints,
            eagerCheckpointRunning.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        {
            let running = self
            Task.detached {
                _ = try? await eagerCheckpoints.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                running.eagerCheckpointRunning.store(false, ordering: .releasing)
            }
        }
        guard bytes > walCheckpointBytes else { return }
        for attempt in 0..<200 {
            if (try? await writer.writeWithoutTransaction({ db in try db.checkpoint(.restart) })) != nil {
                // Every frame is in the database file and no reader needs the log: the next commit writes from its
                // start (and reports its new length).
                log.reset()
                return
            }
            if log.bytes <= walCheckpointBytes / 4 * 7 { return }
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(5)) }
        }
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
