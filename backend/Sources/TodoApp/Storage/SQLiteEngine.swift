import Foundation
import GRDB
import Logging
import NIOConcurrencyHelpers
import SQLKit
import ServiceLifecycle

/// SQLite through GRDB: one writer connection and a few read-only ones on the same WAL
/// file.
///
/// Statements run synchronously on the calling task's thread (see `GRDBSQLDatabase`),
/// with GRDB's cached prepared statements. Reads outside a transaction go to a reader,
/// concurrently with each other and with the writer. Everything that writes, and every
/// statement of a transaction, runs on the writer, which one operation holds at a time
/// through `gate`: a transaction spans several statements with awaits between them, so
/// the writer is held for the whole of it. SQLite allows one writer at a time anyway; the
/// busy timeout makes a second process sharing the file wait for the lock instead of
/// failing.
///
/// The readers are plain `DatabaseQueue`s in a free list of our own (`ReaderList`), not
/// a GRDB `DatabasePool`: the pool hands out readers through libdispatch (a concurrent
/// queue, barrier syncs on a second one, a semaphore and a group per read), and with
/// two threads reading at once those take libdispatch's slow paths, which park and wake
/// threads: about one context switch per read, several times the cost of the statement.
/// A reader taken from the list is used by one thread at a time, so GRDB's serial queue
/// around it is always free and its `sync` runs inline.
final class SQLiteEngine: DatabaseEngine {
    let writer: DatabaseQueue
    let readers: ReaderList
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

    private init(writer: DatabaseQueue, readers: ReaderList, logger: Logger) {
        self.writer = writer
        self.readers = readers
        self.logger = logger
    }

    static func open(path: String, logger: Logger) async throws -> SQLiteEngine {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeoutSeconds)
        configuration.foreignKeysEnabled = true
        configuration.label = "todolist"

        var writerConfiguration = configuration
        // Puts the file in WAL mode, with synchronous = NORMAL, and makes sure a
        // non-empty WAL file exists for the read-only connections to open.
        writerConfiguration.journalMode = .wal
        // A transaction's statements are separate accesses to the writer, with awaits
        // between them; `gate` keeps every other caller off the writer meanwhile.
        writerConfiguration.allowsUnsafeTransactions = true
        writerConfiguration.prepareDatabase { db in
            // Durable across process crashes; WAL makes NORMAL lose at most the last
            // transactions on power loss, the usual trade-off for a web app.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let writer = try DatabaseQueue(path: path, configuration: writerConfiguration)

        var readerConfiguration = configuration
        readerConfiguration.readonly = true
        let readers = ReaderList(maximumCount: maximumReaderCount) { [readerConfiguration] in
            try DatabaseQueue(path: path, configuration: readerConfiguration)
        }
        return SQLiteEngine(writer: writer, readers: readers, logger: logger)
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
        try writer.writeWithoutTransaction(work)
    }

    /// Runs `work` on a reader, outside any transaction: fine for a single statement,
    /// which SQLite runs in a read transaction of its own. Throws once closed.
    func onReader<T>(_ work: (GRDB.Database) throws -> T) throws -> T {
        try readers.withReader { reader in try reader.inDatabase(work) }
    }

    /// Throws once the database is closed; the caller holds `gate`, which `close` takes.
    func checkOpen() throws {
        if isClosed.withLockedValue({ $0 }) {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "the database is closed")
        }
    }

    /// Closes the connections once the HTTP server has drained (services stop in reverse
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
            // Readers first (waiting for those in use), so that the writer closes last
            // and checkpoints the WAL.
            for reader in readers.close() {
                closeLogging(reader)
            }
            closeLogging(writer)
        }
    }

    private func closeLogging(_ connection: DatabaseQueue) {
        do {
            try connection.close()
        } catch {
            logger.warning("closing the database failed", metadata: ["error": .string(String(describing: error))])
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

/// The read-only connections: a free list, guarded by a lock, of at most `maximumCount`
/// readers, opened on demand. `withReader` takes one for the length of a synchronous
/// body, so a reader is never used by two threads at once; when all are taken it waits
/// (briefly: holders never suspend) for one to come back.
final class ReaderList: @unchecked Sendable {
    // @unchecked: every stored var is guarded by `condition`.
    private let condition = NSCondition()
    private var idle: [DatabaseQueue] = []
    /// Readers opened (or being opened) and not closed, idle or in use.
    private var openCount = 0
    private var waiterCount = 0
    private var isClosed = false
    let maximumCount: Int
    private let openReader: @Sendable () throws -> DatabaseQueue

    init(maximumCount: Int, open: @escaping @Sendable () throws -> DatabaseQueue) {
        precondition(maximumCount > 0)
        self.maximumCount = maximumCount
        self.openReader = open
    }

    func withReader<T>(_ body: (DatabaseQueue) throws -> T) throws -> T {
        let reader = try take()
        defer { put(reader) }
        return try body(reader)
    }

    private func take() throws -> DatabaseQueue {
        condition.lock()
        while true {
            if isClosed {
                condition.unlock()
                throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "the database is closed")
            }
            if let reader = idle.popLast() {
                condition.unlock()
                return reader
            }
            if openCount < maximumCount {
                openCount += 1
                condition.unlock()
                do {
                    return try openReader()
                } catch {
                    condition.lock()
                    openCount -= 1
                    if waiterCount > 0 { condition.broadcast() }
                    condition.unlock()
                    throw error
                }
            }
            waiterCount += 1
            condition.wait()
            waiterCount -= 1
        }
    }

    private func put(_ reader: DatabaseQueue) {
        condition.lock()
        idle.append(reader)
        if waiterCount > 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Refuses readers from now on, waits for those in use to come back, and returns
    /// them all for the caller to close. Later calls return none.
    func close() -> [DatabaseQueue] {
        condition.lock()
        defer { condition.unlock() }
        isClosed = true
        while idle.count < openCount {
            waiterCount += 1
            condition.wait()
            waiterCount -= 1
        }
        let readers = idle
        idle = []
        openCount = 0
        return readers
    }
}
