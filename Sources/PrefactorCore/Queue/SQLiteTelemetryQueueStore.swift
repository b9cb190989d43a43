import Dispatch
import Foundation
import GRDB
import PrefactorWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A ``TelemetryQueueStore`` in a SQLite file (WAL mode): queued operations survive a crash of the process and are
/// delivered by the next client opened on the file (or by `prefactor queue deliver`).
///
/// Every operation is written before the call that queued it returns: each step's changes are appended to the file's
/// log (`FILE-log0`, `FILE-log1`, see ``QueueLogCodec``) with one `write`, and the log is applied to the SQLite file
/// in batches, off the agent's path (a second after the first step not yet applied, or at once past 8 MiB), and replayed when the file is
/// opened again. Settling an operation and recording what it produced (a span's API id, which later finishes and
/// children need) are one log frame and one transaction. A file is owned by one live process at a time (an exclusive
/// lock on `FILE.lock`); others may open it read-only to inspect it, the log included.
///
/// What survives what: with ``Durability/processCrash`` (the default: the log is written without a sync, the SQLite
/// file with `synchronous=NORMAL`) a crash or `kill -9` of the process loses nothing that was acknowledged, since the
/// written log is in the operating system's hands; a power loss or an operating system crash may lose the last
/// writes. ``Durability/powerLoss`` syncs every log write to the disk (`fdatasync`) and the SQLite file with
/// `synchronous=FULL`, and survives those too, at a higher cost per operation.
public final class SQLiteTelemetryQueueStore: TelemetryQueueStore {
    /// How hard each write is pushed to the disk.
    public enum Durability: String, Sendable, Hashable, CaseIterable {
        /// Survives a crash of the process (`synchronous=NORMAL` in WAL mode).
        case processCrash = "normal"
        /// Survives a power loss too (`synchronous=FULL`).
        case powerLoss = "full"
    }

    /// Who owns a queue file.
    public struct Owner: Sendable, Hashable, Codable {
        /// The process id.
        public var pid: Int32
        /// The command line.
        public var command: String
        /// When the process opened the file.
        public var startedAt: Date

        /// Creates an owner record.
        public init(pid: Int32, command: String, startedAt: Date) {
            self.pid = pid
            self.command = command
            self.startedAt = startedAt
        }

        /// This process.
        public static var current: Owner {
            Owner(
                pid: getpid(), command: CommandLine.arguments.joined(separator: " "), startedAt: Date())
        }
    }

    /// The file.
    public let path: String
    /// The write level.
    public let durability: Durability
    /// What was found when the file was opened: replaced damaged files, skipped records.
    public let openingNotices: [QueueNotice]
    private let database: DatabaseQueue
    private let lockDescriptor: Int32
    private let counts = Mutex((operations: 0, failed: 0))
    private let readOnly: Bool
    /// Steps staged by ``stage(_:)`` and not yet written, in order, and the ticket of the last one staged.
    private let journal = Mutex((pending: [StoreChanges](), staged: UInt64(0)))
    /// The log and what applies it to the SQLite file. Its background work holds the applier, never the store, so the
    /// store goes away (and releases the file's lock) as soon as its last user lets go of it.
    private let applier: LogApplier

    /// The files' companions: SQLite's `-wal` and `-shm`, the log's two files and the lock.
    public static let companionSuffixes = ["-wal", "-shm"] + QueueLogFiles.suffixes + [".lock"]

    /// How long appended steps may wait before they are applied to the SQLite file. Readers see the log anyway, so the
    /// wait only bounds how much a next owner replays; the longer it is, the more operations are delivered before
    /// their apply and never reach SQLite at all.
    static let applyDelay = DispatchTimeInterval.seconds(1)
    /// Bytes of frames waiting to be applied that start an apply at once.
    static let applyBacklog = 8 << 20

    /// Opens (or creates) a queue file and takes ownership of it.
    ///
    /// A file that cannot be read as a queue is moved aside (`FILE.damaged-TIMESTAMP`) and a new one is started;
    /// the move is reported in ``openingNotices``.
    ///
    /// - Throws: ``PrefactorError`` with code ``PrefactorError/Code/queueFileInUse`` when a live process owns the
    ///   file, or ``PrefactorError/Code/queueFileUnavailable`` when it cannot be created.
    public convenience init(
        path: String, durability: Durability = .processCrash, owner: Owner = .current
    ) throws(PrefactorError) {
        try self.init(path: path, durability: durability, owner: owner, midTransaction: nil)
    }

