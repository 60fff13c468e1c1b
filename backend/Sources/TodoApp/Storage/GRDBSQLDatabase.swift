import Foundation
import GRDB
import GRDBSQLite
import Logging
import NIOCore
import NIOPosix
import SQLKit
import struct SQLiteKit.SQLiteDialect

/// SQLKit's `SQLDatabase` over the engine's GRDB connections, so that the stores' queries run
/// unchanged on SQLite.
///
/// Statements run synchronously on the calling thread (they take microseconds) through
/// GRDB's cached prepared statements: no thread pool, no event-loop hop per row. Where
/// a statement runs depends on `route`:
/// - `.autocommit` (outside a transaction): a plain `SELECT` runs on one of the engine's
///   read-only WAL connections, concurrently with other reads; any other statement (writes, with or
///   without `RETURNING`, DDL, PRAGMAs) waits for the writer (`SQLiteEngine.access`) and runs on the
///   writer, committed on its own.
/// - `.writer`: every statement runs on the writer, which the caller already holds
///   (a transaction, or the migration connection).
///
/// Either way a write that finds another process holding SQLite's lock waits for it on
/// NIO's thread pool, not on the calling event loop (`SQLiteEngine.onWriterWaitingIfBusy`).
struct GRDBSQLDatabase: SQLDatabase {
    enum Route: Sendable {
        case autocommit
        case writer
    }

    let engine: SQLiteEngine
    let route: Route

    var logger: Logger { engine.logger }
    var eventLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { .trace }

    func execute(
        sql query: any SQLKit.SQLExpression,
        _ onRow: @escaping @Sendable (any SQLRow) -> Void
    ) async throws {
        let (sql, binds) = serialize(query)
        logger.trace("\(sql)")
        let arguments = try Self.arguments(binds)
        switch route {
        case .writer:
            try await engine.onWriterWaitingIfBusy { db in try Self.run(sql, arguments, on: db, onRow) }
        case .autocommit where Self.isPlainSelect(sql):
            try engine.onReader { db in try Self.run(sql, arguments, on: db, onRow) }
        case .autocommit:
            try await engine.autocommitWrite { db in
                try Self.run(sql, arguments, on: db, onRow)
                if db.isInsideTransaction {
                    // A BEGIN outside `Database.transaction`: undo it rather than let later
                    // statements of other callers join it.
                    try? db.rollback()
                    throw DatabaseError(
                        resultCode: .SQLITE_MISUSE,
                        message: "a statement run outside a transaction left one open", sql: sql)
                }
            }
        }
    }

    @preconcurrency
    func execute(
        sql query: any SQLKit.SQLExpression,
        _ onRow: @escaping @Sendable (any SQLRow) -> Void
    ) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        promise.completeWithTask { try await self.execute(sql: query, onRow) }
        return promise.futureResult
    }

    /// Prepares `sql` (or reuses its prepared statement), binds `arguments`, steps through
    /// every row and hands each to `onRow` as a copy (GRDB reuses its row).
    ///
    /// Column names are read from the statement once it has run, not from GRDB's cache of
    /// them: SQLite re-prepares a cached statement after a schema change (by any
    /// connection), and a `SELECT *` may then have other columns.
    static func run(
        _ sql: String, _ arguments: StatementArguments, on db: GRDB.Database,
        _ onRow: (any SQLRow) -> Void
    ) throws {
        let statement = try db.cachedStatement(sql: sql)
        try statement.setArguments(arguments)
        guard statement.columnCount > 0 else {
            try statement.execute()
            return
        }
        let sqliteStatement = statement.sqliteStatement
        let rows = try Row.fetchCursor(statement)
        var columns: [String]?
        var columnCount = 0
        while try rows.next() != nil {
            if columns == nil {
                columnCount = Int(sqlite3_column_count(sqliteStatement))
                columns = (0..<CInt(columnCount)).map { String(cString: sqlite3_column_name(sqliteStatement, $0)) }
            }
            var values: [DatabaseValue] = []
            values.reserveCapacity(columnCount)
            for index in 0..<CInt(columnCount) {
                values.append(DatabaseValue(sqliteStatement: sqliteStatement, index: index))
            }
            onRow(GRDBSQLRow(columns: columns!, values: values))
        }
    }

    /// Whether `sql` only reads, so that a WAL reader may run it: it starts with `SELECT`
    /// and has no `RETURNING` anywhere (conservatively, even inside a name or a string).
    static func isPlainSelect(_ sql: String) -> Bool {
        var sql = sql
        return sql.withUTF8 { bytes in
            var start = 0
            while start < bytes.count, bytes[start] == UInt8(ascii: " ") || (bytes[start] >= 0x09 && bytes[start] <= 0x0D) {
                start += 1
            }
            guard matches(bytes, at: start, "select") else { return false }
            let afterKeyword = start + 6
            if afterKeyword < bytes.count, isIdentifierByte(bytes[afterKeyword]) { return false }
            var index = afterKeyword
            while index < bytes.count {
                if bytes[index] | 0x20 == UInt8(ascii: "r"), matches(bytes, at: index, "returning") { return false }
                index += 1
            }
            return true
        }
    }

    /// Whether `bytes` holds `lowercaseWord` at `offset`, ignoring ASCII case.
    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int, _ lowercaseWord: StaticString) -> Bool {
        let count = lowercaseWord.utf8CodeUnitCount
        guard offset + count <= bytes.count else { return false }
        return lowercaseWord.withUTF8Buffer { word in
            for index in 0..<count where bytes[offset + index] | 0x20 != word[index] {
                return false
            }
            return true
        }
    }

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        let lower = byte | 0x20
        return (byte >= 0x30 && byte <= 0x39) || (lower >= 0x61 && lower <= 0x7A) || byte == UInt8(ascii: "_")
            || byte >= 0x80
    }

    /// Binds as SQLite stores them: integers (and booleans, as 0/1), reals, text, blobs,
    /// NULL for a `nil` optional.
    static func arguments(_ binds: [any Encodable & Sendable]) throws -> StatementArguments {
        var values: [(any DatabaseValueConvertible)?] = []
        values.reserveCapacity(binds.count)
        for bind in binds {
            guard let convertible = bind as? any DatabaseValueConvertible else {
                throw UnsupportedSQLiteBind(type: String(reflecting: type(of: bind)))
            }
            values.append(convertible)
        }
        // This initializer, not the one taking concrete values: that one maps through a
        // key path, which the runtime instantiates on every call.
        return StatementArguments(values)
    }
}

