import Foundation
import struct GRDB.DatabaseError
import struct GRDB.ResultCode
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import _ConnectionPoolModule

/// The application's database: SQLite (one file, the default) or PostgreSQL (a pool),
/// chosen by `DATABASE_URL`.
///
/// Stores declare every statement as a `StoreQuery` and run it here: `fetch` for one
/// statement committed on its own, `transaction` for several on one connection. Only the
/// connection handling differs between the two engines. Connection failures come out as
/// `DatabaseUnavailable` (answered 503), any other failure unchanged.
public final class Database: Sendable {
    public enum Kind: String, Sendable {
        case sqlite, postgres
    }

    public let kind: Kind
    let engine: any DatabaseEngine
    let logger: Logger
    /// On PostgreSQL, the sessions and lists `GET /api/todos/` may be served from (`ListCache`).
    let listCache: ListCache?

    init(kind: Kind, engine: any DatabaseEngine, logger: Logger, listCache: ListCache? = nil) {
        self.kind = kind
        self.engine = engine
        self.logger = logger
        self.listCache = listCache
    }

    /// Opens the database named by `url`. SQLite's folder is created if missing;
    /// PostgreSQL connections are made lazily by the pool, which must then run as one of
    /// `services`.
    /// - Parameters:
    ///   - queryTimeout: PostgreSQL only: how long work on a leased connection may take.
    ///   - listCacheTodos: PostgreSQL only: how many todos `ListCache` keeps; 0: no cache.
    public static func open(
        url: String, poolSize: Int, queryTimeout: Duration = .seconds(3), listCacheTodos: Int = 0, logger: Logger
    ) async throws -> Database {
        switch try DatabaseLocation(url: url) {
        case .sqlite(let path):
            let engine = try await SQLiteEngine.open(path: path, logger: logger)
            return Database(kind: .sqlite, engine: engine, logger: logger)
        case .postgres(let location):
            let engine = try PostgresEngine(
                location: location, poolSize: poolSize, logger: logger, queryTimeout: queryTimeout)
            let cache = listCacheTodos > 0 ? ListCache(capacity: listCacheTodos) : nil
            return Database(kind: .postgres, engine: engine, logger: logger, listCache: cache)
        }
    }

    /// What the application must run alongside the HTTP server for queries to be answered
    /// (PostgreSQL's connection pool; nothing for SQLite).
    public var services: [any Service] {
        guard let listCache, let engine = engine as? PostgresEngine else { return engine.services }
        return engine.services + [ListCacheListener(engine: engine, cache: listCache, logger: logger)]
    }

    /// Runs one statement committed on its own; its rows, decoded. A read-only one runs on
    /// one of SQLite's WAL readers.
    func fetch<Query: StoreQuery>(_ query: Query) async throws -> [Query.Row] {
        try await Self.mappingFailures { try await self.engine.fetch(query) }
    }

    /// The query's first row, if any.
    func fetchFirst<Query: StoreQuery>(_ query: Query) async throws -> Query.Row? {
        try await fetch(query).first
    }

    /// Runs `body` in one transaction on one connection: committed when it returns, rolled
    /// back when it throws. `body` runs statements through `tx` only, and must not await
    /// anything else (hashing, the network, another query on `self`): on SQLite the writer
    /// is held for the whole of it, and every other write waits.
    func transaction<Result: Sendable>(
        _ body: @escaping @Sendable (any StoreConnection) async throws -> Result
    ) async throws -> Result {
        try await Self.mappingFailures { try await self.engine.withTransaction(body) }
    }

