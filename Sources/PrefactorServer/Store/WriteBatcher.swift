import Foundation
import GRDB
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
    /// The write-ahead log of a database file, watched after each batch.
    private let walPath: String?
    /// The size of the write-ahead log past which the next batch is followed by a checkpoint that truncates it.
    ///
    /// Background checkpoints (``Checkpointer``) are passive: under a steady stream of writes they never catch up
    /// with the end of the log, so the log could never start over and would grow without bound. This one runs on the
    /// writer connection, between two batches, so no write can overtake it.
    private let walCheckpointBytes: Int
    /// The most jobs applied in one transaction.
    static let maximumBatch = 256

    init(
        writer: any DatabaseWriter, walPath: String? = nil, walCheckpointBytes: Int = 32 << 20,
        now: @escaping @Sendable () -> Int64
    ) {
        self.writer = writer
        self.walPath = walPath
        self.walCheckpointBytes = walCheckpointBytes
        self.now = now
    }

    /// Truncates the write-ahead log when it has grown past ``walCheckpointBytes``. When the checkpoint cannot
    /// finish (the background one holds the checkpoint lock, or readers still use old pages) it is tried again after
    /// the next batch; past 7/4 of the threshold, writes wait for it (at most about a second).
    private func boundWAL() async {
        guard let walPath else { return }
        func size() -> Int {
            var status = stat()
            return stat(walPath, &status) == 0 ? Int(status.st_size) : 0
        }
        guard size() > walCheckpointBytes else { return }
        for attempt in 0..<200 {
            _ = try? await writer.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
            let now = size()
            if now <= walCheckpointBytes || now <= walCheckpointBytes / 4 * 7 { return }
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
