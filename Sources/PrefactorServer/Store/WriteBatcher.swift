import Foundation
import GRDB
import Synchronization

/// Group commit: applies queued write jobs in one SQLite transaction, each in its own savepoint.
///
/// A job that throws rolls back to its savepoint and fails alone; the others commit together. Jobs run in arrival
/// order, so two requests with the same idempotency key in one batch see each other.
final class WriteBatcher: Sendable {
    typealias Job = @Sendable (GRDB.Database, Int64) throws -> StoredResponse

    private struct Pending {
        var job: Job
        var isolated: Bool
        var continuation: CheckedContinuation<StoredResponse, any Error>
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

    /// Queues a job. `isolated: false` is for jobs that throw only before their first write, which then need no
    /// savepoint of their own.
    func submit(isolated: Bool = true, _ job: @escaping Job) async throws -> StoredResponse {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.pending.append(Pending(job: job, isolated: isolated, continuation: continuation))
                if state.running { return false }
                state.running = true
                return true
            }
            if start {
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let batch = Array(state.pending.prefix(WriteBatcher.maximumBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.running = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let jobs = batch.map { ($0.job, $0.isolated) }
            let now = self.now
            do {
                let results = try await writer.write { db -> [Result<StoredResponse, any Error>] in
                    var results: [Result<StoredResponse, any Error>] = []
                    results.reserveCapacity(jobs.count)
                    for (job, isolated) in jobs {
                        guard isolated else {
                            do { results.append(.success(try job(db, now()))) } catch { results.append(.failure(error)) }
                            continue
                        }
                        try db.execute(cached: "SAVEPOINT request")
                        do {
                            let response = try job(db, now())
                            try db.execute(cached: "RELEASE SAVEPOINT request")
                            results.append(.success(response))
                        } catch {
                            try db.execute(cached: "ROLLBACK TO SAVEPOINT request")
                            try db.execute(cached: "RELEASE SAVEPOINT request")
                            results.append(.failure(error))
                        }
                    }
                    return results
                }
                for (pending, result) in zip(batch, results) { pending.continuation.resume(with: result) }
                await boundWAL()
            } catch {
                for pending in batch { pending.continuation.resume(throwing: error) }
            }
        }
    }
}
