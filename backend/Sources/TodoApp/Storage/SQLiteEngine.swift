import Foundation
import GRDB
import Logging
import NIOConcurrencyHelpers
import SQLKit
import ServiceLifecycle

/// SQLite through GRDB: a WAL `DatabasePool` of one writer and a few readers.
///
/// Statements run synchronously on the calling task's thread (see `GRDBSQLDatabase`),
/// with GRDB's cached prepared statements. Reads outside a transaction go to a reader,
/// concurrently with each other and with the writer. Everything that writes, and every
/// statement of a transaction, runs on the writer, which one operation holds at a time
/// through `gate`: a transaction spans several statements with awaits between them, so
/// the writer is held for the whole of it. SQLite allows one writer at a time anyway; the
/// busy timeout makes a second process sharing the file wait for the lock instead of
/// failing.
final class SQLiteEngine: DatabaseEngine {
    let pool: DatabasePool
    let logger: Logger
    /// Held by whoever uses the writer: one autocommit write, or a transaction or
    /// migration from start to end.
    let gate = SerialGate()
    private let isClosed = NIOLockedValueBox(false)

    static let busyTimeoutSeconds: TimeInterval = 5
    /// Readers are held only while a statement runs, synchronously, so no more are busy
    /// at once than threads run tasks (one per core); with at least that many, a read
    /// never waits for a reader.
    static let maximumReaderCount = max(4, ProcessInfo.processInfo.activeProcessorCount)

    private init(pool: DatabasePool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    static func open(path: String, logger: Logger) async throws -> SQLiteEngine {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeoutSeconds)
        configuration.foreignKeysEnabled = true
        configuration.maximumReaderCount = maximumReaderCount
        // A transaction's statements are separate accesses to the writer, with awaits
        // between them; `gate` keeps every other caller off the writer meanwhile.
        configuration.allowsUnsafeTransactions = true
        configuration.prepareDatabase { db in
            // Durable across process crashes; WAL makes NORMAL lose at most the last
            // transactions on power loss, the usual trade-off for a web app.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        configuration.label = "todolist"
        // DatabasePool puts the file in WAL mode.
        let pool = try DatabasePool(path: path, configuration: configuration)
        return SQLiteEngine(pool: pool, logger: logger)
    }

    func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await body(GRDBSQLDatabase(engine: self, route: .autocommit))
    }

    func withTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await holdingWriter { sql in
            // IMMEDIATE takes the write lock at once, so two processes on one file cannot
            // both read and then fail to upgrade to writing.
            try await SQLTransaction.run(on: sql, begin: "BEGIN IMMEDIATE", body)
        }
    }

    /// The writer, with no transaction begun: the migrator begins its own.
    func withMigrationConnection<Result: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await holdingWriter(body)
    }

    /// Runs `body` with the writer to itself. A transaction `body` leaves open is rolled
    /// back, so that it cannot swallow other callers' writes: after a failure (its
    /// ROLLBACK failed too) quietly, after a success as an error, since its writes are lost.
    private func holdingWriter<Result: Sendable>(
        _ body: (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        await gate.acquire()
        defer { gate.release() }
        try checkOpen()
        let result: Result
        do {
            result = try await body(GRDBSQLDatabase(engine: self, route: .writer))
        } catch {
            _ = try? rollBackLeftoverTransaction()
            throw error
        }
        if try rollBackLeftoverTransaction() {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "a transaction was left open, and rolled back")
        }
        return result
    }

    /// Whether there was a transaction to roll back.
    private func rollBackLeftoverTransaction() throws -> Bool {
        try onWriter { db in
            guard db.isInsideTransaction else { return false }
            logger.warning("rolling back a transaction left open")
            try db.rollback()
            return true
        }
    }

    // MARK: Access, synchronous (non-async, so that GRDB's blocking overloads are chosen)

    /// Runs `work` on the writer; the caller holds `gate`.
    func onWriter<T>(_ work: (GRDB.Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction(work)
    }

    /// Runs `work` on a reader, outside any transaction: fine for a single statement,
    /// which SQLite runs in a read transaction of its own.
    func onReader<T>(_ work: (GRDB.Database) throws -> T) throws -> T {
        try pool.unsafeRead(work)
    }

    /// Throws once the pool is closed; the caller holds `gate`, which `close` takes.
    func checkOpen() throws {
        if isClosed.withLockedValue({ $0 }) {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "the database is closed")
        }
    }

    /// Closes the pool once the HTTP server has drained (services stop in reverse
    /// order, the server first).
    var services: [any Service] { [Closer(engine: self)] }

    /// Idempotent; later operations fail as the database is closed.
    func close() async {
        await gate.acquire()
        defer { gate.release() }
        let wasClosed = isClosed.withLockedValue { closed in
            defer { closed = true }
            return closed
        }
        if !wasClosed {
            do {
                try pool.close()
            } catch {
                logger.warning("closing the database failed", metadata: ["error": .string(String(describing: error))])
            }
        }
    }

    struct Closer: Service {
        let engine: SQLiteEngine

        func run() async throws {
            try? await gracefulShutdown()
            await engine.close()
        }
    }
}

/// A first-come first-served async mutex: callers wait in line without blocking a thread.
final class SerialGate: Sendable {
    private struct State {
        var isHeld = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    func acquire() async {
        let acquired = state.withLockedValue { state in
            if state.isHeld { return false }
            state.isHeld = true
            return true
        }
        if acquired { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquiredMeanwhile = state.withLockedValue { state in
                if state.isHeld {
                    state.waiters.append(continuation)
                    return false
                }
                state.isHeld = true
                return true
            }
            if acquiredMeanwhile { continuation.resume() }
        }
    }

    /// Hands the gate to the next waiter, or opens it.
    func release() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.isHeld = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
