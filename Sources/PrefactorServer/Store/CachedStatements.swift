import GRDB
import GRDBSQLite

// Every statement the store runs goes through SQLite's statement cache: compiling SQL (and GRDB's authorizer that
// runs at compile time) costs far more than executing these small statements.

extension GRDB.Database {
    func execute(cached sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

extension Row {
    static func fetchOne(cached db: GRDB.Database, sql: String, arguments: StatementArguments = StatementArguments()) throws
        -> Row?
    {
        try fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }

    static func fetchAll(cached db: GRDB.Database, sql: String, arguments: StatementArguments = StatementArguments()) throws
        -> [Row]
    {
        try fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }
}

extension DatabaseValueConvertible where Self: StatementColumnConvertible {
    static func fetchOne(cached db: GRDB.Database, sql: String, arguments: StatementArguments = StatementArguments()) throws
        -> Self?
    {
        try fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }
}

/// The current row of a query, read by column index straight from SQLite.
///
/// A GRDB `Row` indexes its column names (lowercased, in a dictionary) and copies every value when it is made,
/// which costs more than running the small queries of the write path; ``GRDB/Database/fetchFirst(cached:_:_:)``
/// and ``GRDB/Database/fetchAll(cached:arguments:_:)`` hand this view to a closure instead. It is valid only there.
struct ColumnReader {
    fileprivate let statement: SQLiteStatement

    /// The text of a column, `nil` when it is NULL.
    func string(_ column: Int32) -> String? {
        guard sqlite3_column_type(statement, column) != SQLITE_NULL, let text = sqlite3_column_text(statement, column) else {
            return nil
        }
        return String(
            decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column))), as: UTF8.self)
    }

    /// The text of a column declared `NOT NULL`.
    func text(_ column: Int32) -> String {
        string(column) ?? ""
    }

    /// The integer of a column, `nil` when it is NULL.
    func int64(_ column: Int32) -> Int64? {
        sqlite3_column_type(statement, column) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, column)
    }
}

/// A value for a statement parameter, bound straight through SQLite by ``GRDB/Database/execute(cached:_:)`` and
/// ``GRDB/Database/fetchFirst(cached:_:_:)``.
///
/// GRDB's `StatementArguments` box every value and convert it to a `DatabaseValue` before binding it, which on the
/// write path of every span request costs more than running the statement.
enum SQLValue {
    case text(String?)
    case integer(Int64?)
}

extension GRDB.Database {
    /// Runs a cached INSERT or UPDATE with positional values.
    ///
    /// Only for statements that change rows: statements that open or close transactions or savepoints must go
    /// through GRDB, which keeps track of them.
    func execute(cached sql: String, _ values: [SQLValue]) throws {
        try forEachRow(cached: sql, bind: { try Self.bind(values, to: $0) }) { _ in true }
    }

    /// Runs a cached query with positional values and maps its first row; `nil` when it has none.
    func fetchFirst<T>(cached sql: String, _ values: [SQLValue], _ map: (ColumnReader) throws -> T) throws -> T? {
        var result: T?
        try forEachRow(cached: sql, bind: { try Self.bind(values, to: $0) }) { row in
            result = try map(row)
            return false
        }
        return result
    }

    /// Runs a cached query and maps every row.
    func fetchAll<T>(cached sql: String, arguments: StatementArguments, _ map: (ColumnReader) throws -> T) throws -> [T] {
        var results: [T] = []
        try forEachRow(cached: sql, bind: { try $0.setArguments(arguments) }) { row in
            results.append(try map(row))
            return true
        }
        return results
    }

    /// Binds the parameters of a cached statement, steps through its rows while `body` returns `true`, then resets
    /// it.
    private func forEachRow(
        cached sql: String, bind: (Statement) throws -> Void, _ body: (ColumnReader) throws -> Bool
    ) throws {
        let statement = try cachedStatement(sql: sql)
        let sqliteStatement = statement.sqliteStatement
        sqlite3_reset(sqliteStatement)
        defer { sqlite3_reset(sqliteStatement) }
        try bind(statement)
        while true {
            switch sqlite3_step(sqliteStatement) {
            case SQLITE_ROW:
                guard try body(ColumnReader(statement: sqliteStatement)) else { return }
            case SQLITE_DONE:
                return
            case let code:
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: lastErrorMessage, sql: sql)
            }
        }
    }

    /// SQLite copies bound text (`SQLITE_TRANSIENT`), so Swift strings need not outlive the binding.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func bind(_ values: [SQLValue], to statement: Statement) throws {
        let sqliteStatement = statement.sqliteStatement
        guard values.count == Int(sqlite3_bind_parameter_count(sqliteStatement)) else {
            throw DatabaseError(message: "\(values.count) values for the parameters of: \(statement.sql)")
        }
        for (index, value) in zip(Int32(1)..., values) {
            let code: Int32
            switch value {
            case .text(let text?):
                var text = text
                code = text.withUTF8 { bytes in
                    guard let base = bytes.baseAddress else { return sqlite3_bind_text(sqliteStatement, index, "", 0, transient) }
                    return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                        sqlite3_bind_text(sqliteStatement, index, $0, Int32(bytes.count), transient)
                    }
                }
            case .integer(let number?):
                code = sqlite3_bind_int64(sqliteStatement, index, number)
            case .text(nil), .integer(nil):
                code = sqlite3_bind_null(sqliteStatement, index)
            }
            guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code), sql: statement.sql) }
        }
    }
}