    /// Opens a queue file; `midTransaction` is called with each step's settlements inside each transaction that
    /// applies the log to the SQLite file, after its first statements (new operations and API ids written,
    /// settlements not yet): a
    /// seam for the test that kills the process there. With `applyDelay` nil the log is applied only by
    /// ``checkpoint()`` (and when the store goes away), so tests can look at a file whose log was not applied.
    package init(
        path: String, durability: Durability = .processCrash, owner: Owner = .current,
        midTransaction: (@Sendable (StoreChanges) -> Void)?, applyDelay: DispatchTimeInterval? = applyDelay,
        applyBacklog: Int = applyBacklog
    ) throws(PrefactorError) {
        self.path = path
        self.durability = durability
        self.readOnly = false
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        lockDescriptor = try Self.lock(path)
        var notices: [QueueNotice] = []
        let opened: DatabaseQueue
        do {
            let first = try Self.open(path, durability: durability, readOnly: false)
            try Self.check(first)
            try Self.replayLog(path, first, notices: &notices)
            opened = first
        } catch {
            // Damaged or not a queue: keep it for inspection, start a new one.
            let movedTo = path + ".damaged-" + Self.stamp(Date())
            for suffix in ["", "-wal", "-shm"] + QueueLogFiles.suffixes {
                try? FileManager.default.moveItem(atPath: path + suffix, toPath: movedTo + suffix)
            }
            notices.append(.fileReplaced(path: path, movedTo: movedTo, reason: "\(error)"))
            do {
                let second = try Self.open(path, durability: durability, readOnly: false)
                try Self.check(second)
                opened = second
            } catch {
                close(lockDescriptor)
                throw PrefactorError(
                    code: .queueFileUnavailable,
                    message: "Cannot create the queue file \(path): \(error); check the directory's permissions")
            }
        }
        database = opened
        var state = LogState()
        do {
            try database.write { db in
                try db.execute(
                    sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('owner', ?)",
                    arguments: [String(decoding: try JSONEncoder().encode(owner), as: UTF8.self)])
            }
            state.applied = try database.read(Self.appliedSequence)
            state.nextSequence = state.applied + 1
            for (index, suffix) in QueueLogFiles.suffixes.enumerated() {
                let descriptor = Glibc.open(path + suffix, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
                guard descriptor >= 0, ftruncate(descriptor, 0) == 0 else {
                    throw QueueFileDamage(description: "\(path + suffix): \(String(cString: strerror(errno)))")
                }
                state.descriptors[index] = descriptor
            }
            let (total, failed) = try database.read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM operations") ?? 0,
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM operations WHERE failed_reason IS NOT NULL") ?? 0
                )
            }
            counts.withLock { $0 = (total, failed) }
        } catch {
            for descriptor in state.descriptors where descriptor >= 0 { close(descriptor) }
            close(lockDescriptor)
            throw PrefactorError(code: .queueFileUnavailable, message: "Cannot write the queue file \(path): \(error)")
        }
        applier = LogApplier(
            path: path, log: state, database: opened, midTransaction: midTransaction, applyDelay: applyDelay,
            applyBacklog: applyBacklog)
        openingNotices = notices
    }

    private init(readOnlyAt path: String, database: DatabaseQueue) {
        self.path = path
        self.durability = .processCrash
        self.readOnly = true
        self.database = database
        self.lockDescriptor = -1
        self.openingNotices = []
        self.applier = LogApplier(
            path: path, log: LogState(), database: database, midTransaction: nil, applyDelay: nil)
    }

    /// Opens a queue file read-only, whoever owns it: for inspection.
    ///
    /// - Throws: ``PrefactorError`` with code ``PrefactorError/Code/queueFileUnavailable`` when it cannot be read.
    public static func inspect(path: String) throws(PrefactorError) -> SQLiteTelemetryQueueStore {
        guard FileManager.default.fileExists(atPath: path) else {
            throw PrefactorError(code: .queueFileUnavailable, message: "No queue file at \(path)")
        }
        do {
            let database = try open(path, durability: .processCrash, readOnly: true)
            try check(database)
            return SQLiteTelemetryQueueStore(readOnlyAt: path, database: database)
        } catch {
            throw PrefactorError(
                code: .queueFileUnavailable, message: "Cannot read \(path) as a queue file: \(error)")
        }
    }

    deinit {
        if !readOnly {
            // Leave the SQLite file complete, for readers that know nothing of the log, before the lock is released.
            applier.queue.sync { applier.applyPending() }
            applier.close()
        }
        if lockDescriptor >= 0 {
            flock(lockDescriptor, LOCK_UN)
            close(lockDescriptor)
        }
    }

    // MARK: TelemetryQueueStore

    /// Durable.
    public var isDurable: Bool { true }

    /// Writes one operation.
    public func record(_ operation: TelemetryOperation) {
        _ = apply(StoreChanges(persist: [operation]))
    }

    /// Removes one settled operation.
    public func remove(_ id: UInt64) {
        _ = apply(StoreChanges(forget: [id]))
    }

    /// Applies a step's changes in one transaction.
    ///
    /// - Returns: Why the transaction failed (a full disk, a damaged file), or `nil` when it was written. The client
    ///   publishes the failure; the operations stay in its memory and are delivered or reported all the same.
    @discardableResult public func apply(_ changes: StoreChanges) -> String? {
        guard !readOnly, !changes.isEmpty else { return nil }
        return flush(through: stage(changes))
    }

    /// Stages a step's changes to be written by ``flush(through:)``, cheaply (the client calls it under its lock, so
    /// steps are staged in the machine's order); returns the step's ticket.
    package func stage(_ changes: StoreChanges) -> UInt64 {
        journal.withLock { journal in
            journal.pending.append(changes)
            journal.staged += 1
            return journal.staged
        }
    }

    /// Appends every staged step up to `ticket` (and any staged after it) to the log in one frame, unless a flush of
    /// another thread already did: concurrent steps share a write. Returns once the step of `ticket` is in the file.
    ///
    /// - Returns: Why the write failed, to the thread that made it (the others get `nil`).
    package func flush(through ticket: UInt64) -> String? {
        applier.log.withLock { state -> String? in
            guard state.written < ticket else { return nil }
            let (batch, last) = journal.withLock { journal in
                defer { journal.pending.removeAll(keepingCapacity: true) }
                return (journal.pending, journal.staged)
            }
            state.written = last
            guard !readOnly else { return nil }
            let sequence = state.nextSequence
            let bytes = QueueLogCodec.frame(sequence: sequence, steps: batch)
            let file = state.current
            if let failure = QueueLogFiles.append(
                bytes, to: state.descriptors[file], size: &state.sizes[file], sync: durability == .powerLoss)
            {
                return failure
            }
            state.nextSequence += 1
            state.highest[file] = sequence
            for changes in batch {
                for operation in changes.persist { state.persistedThrough = max(state.persistedThrough, operation.id) }
            }
            state.unappliedBytes += bytes.count
            counts.withLock {
                for changes in batch {
                    $0.operations += changes.persist.count - changes.forget.count
                    $0.failed += changes.failed.count
                }
            }
            applier.schedule(&state)
            return nil
        }
    }

    /// Calls `handler` (on the store's own thread) when the log cannot be applied to the SQLite file: the steps stay in
    /// the log and are tried again every second. Called once per run of failures.
    package func onApplyFailure(_ handler: @escaping @Sendable (String) -> Void) {
        applier.log.withLock { $0.onApplyFailure = handler }
    }

    /// Applies what the log holds to the SQLite file now, and returns once it is there: readers of the SQLite file
    /// then see every operation. (A file's owner calls it before it reads its own file.)
    package func checkpoint() {
        guard !readOnly else { return }
        applier.queue.sync { applier.applyPending() }
    }

    /// Applies the log's frames numbered after `after` (and up to `through`, when given) in one transaction, with
    /// the last sequence number applied, reading each file up to its limit (all of it without limits). The log is
    /// read twice, a frame at a time: first what cancels out (``QueueLogCodec/Net``), then what to write. Records are
    /// written as the log holds them, and SQLite reads the file's columns from them: the apply decodes nothing itself
    /// (a backlog's worth of decoded payloads would stay in this thread's memory), and a record without them is left
    /// out.
    ///
    /// - Returns: What could not be read: a torn or damaged tail counts once, and each unreadable record.
    fileprivate static func applyLog(
        path: String, limits: [Int]?, after: UInt64, through: UInt64?, _ database: DatabaseQueue,
        midTransaction: (@Sendable (StoreChanges) -> Void)?
    ) throws -> Int {
        var net = QueueLogCodec.Net()
        var last: UInt64?
        let fresh = { (frame: QueueLogCodec.RawFrame) in frame.sequence > after && frame.sequence <= (through ?? .max) }
        let unreadable = try QueueLogFiles.forEachRawFrame(path: path, limits: limits) { frame in
            guard fresh(frame) else { return }
            net.note(frame)
            last = max(last ?? 0, frame.sequence)
        }
        if let applied = through ?? last {
            try database.write { db in
                try QueueLogFiles.forEachRawFrame(path: path, limits: limits) { frame in
                    guard fresh(frame) else { return }
                    for step in frame.steps { try write(net.filter(step), db, midTransaction: midTransaction) }
                }
                try recordApplied(through: applied, db)
            }
        }
        return (unreadable.bytes > 0 ? 1 : 0) + unreadable.records
    }

    /// Writes one step of the log: its new operations from their records, then its settlements.
    fileprivate static func write(
        _ step: QueueLogCodec.RawStep, _ db: Database, midTransaction: (@Sendable (StoreChanges) -> Void)?
    ) throws {
        if !step.persist.isEmpty {
            let insert = try db.cachedStatement(
                sql: """
                    INSERT OR REPLACE INTO operations(id, kind, instance_id, span_id, idempotency_key,
                        enqueued_at, body)
                    SELECT ?1, json_extract(?2, '$.body.t'), json_extract(?2, '$.instance'),
                        json_extract(?2, '$.body.span'), json_extract(?2, '$.key'),
                        json_extract(?2, '$.queued') + \(Date.timeIntervalBetween1970AndReferenceDate), ?2
                    WHERE json_valid(?2) AND json_type(?2, '$.body.t') = 'text'
                        AND json_type(?2, '$.instance') = 'text' AND json_type(?2, '$.key') = 'text'
                        AND json_type(?2, '$.queued') IN ('real', 'integer')
                    """)
            for (id, record) in step.persist {
                try insert.execute(arguments: [Int64(bitPattern: id), String(decoding: record, as: UTF8.self)])
            }
        }
        let changes = StoreChanges(forget: step.forget, resolved: step.resolved, failed: step.failed, retrying: step.retrying)
        if !step.persist.isEmpty || !changes.isEmpty { try write(changes, db, midTransaction: midTransaction) }
    }

    /// Records the last sequence number applied, in the transaction that applied it.
    fileprivate static func recordApplied(through sequence: UInt64, _ db: Database) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('log_applied', ?)", arguments: [String(sequence)])
    }

    /// Applies what the last owner appended to the log and did not apply; the caller then empties the log. The
    /// file's next sequence number is the last applied one's successor.
    private static func replayLog(_ path: String, _ database: DatabaseQueue, notices: inout [QueueNotice]) throws {
        let applied = try database.read(appliedSequence)
        let skipped = try applyLog(
            path: path, limits: nil, after: applied, through: nil, database, midTransaction: nil)
        if skipped > 0 { notices.append(.recordsSkipped(path: path + "-log", count: skipped)) }
    }

    /// The sequence number of the last log frame applied to the file.
    private static func appliedSequence(_ db: Database) throws -> UInt64 {
        try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'log_applied'").flatMap { UInt64($0) } ?? 0
    }

    /// Writes one step's settlements (its new operations are written from their records before).
    private static func write(
        _ changes: StoreChanges, _ db: Database, midTransaction: (@Sendable (StoreChanges) -> Void)?
    ) throws {
        if !changes.resolved.isEmpty {
            let resolve = try db.cachedStatement(sql: "INSERT OR REPLACE INTO resolved_spans(local_id, api_id) VALUES (?, ?)")
            for (local, api) in changes.resolved { try resolve.execute(arguments: [local, api]) }
        }
        midTransaction?(changes)
        if !changes.forget.isEmpty {
            let delete = try db.cachedStatement(sql: "DELETE FROM operations WHERE id = ?")
            for id in changes.forget { try delete.execute(arguments: [Int64(bitPattern: id)]) }
        }
        if !changes.retrying.isEmpty {
            let note = try db.cachedStatement(sql: "UPDATE operations SET attempts = ?, last_error = ? WHERE id = ?")
            for (id, attempts, error) in changes.retrying {
                try note.execute(arguments: [attempts, error, Int64(bitPattern: id)])
            }
        }
        if !changes.failed.isEmpty {
            let fail = try db.cachedStatement(sql: "UPDATE operations SET failed_reason = ? WHERE id = ?")
            for (id, reason) in changes.failed { try fail.execute(arguments: [reason, Int64(bitPattern: id)]) }
        }
    }

    /// A kept operation.
    public func operation(_ id: UInt64) -> TelemetryOperation? {
        if readOnly { return (try? entries())?.first { $0.id == id }?.operation }
        checkpoint()
        return try? database.read { db in
            try Data.fetchOne(db, sql: "SELECT body FROM operations WHERE id = ?", arguments: [Int64(bitPattern: id)])
        }.flatMap { try? TelemetryOperation(recordText: $0) }
    }

    /// Kept operations, by id, read from the SQLite file (the log is applied first when one of them may be only in
    /// it, and read from the log when the SQLite file does not have it): how a client reads back the payloads it left
    /// in the file. An id the file does not hold is left out.
    ///
    /// - Throws: Why the file could not be read.
    package func operations(_ ids: [UInt64]) throws -> [UInt64: TelemetryOperation] {
        guard let highest = ids.max() else { return [:] }
        if !readOnly, applier.log.withLock({ highest > $0.appliedPersisted }) { checkpoint() }
        var found = try database.read { db in
            var found: [UInt64: TelemetryOperation] = [:]
            let rows = try Row.fetchCursor(
                db, sql: "SELECT id, body FROM operations WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ",")))",
                arguments: StatementArguments(ids.map { Int64(bitPattern: $0) }))
            while let row = try rows.next() {
                let id: Int64 = row[0]
                let body: Data? = row[1]
                if let body, let operation = try? TelemetryOperation(recordText: body) {
                    found[UInt64(bitPattern: id)] = operation
                }
            }
            return found
        }
        if found.count < Set(ids).count {
            // Not in the SQLite file (an apply that keeps failing, a full disk): still in the log.
            let wanted = Set(ids).subtracting(found.keys)
            for frame in QueueLogFiles.read(path: path).frames {
                for step in frame.steps {
                    for operation in step.persist where wanted.contains(operation.id) { found[operation.id] = operation }
                }
            }
        }
        return found
    }

    /// What a new client takes over (see ``loadForRecovery()``); nothing when the file cannot be read.
    public func recover() -> (operations: [TelemetryOperation], resolved: [String: String], skipped: Int) {
        (try? loadForRecovery()) ?? ([], [:], 0)
    }

    /// The operations not yet delivered and not failed, in enqueue order; records that cannot be read are skipped
    /// (see ``loadForRecovery()``).
    public func pendingOperations() -> [TelemetryOperation] {
        (try? loadForRecovery().operations) ?? []
    }

    /// How many operations the file holds (failed ones included).
    public var count: Int { counts.withLock { $0.operations } }

    /// Local span ids whose create was delivered, with their API ids.
    public func resolvedSpans() -> [String: String] {
        if readOnly { return (try? view().resolved) ?? [:] }
        checkpoint()
        return (try? database.read(Self.resolvedSpans)) ?? [:]
    }

    private static func resolvedSpans(_ db: Database) throws -> [String: String] {
        var result: [String: String] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT local_id, api_id FROM resolved_spans")
        while let row = try rows.next() { result[row[0]] = row[1] }
        return result
    }

    /// What a client takes over from the file: the undelivered operations, their recorded API ids, and how many
    /// records could not be read (a torn or damaged record is skipped and counted, never fatal).
    public func loadForRecovery() throws -> (operations: [TelemetryOperation], resolved: [String: String], skipped: Int) {
        if readOnly {
            let view = try view()
            let pending = view.entries.filter { $0.failedReason == nil }
            let operations = pending.compactMap(\.operation)
            return (operations, view.resolved, pending.count - operations.count)
        }
        checkpoint()
        let bodies = try database.read { db -> [Data?] in
            var bodies: [Data?] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT body FROM operations WHERE failed_reason IS NULL ORDER BY id")
            while let row = try rows.next() { bodies.append(row[0]) }
            return bodies
        }
        let (operations, skipped) = Self.decode(bodies)
        return (operations, resolvedSpans(), skipped)
    }

    /// Reads records in parallel chunks (a large backlog is taken over in a fraction of the time), keeping their
    /// order; a record that cannot be read is skipped and counted.
    static func decode(_ bodies: [Data?]) -> (operations: [TelemetryOperation], skipped: Int) {
        let chunkSize = 4_096
        let chunks = (bodies.count + chunkSize - 1) / chunkSize
        let results = Mutex([[TelemetryOperation]](repeating: [], count: chunks))
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let range = (chunk * chunkSize)..<min(bodies.count, (chunk + 1) * chunkSize)
            var decoded: [TelemetryOperation] = []
            decoded.reserveCapacity(range.count)
            for index in range {
                if let body = bodies[index], let operation = try? TelemetryOperation(recordText: body) {
                    decoded.append(operation)
                }
            }
            results.withLock { $0[chunk] = decoded }
        }
        let operations = results.withLock { $0.flatMap { $0 } }
        return (operations, bodies.count - operations.count)
    }

    /// Every operation in the file with what is known of it, for inspection.
    public func entries() throws -> [QueueFileEntry] {
        if readOnly { return try view().entries }
        checkpoint()
        return try database.read(Self.entries)
    }

    /// What a reader sees: the SQLite file with what the owner's log holds beyond it. The log is read first, so that
    /// whatever the owner applies meanwhile is either in the SQLite file read after it or skipped in the log.
    private func view() throws -> (entries: [QueueFileEntry], resolved: [String: String]) {
        let frames = QueueLogFiles.read(path: path).frames
        let (applied, rows, resolved) = try database.read { db in
            (try Self.appliedSequence(db), try Self.entries(db), try Self.resolvedSpans(db))
        }
        var entries = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0) })
        var spans = resolved
        for frame in frames where frame.sequence > applied {
            for changes in frame.steps {
                for operation in changes.persist {
                    entries[operation.id] = QueueFileEntry(
                        id: operation.id, kind: operation.kind.rawValue, instanceID: operation.instanceID,
                        spanID: operation.spanID, idempotencyKey: operation.idempotencyKey,
                        enqueuedAt: operation.enqueuedAt, operation: operation, failedReason: nil)
                }
                for (local, api) in changes.resolved { spans[local] = api }
                for id in changes.forget { entries[id] = nil }
                for (id, attempts, error) in changes.retrying {
                    entries[id]?.attempts = attempts
                    entries[id]?.lastError = error
                }
                for (id, reason) in changes.failed { entries[id]?.failedReason = reason }
            }
        }
        return (entries.values.sorted { $0.id < $1.id }, spans)
    }

    private static func entries(_ db: Database) throws -> [QueueFileEntry] {
        var result: [QueueFileEntry] = []
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT id, kind, instance_id, span_id, idempotency_key, enqueued_at, body, failed_reason,
                    attempts, last_error
                FROM operations ORDER BY id
                """)
        while let row = try rows.next() {
            let body: Data? = row[6]
            let id: Int64 = row[0]
            result.append(
                QueueFileEntry(
                    id: UInt64(bitPattern: id), kind: row[1], instanceID: row[2], spanID: row[3], idempotencyKey: row[4],
                    enqueuedAt: Date(timeIntervalSince1970: row[5]),
                    operation: body.flatMap { try? TelemetryOperation(recordText: $0) },
                    failedReason: row[7], attempts: row[8], lastError: row[9]))
        }
        return result
    }

    /// The owner recorded in the file.
    public func owner() -> Owner? {
        (try? database.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'owner'") })
            .flatMap { $0 }
            .flatMap { try? JSONDecoder().decode(Owner.self, from: Data($0.utf8)) }
    }

    /// Removes operations from the file and records them as dropped, with a reason.
    ///
    /// - Returns: The ids that were in the file.
    @discardableResult
    public func drop(_ ids: [UInt64], reason: String, at time: Date = Date()) throws -> [UInt64] {
        guard !readOnly else {
            throw PrefactorError(code: .queueFileInUse, message: "\(path) is open read-only")
        }
        checkpoint()
        return try database.write { db in
            var dropped: [UInt64] = []
            var droppedFailed = 0
            for id in ids {
                let key = Int64(bitPattern: id)
                guard
                    let row = try Row.fetchOne(
                        db, sql: "SELECT body, failed_reason FROM operations WHERE id = ?", arguments: [key])
                else { continue }
                let body: Data? = row[0]
                try db.execute(
                    sql: "INSERT INTO dropped(operation_id, dropped_at, reason, failed_reason, body) VALUES (?, ?, ?, ?, ?)",
                    arguments: [key, time.timeIntervalSince1970, reason, row[1] as String?, body])
                try db.execute(sql: "DELETE FROM operations WHERE id = ?", arguments: [key])
                dropped.append(id)
                if (row[1] as String?) != nil { droppedFailed += 1 }
            }
            // Counted down rather than recounted: steps appended to the log since the checkpoint are counted already.
            counts.withLock {
                $0.operations -= dropped.count
                $0.failed -= droppedFailed
            }
            return dropped
        }
    }

    /// How many operations were dropped from the file, ever.
    public func droppedCount() -> Int {
        (try? database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM dropped") ?? 0 }) ?? 0
    }

    /// Operations that failed for good and are kept for inspection.
    public var failedCount: Int { counts.withLock { $0.failed } }

    // MARK: Opening

    /// The SQLite page cache of a queue file's connection, in KiB.
    static let pageCacheKiB = 256

    private static func open(_ path: String, durability: Durability, readOnly: Bool) throws -> DatabaseQueue {
        var configuration = GRDB.Configuration()
        configuration.readonly = readOnly
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // The apply appends in id order and readers scan: a small page cache does (SQLite's default is 2 MiB per
            // connection, resident for the client's life).
            try db.execute(sql: "PRAGMA cache_size = -\(pageCacheKiB)")
            if !readOnly {
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = \(durability.rawValue)")
            }
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        if !readOnly {
            chmod(path, 0o600)
            try queue.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                        CREATE TABLE IF NOT EXISTS operations (
                            id INTEGER PRIMARY KEY, kind TEXT NOT NULL, instance_id TEXT NOT NULL, span_id TEXT,
                            idempotency_key TEXT NOT NULL, enqueued_at REAL NOT NULL, body BLOB NOT NULL,
                            failed_reason TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);
                        CREATE TABLE IF NOT EXISTS resolved_spans (local_id TEXT PRIMARY KEY, api_id TEXT NOT NULL);
                        CREATE TABLE IF NOT EXISTS dropped (
                            operation_id INTEGER NOT NULL, dropped_at REAL NOT NULL, reason TEXT NOT NULL,
                            failed_reason TEXT, body BLOB);
                        INSERT OR IGNORE INTO meta(key, value) VALUES ('format', 'prefactor-queue-1');
                        """)
            }
        }
        return queue
    }

    private static func check(_ database: DatabaseQueue) throws {
        try database.read { db in
            let result = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "no answer"
            guard result == "ok" else { throw QueueFileDamage(description: "integrity check: \(result)") }
            let format = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'format'")
            guard format == "prefactor-queue-1" else {
                throw QueueFileDamage(description: "not a Prefactor queue file (format \(format ?? "missing"))")
            }
        }
    }

    private static func lock(_ path: String) throws(PrefactorError) -> Int32 {
        let descriptor = Glibc.open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw PrefactorError(
                code: .queueFileUnavailable,
                message: "Cannot create \(path).lock: \(String(cString: strerror(errno))); check the directory's permissions")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            let owner = (try? inspect(path: path))?.owner()
            let who = owner.map { "process \($0.pid) (\($0.command))" } ?? "another process"
            throw PrefactorError(
                code: .queueFileInUse,
                message: "The queue file \(path) is in use by \(who); inspect it with `prefactor queue show \(path)`")
        }
        return descriptor
    }

    /// Whether a live process holds the file's lock.
    public static func isOwned(path: String) -> Bool {
        let descriptor = Glibc.open(path + ".lock", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return false
        }
        return true
    }

    static func stamp(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970)
        return String(seconds)
    }
}