/// A bind of a type the SQLite adapter cannot store.
struct UnsupportedSQLiteBind: Error, CustomStringConvertible {
    let type: String
    var description: String { "cannot bind a value of type \(type) to an SQLite statement" }
}

/// One result row, copied out of the statement.
struct GRDBSQLRow: SQLRow {
    let columns: [String]
    let values: [DatabaseValue]

    var allColumns: [String] { columns }

    func contains(column: String) -> Bool {
        columns.contains(column)
    }

    func decodeNil(column: String) throws -> Bool {
        try value(column).isNull
    }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        let value = try value(column)
        // The common types first, without a dynamic cast.
        switch value.storage {
        case .int64(let integer):
            if D.self == Int64.self { return integer as! D }
            if D.self == Int.self, let integer = Int(exactly: integer) { return integer as! D }
            if D.self == Bool.self { return (integer != 0) as! D }
        case .string(let string):
            if D.self == String.self { return string as! D }
        default:
            break
        }
        guard let convertible = D.self as? any DatabaseValueConvertible.Type else {
            throw GRDBSQLRowDecodingError(column: column, type: String(reflecting: D.self), value: value, reason: "unsupported type")
        }
        // `Optional` is convertible too: NULL decodes as `nil`.
        guard let decoded = Self.decode(value, as: convertible) else {
            throw GRDBSQLRowDecodingError(column: column, type: String(reflecting: D.self), value: value,
                reason: value.isNull ? "NULL where a value is required" : "incompatible value")
        }
        return decoded as! D
    }

    private static func decode<T: DatabaseValueConvertible>(_ value: DatabaseValue, as type: T.Type) -> Any? {
        guard let decoded = T.fromDatabaseValue(value) else { return nil }
        return decoded
    }

    private func value(_ column: String) throws -> DatabaseValue {
        guard let index = columns.firstIndex(of: column) else {
            throw GRDBSQLRowDecodingError(column: column, type: nil, value: nil, reason: "no such column")
        }
        return values[index]
    }
}

/// A column missing from a row, or not decodable as the type asked for.
struct GRDBSQLRowDecodingError: Error, CustomStringConvertible {
    let column: String
    let type: String?
    let value: DatabaseValue?
    let reason: String

    var description: String {
        var text = "cannot decode column '\(column)'"
        if let type { text += " as \(type)" }
        if let value { text += " from \(Self.storageClass(of: value))" }
        return text + ": \(reason)"
    }

    /// The value's storage class only: the value itself may be a secret.
    static func storageClass(of value: DatabaseValue) -> String {
        switch value.storage {
        case .null: "NULL"
        case .int64: "INTEGER"
        case .double: "REAL"
        case .string: "TEXT"
        case .blob: "BLOB"
        }
    }
}
