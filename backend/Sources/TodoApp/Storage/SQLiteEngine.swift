import CSQLiteSettings
import Foundation
import GRDB
import GRDBSQLite
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle

/// SQLite through GRDB: one writer connection and a few read-only ones on the same WAL
/// file.
///
/// Statements run synchronously on the calling task's thread, with GRDB's cached prepared
/// statements. A read-only statement run on its own goes to a reader, concurrently with
/// the others and with the writer. Everything that writes, and every statement of a
/// transaction, runs on the writer; SQLite allows one writer at a time anyway.
///
/// Who uses the writer is decided by `access` (`WriterAccess`): a statement on its own
/// holds a plain lock for the microseconds it runs; a transaction takes the writer
/// exclusively, at once when it is free, and runs its statements synchronously, so it
/// holds the writer only while its thread runs it (the contract of
/// `Database.transaction`: its body awaits nothing but its statements, which never
/// suspend here). docs/performance.md has the measurements behind this.
///
/// Another process sharing the file (`migrate`, `create-user`, a second server) may hold
/// SQLite's write lock. A write is first tried at once, on the calling thread (an event
/// loop's), with no busy timeout; only when the lock is taken does it wait, up to
/// `busyTimeoutSeconds`, on NIO's thread pool (`onWriterWaitingIfBusy`), so an event loop
/// never sleeps on another process while the requests queued on it wait.
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
    /// Keeps autocommit writes and transactions (or migrations) off the writer while
    /// another uses it.
    let access = WriterAccess()
    private let isClosed = NIOLockedValueBox(false)

    /// How long a write waits for another process's write lock before failing as busy (503).
    static let busyTimeoutSeconds: TimeInterval = 5
    /// Readers are held only while a statement runs, synchronously, so no more are busy
    /// at once than threads run tasks (one per core); with at least that many, a read
    /// never waits for a reader.
    static let maximumReaderCount = max(4, ProcessInfo.processInfo.activeProcessorCount)

    /// SQLite's settings for the whole process, made once, before the first connection opens
    /// (every connection of the process opens through `open`): without memory statistics,
    /// the event loops reading at once no longer take turns on one mutex for each of
    /// SQLite's allocations (docs/performance.md). SQLite's result code.
    static let processSettings: Int32 = todolist_sqlite_disable_memory_statistics()

    private init(writer: DatabaseQueue, readers: ReaderList, logger: Logger) {
        self.writer = writer
        self.readers = readers
        self.logger = logger
    }

    static func open(path: String, logger: Logger) async throws -> SQLiteEngine {
        if processSettings != SQLITE_OK {
            logger.debug("SQLite's memory statistics stay on: it was in use before the first database was opened")
        }
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
        // A transaction's statements are separate accesses to the writer; `access` keeps
        // every other caller off the writer meanwhile.
        writerConfiguration.allowsUnsafeTransactions = true
        writerConfiguration.prepareDatabase { db in
            // Durable across process crashes; WAL makes NORMAL lose at most the last
            // transactions on power loss, the usual trade-off for a web app.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let writer = try DatabaseQueue(path: path, configuration: writerConfiguration)
        // Opening may wait (start-up is not serving yet); from now on the writer fails at
        // once when the lock is taken, and `onWriterWaitingIfBusy` waits off the loops.
        try await writer.writeWithoutTransaction { db in Self.setBusyTimeout(0, on: db) }

        var readerConfiguration = configuration
        readerConfiguration.readonly = true
        let readers = ReaderList(maximumCount: maximumReaderCount) { [readerConfiguration] in
            try DatabaseQueue(path: path, configuration: readerConfiguration)
        }
        return SQLiteEngine(writer: writer, readers: readers, logger: logger)
    }

    /// Runs `body` as one `BEGIN IMMEDIATE` transaction with the writer to itself. The writer
    /// is taken without suspending when it is free, and `body`'s statements run
    /// synchronously on it (`SQLiteWriterConnection`), so concurrent writers wait
    /// microseconds for one another, never for another task to be scheduled. Only when
    /// another process holds the write lock does `BEGIN` wait for it, off the event loops.
    func withTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (any StoreConnection) async throws -> Result
    ) async throws -> Result {
        try await holdingWriter { connection in
            let begin = BeginTransaction()
            _ = try await onWriterWaitingIfBusy { db in try Self.run(begin, on: db) }
            do {
                let result = try await body(connection)
                _ = try connection.run(CommitTransaction())
                return result
            } catch {
                _ = try? connection.run(RollbackTransaction())
                throw error
            }
        }
    }

    /// The writer, with no transaction begun: the caller begins its own.
    func withMigrationConnection<Result: Sendable>(
        _ body: @escaping @Sendable (any StoreConnection) async throws -> Result
    ) async throws -> Result {
        try await holdingWriter(body)
    }

    /// Runs `body` with the writer to itself. A transaction `body` leaves open is rolled
    /// back, so that it cannot swallow other callers' writes: after a failure (its
    /// ROLLBACK failed too) quietly, after a success as an error, since its writes are lost.
    private func holdingWriter<Result: Sendable>(
        _ body: (SQLiteWriterConnection) async throws -> Result
    ) async throws -> Result {
        if !access.tryAcquireExclusive() {
            await access.acquireExclusive()
        }
        defer { access.releaseExclusive() }
        try checkOpen()
        let result: Result
        do {
            result = try await body(SQLiteWriterConnection(engine: self))
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

    /// Runs one `StoreQuery` on its own: on a reader when it only reads, otherwise on the
    /// writer once no transaction holds it.
    func fetch<Query: StoreQuery>(_ query: Query) async throws -> [Query.Row] {
        if Query.isReadOnly {
            return try onReader { db in try Self.run(query, on: db) }
        }
        return try await autocommitWrite { db in
            let rows = try Self.run(query, on: db)
            if db.isInsideTransaction {
                // A BEGIN outside `Database.transaction`: undo it rather than let later
                // statements of other callers join it.
                try? db.rollback()
                throw DatabaseError(
                    resultCode: .SQLITE_MISUSE, message: "\(Query.name) run on its own left a transaction open")
            }
            return rows
        }
    }

    /// Steps through the query's rows with GRDB's cursor (which turns SQLite's failures
    /// into `DatabaseError`s) and reads each row's columns straight off the statement.
    static func run<Query: StoreQuery>(_ query: Query, on db: GRDB.Database) throws -> [Query.Row] {
        let text = query.statementText.sqlite
        guard !text.isEmpty else { throw QueryNotOnThisEngine(query: Query.name) }
        guard Query.isPrepared else {
            try db.execute(sql: text)
            return []
        }
        let statement = try db.cachedStatement(sql: text)
        var values: [(any DatabaseValueConvertible)?] = []
        values.reserveCapacity(query.binds.count)
        for bind in query.binds {
            switch bind {
            case .integer(let integer): values.append(integer)
            case .text(let text): values.append(text)
            case .bool(let bool): values.append(bool)
            case .integers(let integers): values.append(try JSONArray.text(integers))
            case .texts(let texts): values.append(try JSONArray.text(texts))
            case .null: values.append(nil)
            }
        }
        try statement.setArguments(StatementArguments(values))
        guard statement.columnCount > 0 else {
            try statement.execute()
            return []
        }
        var rows: [Query.Row] = []
        let cursor = try Row.fetchCursor(statement)
        while try cursor.next() != nil {
            var columns = SQLiteColumns(statement: statement.sqliteStatement, query: Query.name, row: rows.count)
            rows.append(try Query.decode(&columns))
        }
        return rows
    }

    // MARK: Access, synchronous (non-async, so that GRDB's blocking overloads are chosen)

    /// Runs `work` on the writer; the caller holds `access`. Fails with `SQLITE_BUSY` at
    /// once when another process holds the write lock.
    func onWriter<T>(_ work: (GRDB.Database) throws -> T) throws -> T {
        try writer.writeWithoutTransaction(work)
    }

    // MARK: Writes that may wait for another process

    /// Runs one statement committed on its own on the writer: at once when no
    /// transaction holds it and no other process holds the lock (the common case, on the
    /// calling thread); otherwise with the writer held exclusively, waiting for the lock
    /// off the event loops.
    func autocommitWrite<T: Sendable>(_ work: @escaping @Sendable (GRDB.Database) throws -> T) async throws -> T {
        do {
            return try await access.withStatement {
                try checkOpen()
                return try onWriter(work)
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            // The failed attempt wrote nothing (SQLite rolls a busy statement back).
            // Exclusively, so that other writes wait for this one without blocking a thread.
            await access.acquireExclusive()
            defer { access.releaseExclusive() }
            try checkOpen()
            return try await onWriterWaitingIfBusy(work)
        }
    }

    /// Runs `work` on the writer, which the caller holds exclusively: at once on this
    /// thread, or, when another process holds the lock, again on NIO's thread pool with
    /// the busy timeout, so that the waiting blocks a pool thread, not an event loop.
    /// `work` must write nothing before the statement that found the lock taken (one
    /// statement, or a transaction's `BEGIN IMMEDIATE`: after it the lock is held).
    func onWriterWaitingIfBusy<T: Sendable>(_ work: @escaping @Sendable (GRDB.Database) throws -> T) async throws -> T {
        do {
            return try onWriter(work)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            let milliseconds = Int32(Self.busyTimeoutSeconds * 1000)
            return try await NIOThreadPool.singleton.runIfActive { [writer] in
                try writer.writeWithoutTransaction { db in
                    Self.setBusyTimeout(milliseconds, on: db)
                    defer { Self.setBusyTimeout(0, on: db) }
                    return try work(db)
                }
            }
        }
    }

    private static func setBusyTimeout(_ milliseconds: Int32, on db: GRDB.Database) {
        sqlite3_busy_timeout(db.sqliteConnection, milliseconds)
    }

    /// Runs `work` on a reader, outside any transaction: fine for a single statement,
    /// which SQLite runs in a read transaction of its own. Throws once closed.
    func onReader<T>(_ work: (GRDB.Database) throws -> T) throws -> T {
        try readers.withReader { reader in try reader.inDatabase(work) }
    }

    /// Throws once the database is closed; the caller holds `access`, which `close` takes exclusively.
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
        await access.acquireExclusive()
        defer { access.releaseExclusive() }
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
            logger.warning("closing the database failed", metadata: ["error": .string(LoggedError.describe(error))])
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

/// The current row of an SQLite statement, read column by column.
struct SQLiteColumns: ColumnReader {
    let statement: SQLiteStatement
    let query: String
    let row: Int
    private var index: CInt = 0

    init(statement: SQLiteStatement, query: String, row: Int) {
        self.statement = statement
        self.query = query
        self.row = row
    }

    mutating func skip(_ count: Int) {
        index += CInt(count)
    }

    mutating func integer() throws -> Int64 {
        try expect(SQLITE_INTEGER, "INTEGER")
        defer { index += 1 }
        return sqlite3_column_int64(statement, index)
    }

    mutating func text() throws -> String {
        try expect(SQLITE_TEXT, "TEXT")
        defer { index += 1 }
        let count = Int(sqlite3_column_bytes(statement, index))
        guard let bytes = sqlite3_column_text(statement, index) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    mutating func optionalInteger() throws -> Int64? {
        try skippingNull() ? nil : integer()
    }

    mutating func optionalText() throws -> String? {
        try skippingNull() ? nil : text()
    }

    /// Whether the column is NULL; if so, moves past it.
    private mutating func skippingNull() throws -> Bool {
        guard nextIsNull() else { return false }
        index += 1
        return true
    }

    /// SQLite has no boolean type: 0 and 1 in an INTEGER column.
    mutating func bool() throws -> Bool {
        try integer() != 0
    }

    mutating func nextIsNull() -> Bool {
        index < sqlite3_column_count(statement) && sqlite3_column_type(statement, index) == SQLITE_NULL
    }

    /// A list read with its parent comes as rows of its own (`ColumnReader.nestsRows`).
    static let nestsRows = false

    mutating func nestedRows<Nested: StoreQuery>(as nested: Nested.Type) throws -> [Nested.Row] {
        throw UnexpectedColumn(query: query, index: Int(index), expected: "nested rows", found: "a column (SQLite does not nest rows)")
    }

    private func expect(_ type: CInt, _ name: String) throws {
        guard index < sqlite3_column_count(statement) else {
            throw UnexpectedColumn(query: query, index: Int(index), expected: name, found: "missing")
        }
        let found = sqlite3_column_type(statement, index)
        guard found == type else {
            let foundName = [SQLITE_INTEGER: "INTEGER", SQLITE_FLOAT: "REAL", SQLITE_TEXT: "TEXT", SQLITE_BLOB: "BLOB"][found] ?? "NULL"
            throw UnexpectedColumn(query: query, index: Int(index), expected: name, found: foundName)
        }
    }
}

/// Who may use the writer connection.
///
/// A statement committed on its own runs synchronously and takes microseconds, so it
/// holds a plain lock while it runs: another one arriving meanwhile waits on the lock
/// for those microseconds. A transaction (or a migration, or `close`) holds the writer
/// exclusively instead, taken at once when it is free (`tryAcquireExclusive`, no
/// suspension); whoever arrives meanwhile waits without blocking a thread, and when the
/// writer is released every waiter tries again. The writer is never handed to a waiter:
/// a waiter's task may sit in an executor's queue behind other work, and the writer would
/// idle held by it meanwhile.
final class WriterAccess: Sendable {
    private struct State {
        var isExclusive = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    /// Runs `body` once no transaction holds the writer, with other statements kept out.
    func withStatement<T>(_ body: () throws -> T) async throws -> T {
        var result: T?
        var failure: (any Error)?
        if spinUntil({
            state.withLockedValue { state in
                guard !state.isExclusive else { return false }
                do { result = try body() } catch { failure = error }
                return true
            }
        }) {
            if let failure { throw failure }
            return result!
        }
        while true {
            let result: T? = try state.withLockedValue { state in
                state.isExclusive ? nil : try body()
            }
            if let result { return result }
            await waitForRelease()
        }
    }

    /// Takes the writer when it is free, without suspending; `false` when it is not.
    func tryAcquireExclusive() -> Bool {
        state.withLockedValue { state in
            guard !state.isExclusive else { return false }
            state.isExclusive = true
            return true
        }
    }

    /// Waits until the writer is free and keeps it until `releaseExclusive`: first by trying
    /// again for up to `spinLimit` (a holder runs its statements synchronously, on another
    /// thread, for tens of microseconds), then suspended until a release.
    func acquireExclusive() async {
        if spinUntil({ self.tryAcquireExclusive() }) { return }
        while !tryAcquireExclusive() {
            await waitForRelease()
        }
    }

    /// How long a contender keeps trying before it suspends: a suspended waiter costs task
    /// wake-ups on every release, which at 32 concurrent writes cost more than the wait.
    static let spinLimit: Duration = .microseconds(200)

    private func spinUntil(_ attempt: () -> Bool) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: Self.spinLimit)
        repeat {
            if attempt() { return true }
            sched_yield()
        } while clock.now < deadline
        return false
    }

    /// Frees the writer and wakes everyone waiting for it to try again.
    func releaseExclusive() {
        let waiters = state.withLockedValue { state in
            state.isExclusive = false
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the writer has been released since an exclusive holder was seen (at
    /// once if it is free already).
    private func waitForRelease() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isFree = state.withLockedValue { state in
                if state.isExclusive { state.waiters.append(continuation) }
                return !state.isExclusive
            }
            if isFree { continuation.resume() }
        }
    }
}

/// SQLite's writer, held by a transaction or a migration: each statement runs synchronously
/// on the calling thread.
struct SQLiteWriterConnection: StoreConnection {
    let engine: SQLiteEngine
    var kind: Database.Kind { .sqlite }

    /// Never suspends: `async` only to share `StoreConnection` with PostgreSQL.
    func fetch<Query: StoreQuery>(_ query: Query) async throws -> [Query.Row] {
        try run(query)
    }

    func run<Query: StoreQuery>(_ query: Query) throws -> [Query.Row] {
        try engine.onWriter { db in try SQLiteEngine.run(query, on: db) }
    }
}

/// Array values bound on SQLite as JSON text, which statements read with `json_each`.
enum JSONArray {
    static func text<Element: Encodable>(_ elements: [Element]) throws -> String {
        String(decoding: try JSONEncoder().encode(elements), as: UTF8.self)
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