/// Applies a queue file's log to its SQLite file, on a queue of its own (see ``SQLiteTelemetryQueueStore``).
private final class LogApplier: Sendable {
    /// The log; held while a batch is appended, so batches are appended one at a time and in order.
    let log: Mutex<LogState>
    /// The queue file; its log files are next to it.
    let path: String
    let database: DatabaseQueue
    /// Applies one batch at a time.
    let queue = DispatchQueue(label: "prefactor.queue-file.apply")
    let midTransaction: (@Sendable (StoreChanges) -> Void)?
    /// How long appended steps wait before they are applied (nil: until ``SQLiteTelemetryQueueStore/checkpoint()``).
    let applyDelay: DispatchTimeInterval?
    /// Bytes of frames waiting that start an apply at once.
    let applyBacklog: Int

    init(
        path: String, log: LogState, database: DatabaseQueue, midTransaction: (@Sendable (StoreChanges) -> Void)?,
        applyDelay: DispatchTimeInterval?, applyBacklog: Int = SQLiteTelemetryQueueStore.applyBacklog
    ) {
        self.path = path
        self.log = Mutex(log)
        self.database = database
        self.midTransaction = midTransaction
        self.applyDelay = applyDelay
        self.applyBacklog = applyBacklog
    }

    /// After an append (under the log's lock): an apply after the delay, or at once when ``applyBacklog`` bytes of
    /// frames wait.
    func schedule(_ state: inout LogState) {
        guard let applyDelay else { return }
        if !state.applyScheduled {
            state.applyScheduled = true
            queue.asyncAfter(deadline: .now() + applyDelay) { [weak self] in self?.applyPending(timer: true) }
        }
        if state.unappliedBytes >= applyBacklog, !state.applyNowScheduled {
            state.applyNowScheduled = true
            queue.async { [weak self] in self?.applyPending() }
        }
    }

