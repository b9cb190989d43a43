import Foundation
import GRDB
import PrefactorWire
import Synchronization

/// A response ready to send: its status and JSON body.
struct StoredResponse: Sendable {
    var status: Int
    var body: String

    static func success(_ body: String) -> StoredResponse { StoredResponse(status: 200, body: body) }

    /// Whether the status is 2xx.
    var succeeded: Bool { (200..<300).contains(status) }
}

/// A write request, validated and ready to run in a write transaction (``Store/perform(_:)``).
struct PreparedWrite: Sendable {
    /// Whether the job needs a savepoint of its own: `false` for jobs that throw only before their first write.
    var isolated: Bool
    /// The job: it gets the write transaction's connection and the time of the request.
    var job: @Sendable (GRDB.Database, Int64) throws -> StoredResponse

    init(isolated: Bool = true, _ job: @escaping @Sendable (GRDB.Database, Int64) throws -> StoredResponse) {
        self.isolated = isolated
        self.job = job
    }
}

/// The emulator's data and the rules applied to it: the state machines of spec §4, idempotency, counts.
///
/// Every mutating call runs in one SQLite write transaction: a rejected request rolls back and changes nothing.
final class Store: Sendable {
    static let accountID = "acc_local"
    static let environmentID = "env_local"
    static let defaultAgentID = "agent_local"

    let writer: any DatabaseWriter
    let now: @Sendable () -> Int64
    private let schemas = Mutex<[String: SchemaInfo]>([:])
    private let batcher: WriteBatcher

    init(location: DatabaseLocation, walCheckpointBytes: Int = 32 << 20, now: @escaping @Sendable () -> Int64) throws {
        self.writer = try Database.open(location)
        self.now = now
        var path: String?
        if case .file(let file) = location { path = file }
        self.batcher = try WriteBatcher(writer: writer, path: path, walCheckpointBytes: walCheckpointBytes, now: now)
        try writer.write { db in
            let time = now()
            try db.execute(
                cached: "INSERT OR IGNORE INTO accounts (id, name) VALUES (?, 'Local account')",
                arguments: [Store.accountID])
            try db.execute(
                cached: "INSERT OR IGNORE INTO environments (id, account_id, name) VALUES (?, ?, 'local')",
                arguments: [Store.environmentID, Store.accountID])
            try db.execute(
                cached: """
                    INSERT OR IGNORE INTO agents (id, account_id, name, description, status, inserted_at, updated_at)
                    VALUES (?, ?, 'Local agent', 'The default agent of this server''s token', 'active', ?, ?)
                    """,
                arguments: [Store.defaultAgentID, Store.accountID, time, time])
        }
    }

    // MARK: Helpers