    /// `transaction` on the connection migrations use (SQLite's writer, a PostgreSQL
    /// connection of its own outside the pool), for the commands that run no pool service.
    func migrationTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (any StoreConnection) async throws -> Result
    ) async throws -> Result {
        try await Self.mappingFailures {
            try await self.engine.withMigrationConnection { connection in
                try await StoreTransaction.run(on: connection, body)
            }
        }
    }

    /// Brings the schema up to date; returns the versions it applied (none when current).
    @discardableResult
    public func migrate() async throws -> [Migration] {
        let migrator = Migrator(logger: logger)
        return try await migrationTransaction { tx in try await migrator.run(in: tx) }
    }

    /// `SELECT 1` answered within the engine's deadline.
    func isReachable(logger: Logger) async -> Bool {
        do {
            _ = try await fetch(Ping())
            return true
        } catch {
            logger.warning("database unreachable", metadata: ["error": .string(LoggedError.describe(error))])
            return false
        }
    }

    /// Closes SQLite's connections; PostgreSQL's pool closes when its service ends.
    public func close() async {
        await engine.close()
    }

    static func mappingFailures<Result>(_ operation: () async throws -> Result) async throws -> Result {
        do {
            return try await operation()
        } catch let error as DatabaseUnavailable {
            throw error
        } catch where isUnavailability(error) {
            throw DatabaseUnavailable(underlying: error)
        }
    }

    /// Whether `error` means "the database cannot be reached or is overloaded right now"
    /// (a 503 worth retrying) rather than a bug or a constraint (a 500 or a 4xx).
    static func isUnavailability(_ error: any Error) -> Bool {
        switch error {
        // `ConnectionPoolError` is the pool's own type: PostgresNIO maps only some of its
        // cases to `PSQLError` and passes the others through, hence `_ConnectionPoolModule`.
        case is ConnectionLeaseTimeout, is QueryTimeout, is ConnectionPoolError, is ChannelError, is IOError:
            return true
        case let error as PSQLError:
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
                .sslUnsupported, .failedToAddSSLHandler, .queryCancelled:
                return true
            case .server:
                // Classes 08 (connection), 53 (insufficient resources), 57 (operator
                // intervention, e.g. the server shutting down).
                let state = error.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57")
            default:
                return false
            }
        case let error as DatabaseError:
            // SQLite's primary code, whichever extended code refines it.
            switch error.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_CANTOPEN, .SQLITE_IOERR, .SQLITE_FULL:
                return true
            default:
                return false
            }
        default:
            return false
        }
    }

    /// Whether `error` is a FOREIGN KEY constraint violation, on either engine. Every
    /// foreign key of the schema names a user (`ON DELETE CASCADE`), so this is a write for
    /// a user whose account was deleted after the request was authenticated.
    static func isForeignKeyViolation(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            return error.code == .server && error.serverInfo?[.sqlState] == "23503"
        case let error as DatabaseError:
            return error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY
        default:
            return false
        }
    }

    /// Whether `error` is a UNIQUE constraint violation, on either engine.
    static func isUniqueViolation(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            return error.code == .server && error.serverInfo?[.sqlState] == "23505"
        case let error as DatabaseError:
            return error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
                || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY
        default:
            return false
        }
    }
}

/// Statements on a connection held for a transaction or a migration: SQLite's writer, run
/// synchronously (the call never suspends), or a PostgreSQL connection, as prepared
/// statements. Valid only inside the closure it was given to.
protocol StoreConnection: Sendable {
    var kind: Database.Kind { get }
    func fetch<Query: StoreQuery>(_ query: Query) async throws -> [Query.Row]
}

extension StoreConnection {
    func fetchFirst<Query: StoreQuery>(_ query: Query) async throws -> Query.Row? {
        try await fetch(query).first
    }
}

/// How one engine hands out connections.
protocol DatabaseEngine: Sendable {
    func fetch<Query: StoreQuery>(_ query: Query) async throws -> [Query.Row]
    func withTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (any StoreConnection) async throws -> Result) async throws -> Result
    /// A connection for schema changes, usable before the pool's service runs; no
    /// transaction begun.
    func withMigrationConnection<Result: Sendable>(
        _ body: @escaping @Sendable (any StoreConnection) async throws -> Result) async throws -> Result
    var services: [any Service] { get }
    func close() async
}