    /// Closes the log's files; later applies do nothing.
    func close() {
        log.withLock { state in
            state.closed = true
            for descriptor in state.descriptors where descriptor >= 0 { Glibc.close(descriptor) }
            state.descriptors = [-1, -1]
        }
    }

    /// Applies the frames appended so far in one transaction, then empties the log file that held them. Appends go on
    /// meanwhile, to the other file. The frames are read back from the files (the operating system's cache holds
    /// them): the store keeps no copy of what it appended, so a backlog costs memory only in the client's queue.
    /// `timer`: called by the delayed apply, which is then no longer pending.
    func applyPending(timer: Bool = false) {
        let taken = log.withLock { state -> (through: UInt64, after: UInt64, limits: [Int], persisted: UInt64)? in
            if timer { state.applyScheduled = false }
            state.applyNowScheduled = false
            guard !state.closed, state.nextSequence - 1 > state.applied else { return nil }
            state.unappliedBytes = 0
            let other = 1 - state.current
            if state.sizes[other] == 0 { state.current = other }
            return (state.nextSequence - 1, state.applied, state.sizes, state.persistedThrough)
        }
        guard let taken else { return }
        do {
            _ = try SQLiteTelemetryQueueStore.applyLog(
                path: path, limits: taken.limits, after: taken.after, through: taken.through, database,
                midTransaction: midTransaction)
        } catch {
            // Still in the log: tried again later (and replayed by the next owner if this process ends first).
            let report = log.withLock { state in
                defer { state.applyFailing = true }
                return state.applyFailing ? nil : state.onApplyFailure
            }
            report?("\(error)")
            log.withLock { state in
                if applyDelay != nil, !state.applyScheduled {
                    state.applyScheduled = true
                    queue.asyncAfter(deadline: .now() + .seconds(1)) { [weak self] in self?.applyPending(timer: true) }
                }
            }
            return
        }
        HeapTrim.run()
        log.withLock { state in
            state.applyFailing = false
            state.applied = taken.through
            state.appliedPersisted = taken.persisted
            guard !state.closed else { return }
            for file in 0..<2 where file != state.current && state.sizes[file] > 0 && state.highest[file] <= taken.through {
                if ftruncate(state.descriptors[file], 0) == 0 { state.sizes[file] = 0 }
            }
        }
    }

}