    /// A new id: the prefix, 11 hex digits of the time in microseconds and 13 random hex digits. Ids made later
    /// sort later, so inserts land at the end of the primary-key index instead of on a random page.
    static func newID(_ prefix: String) -> String {
        let micros = UInt64(max(0, WireDate.microseconds(of: Date())))
        let random = UInt64.random(in: 0..<(1 << 52))
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: prefix.utf8.count + 25) { buffer in
            var index = 0
            func put(_ byte: UInt8) {
                buffer[index] = byte
                index += 1
            }
            for byte in prefix.utf8 { put(byte) }
            put(0x5F)
            for shift in stride(from: 40, through: 0, by: -4) { put(digits.utf8Start[Int((micros >> UInt64(shift)) & 0xF)]) }
            for shift in stride(from: 48, through: 0, by: -4) { put(digits.utf8Start[Int((random >> UInt64(shift)) & 0xF)]) }
            return index
        }
    }

    /// A write request, validated and ready to run: `perform` wrapped in the idempotency rules of its scope.
    ///
    /// `write(scope:key:writesLast:_:)` makes one from the request; ``perform(_:)`` runs it alone and
    /// ``perform(run:)`` runs several in one transaction (the items of a bulk request).
    func write(
        scope: String, key: String?, writesLast: Bool = false,
        _ perform: @escaping @Sendable (GRDB.Database, Int64) throws -> StoredResponse
    ) -> PreparedWrite {
        // `writesLast`: `perform` throws only before its first write, so it needs no savepoint.
        PreparedWrite(isolated: !writesLast) { db, time in
            if let key,
                let stored = try db.fetchFirst(
                    cached: "SELECT status, body FROM idempotency_records WHERE scope = ? AND key = ?",
                    [.text(scope), .text(key)],
                    { StoredResponse(status: Int($0.int64(0) ?? 200), body: $0.text(1)) })
            {
                return stored
            }
            let response = try perform(db, time)
            if let key, response.status < 300 {
                try db.execute(
                    cached: "INSERT INTO idempotency_records (scope, key, status, body, inserted_at) VALUES (?, ?, ?, ?, ?)",
                    [.text(scope), .text(key), .integer(Int64(response.status)), .text(response.body), .integer(time)])
            }
            return response
        }
    }

    /// Runs a write in a write transaction, replaying the stored response when its key was seen on its scope.
    ///
    /// Writes are group-committed: requests that arrive while a transaction runs are applied together in the next
    /// one, each inside its own savepoint, so a rejected request rolls back alone and one commit serves many.
    func perform(_ write: PreparedWrite) async throws -> StoredResponse {
        try await batcher.submit(write).get()
    }

    /// Runs writes in order in one write transaction, each in its own savepoint, and stops at the first that throws
    /// or answers with a status outside 2xx: that one is rolled back when it threw (its effects stay when it
    /// answered), and the ones after it do not run.
    ///
    /// Each write sees the effects of the ones before it, as it would had each been a request of its own; one commit
    /// serves them all.
    ///
    /// - Returns: The outcome of each write that ran, in order: all of them, or up to and including the first that
    ///   failed.
    func perform(run writes: [PreparedWrite]) async -> [Result<StoredResponse, any Error>] {
        await batcher.submit(run: writes)
    }

    func read<T: Sendable>(_ perform: @escaping @Sendable (GRDB.Database) throws -> T) async throws -> T {
        try await writer.read(perform)
    }

    func schemaInfo(_ db: GRDB.Database, id: String?) throws -> SchemaInfo {
        guard let id else { return SchemaInfo() }
        if let cached = schemas.withLock({ $0[id] }) { return cached }
        guard
            let text = try String.fetchOne(
                cached: db, sql: "SELECT body FROM agent_schema_versions WHERE id = ?", arguments: [id])
        else { return SchemaInfo() }
        var ignored: [String: [String]] = [:]
        let body = (try? JSONValue(parsing: Data(text.utf8)))?.objectValue ?? [:]
        let info = SchemaInfo(body: body, errors: &ignored)
        schemas.withLock { $0[id] = info }
        return info
    }

    static func success(_ details: String, control: String? = nil) -> StoredResponse {
        var object = JSONObjectText()
        object.string("status", "success")
        object.raw("details", details)
        if let control { object.raw("control", control) }
        return .success(object.result)
    }

    static func list(_ items: [String], pagination: Pagination, sorting: Sorting) -> StoredResponse {
        var object = JSONObjectText()
        object.string("status", "success")
        object.raw("summaries", "[" + items.joined(separator: ",") + "]")
        var page = JSONObjectText()
        page.int("item_count", pagination.itemCount)
        page.int("item_start", pagination.itemStart)
        page.int("item_end", pagination.itemEnd)
        page.int("page_count", pagination.pageCount)
        page.int("page_index", pagination.pageIndex)
        page.int("page_offset", pagination.pageOffset)
        page.int("page_size", pagination.pageSize)
        page.int("next_page_offset", pagination.nextPageOffset)
        page.int("previous_page_offset", pagination.previousPageOffset)
        object.raw("pagination", page.result)
        var sort = JSONObjectText()
        sort.string("field", sorting.field)
        sort.string("direction", sorting.direction)
        object.raw("sorting", sort.result)
        return .success(object.result)
    }
}