/// `BEGIN`/`COMMIT`, or `ROLLBACK` when the body throws, on a connection held for the whole of it.
enum StoreTransaction {
    static func run<Result>(
        on connection: any StoreConnection, _ body: (any StoreConnection) async throws -> Result
    ) async throws -> Result {
        _ = try await connection.fetch(BeginTransaction())
        do {
            let result = try await body(connection)
            _ = try await connection.fetch(CommitTransaction())
            return result
        } catch {
            // A failed ROLLBACK leaves nothing to undo here: the connection is broken (the
            // pool drops it) or SQLite's writer rolls back what is left open (see `SQLiteEngine`).
            _ = try? await connection.fetch(RollbackTransaction())
            throw error
        }
    }
}

/// IMMEDIATE takes SQLite's write lock at once, so two processes on one file cannot both
/// read and then fail to upgrade to writing.
struct BeginTransaction: StoreCommand {
    static let name = "todolist_begin"
    static let text = QueryText("BEGIN IMMEDIATE", postgres: "BEGIN")
    static let isReadOnly = false
    var binds: [QueryValue] { [] }
}

struct CommitTransaction: StoreCommand {
    static let name = "todolist_commit"
    static let text = QueryText("COMMIT")
    static let isReadOnly = false
    var binds: [QueryValue] { [] }
}

struct RollbackTransaction: StoreCommand {
    static let name = "todolist_rollback"
    static let text = QueryText("ROLLBACK")
    static let isReadOnly = false
    var binds: [QueryValue] { [] }
}

/// The readiness check's statement.
struct Ping: StoreCommand {
    static let name = "todolist_ping"
    static let text = QueryText("SELECT 1")
    static let isReadOnly = true
    var binds: [QueryValue] { [] }
}

/// No PostgreSQL connection could be leased in time: the server is down or saturated.
struct ConnectionLeaseTimeout: Error, CustomStringConvertible {
    let waited: Duration
    var description: String { "no database connection became available within \(waited)" }
}

/// Work on a leased connection did not end within the query deadline; the connection was
/// closed, so what was not committed is rolled back, but a commit may have happened.
struct QueryTimeout: Error, CustomStringConvertible {
    let waited: Duration
    var description: String { "the database did not answer within \(waited); the connection was closed" }
}

/// Errors described for the log without the data they carry.
///
/// A PostgreSQL error's debug description holds its query's bind values (session hashes,
/// CSRF secrets, password hashes) and the server's `detail` field, which repeats key
/// values (`Key (id_hash)=(…) already exists`); a decoding error's holds the cell's
/// bytes. These descriptions keep what identifies the failure (codes, the server's
/// message, the table, column and constraint, the statement's text with its `$n`
/// placeholders) and drop the values.
public enum LoggedError {
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let error as DatabaseUnavailable:
            return "database unavailable: " + describe(error.underlying)
        case let error as PSQLError:
            return describe(error)
        case let error as PostgresDecodingError:
            return "PostgresDecodingError(code: \(error.code), column: \(error.columnName) #\(error.columnIndex), "
                + "postgresType: \(error.postgresType), target: \(error.targetType))"
        case let error as DatabaseError:
            // GRDB leaves the statement's arguments out of its description unless
            // `publicStatementArguments` is set, which this application never does.
            return "SQLite " + error.description
        default:
            return String(describing: error)
        }
    }

    private static func describe(_ error: PSQLError) -> String {
        var parts = ["code: \(error.code)"]
        if let info = error.serverInfo {
            let fields: [(String, PSQLError.ServerInfo.Field)] = [
                ("severity", .severity), ("sqlState", .sqlState), ("message", .message),
                ("table", .tableName), ("column", .columnName), ("constraint", .constraintName),
            ]
            for (name, field) in fields {
                if let value = info[field] { parts.append("\(name): \(value)") }
            }
        }
        if let underlying = error.underlying {
            parts.append("underlying: \(describe(underlying))")
        }
        if let query = error.query {
            parts.append("query: \(query.sql)")
        }
        return "PSQLError(" + parts.joined(separator: ", ") + ")"
    }
}