/// Gives the heap's free pages back to the system: glibc's `malloc_trim`, looked up when first used (nothing where
/// there is none). An apply allocates and frees a batch's worth of statements and strings on its own thread, whose
/// heap glibc keeps at its largest size otherwise; so does a backlog that was queued and delivered.
enum HeapTrim {
    private typealias Trim = @convention(c) (Int) -> Int32

    /// The function's address (0 when there is none).
    private static let address = UInt(bitPattern: dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim"))

    /// Whether the system has it.
    static var isAvailable: Bool { address != 0 }

    /// Trims every heap of the process, keeping no padding.
    static func run() {
        guard let trim = UnsafeMutableRawPointer(bitPattern: address) else { return }
        _ = unsafeBitCast(trim, to: Trim.self)(0)
    }
}

/// The log of a queue file: where appends go, what is not applied yet.
private struct LogState {
    /// The ticket of the last step appended.
    var written: UInt64 = 0
    /// The two files, the size of each and the highest sequence number appended to each.
    var descriptors: [Int32] = [-1, -1]
    var sizes = [0, 0]
    var highest: [UInt64] = [0, 0]
    /// The file that takes appends.
    var current = 0
    var nextSequence: UInt64 = 1
    /// The sequence number of the last frame applied to the SQLite file: the frames after it are not.
    var applied: UInt64 = 0
    /// Bytes appended since the last apply began.
    var unappliedBytes = 0
    /// The highest operation id appended, and the highest of those applied to the SQLite file.
    var persistedThrough: UInt64 = 0
    var appliedPersisted: UInt64 = 0
    /// Whether an apply is due after the delay, and whether one was asked for at once.
    var applyScheduled = false
    var applyNowScheduled = false
    /// Whether the last apply failed, and who hears of a failure.
    var applyFailing = false
    var onApplyFailure: (@Sendable (String) -> Void)?
    /// Set when the store went away: nothing is applied or emptied any more.
    var closed = false
}

/// Why a file is not a usable queue.
struct QueueFileDamage: Error, CustomStringConvertible {
    var description: String
}

/// One step's changes to a store: written in one transaction.
public struct StoreChanges: Sendable {
    /// New operations.
    public var persist: [TelemetryOperation] = []
    /// Delivered operations.
    public var forget: [UInt64] = []
    /// Spans whose create was delivered: local id and API id.
    public var resolved: [(String, String)] = []
    /// Operations that failed for good, with the reason (kept for inspection until dropped).
    public var failed: [(UInt64, String)] = []
    /// Attempts that failed and will be retried: operation, attempts so far, error.
    public var retrying: [(UInt64, Int, String)] = []

    /// Creates changes.
    public init(
        persist: [TelemetryOperation] = [], forget: [UInt64] = [], resolved: [(String, String)] = [],
        failed: [(UInt64, String)] = [], retrying: [(UInt64, Int, String)] = []
    ) {
        self.persist = persist
        self.forget = forget
        self.resolved = resolved
        self.failed = failed
        self.retrying = retrying
    }

    /// Whether there is nothing to write.
    public var isEmpty: Bool {
        persist.isEmpty && forget.isEmpty && resolved.isEmpty && failed.isEmpty && retrying.isEmpty
    }
}

/// An operation as a queue file holds it.
public struct QueueFileEntry: Sendable, Hashable {
    /// The operation id.
    public var id: UInt64
    /// Its kind, as written.
    public var kind: String
    /// The instance.
    public var instanceID: String
    /// The span's local id, for span operations.
    public var spanID: String?
    /// The idempotency key.
    public var idempotencyKey: String
    /// When it was queued.
    public var enqueuedAt: Date
    /// The whole operation, or `nil` when its record cannot be read.
    public var operation: TelemetryOperation?
    /// Why it failed for good, if it did.
    public var failedReason: String?
    /// Failed attempts so far.
    public var attempts: Int = 0
    /// The last attempt's error.
    public var lastError: String?

    /// Creates an entry (as the file's reader does; tests and tools build their own).
    public init(
        id: UInt64, kind: String, instanceID: String, spanID: String?, idempotencyKey: String, enqueuedAt: Date,
        operation: TelemetryOperation?, failedReason: String?, attempts: Int = 0, lastError: String? = nil
    ) {
        self.id = id
        self.kind = kind
        self.instanceID = instanceID
        self.spanID = spanID
        self.idempotencyKey = idempotencyKey
        self.enqueuedAt = enqueuedAt
        self.operation = operation
        self.failedReason = failedReason
        self.attempts = attempts
        self.lastError = lastError
    }
}

/// Something the queue's store reported: published as ``ClientEvent/queueNotice(_:)``.
public enum QueueNotice: Sendable, Hashable {
    /// The queue holds its maximum of operations: a new one was refused.
    case full(limit: Int)
    /// The queued operations take their maximum of bytes: a new one was refused.
    case fullOfBytes(limit: Int)
    /// A damaged queue file was moved aside and a new one started.
    case fileReplaced(path: String, movedTo: String, reason: String)
    /// Records of a queue file that could not be read were skipped.
    case recordsSkipped(path: String, count: Int)
    /// Operations of an earlier process were taken over from a queue file.
    case recovered(path: String, count: Int)
    /// A write to the queue file failed; the operation stays in memory only.
    case writeFailed(path: String, error: String)
}

extension QueueNotice {
    /// One line for a person.
    public var summary: String {
        switch self {
        case .full(let limit): return "Queue full (\(limit) operations): new telemetry is refused until it drains"
        case .fullOfBytes(let limit):
            return "Queue full (\(ByteCount.text(limit)) of operations): new telemetry is refused until it drains"
        case .fileReplaced(let path, let movedTo, _):
            return "Queue file \(path) was damaged: moved to \(movedTo), a new one started"
        case .recordsSkipped(let path, let count): return "Skipped \(count) unreadable record(s) in \(path)"
        case .recovered(let path, let count): return "Took over \(count) queued operation(s) from \(path)"
        case .writeFailed(let path, let error): return "Could not write the queue file \(path): \(error)"
        }
    }

    /// Whether it reports a problem (rather than news).
    public var isProblem: Bool {
        if case .recovered = self { return false }
        return true
    }
}
