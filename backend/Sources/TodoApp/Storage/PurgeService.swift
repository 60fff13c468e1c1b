import GRDB
import Logging
import NIOPosix
import ServiceLifecycle

/// Deletes expired sessions, login failures too old to count and tokens long expired, at
/// start-up and then every `interval`, until the application shuts down. Lookups already
/// ignore such rows; this only keeps the tables small.
struct PurgeService: Service {
    let sessions: SessionStore
    let loginFailures: LoginThrottleStore
    let tokens: TokenStore
    let throttleWindow: Int
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // Let the services start first: PostgreSQL's pool runs beside this one.
            try? await Task.sleep(for: .seconds(1))
            while !Task.isCancelled {
                await purgeOnce()
                try? await Task.sleep(for: interval)
            }
        }
    }

    func purgeOnce() async {
        do {
            let sessionCount = try await sessions.purgeExpired()
            let failureCount = try await loginFailures.purge(olderThan: throttleWindow)
            let tokenCount = try await tokens.purgeExpired()
            if sessionCount + failureCount + tokenCount > 0 {
                logger.info(
                    "purged expired rows",
                    metadata: [
                        "sessions": "\(sessionCount)", "login_failures": "\(failureCount)", "api_tokens": "\(tokenCount)",
                    ])
            }
        } catch {
            // The database may be down for a while; the next round tries again.
            logger.warning("purge failed", metadata: ["error": .string(LoggedError.describe(error))])
        }
    }
}

/// Deletes a table's rows whose time column is at most `bound`, in batches (one statement
/// each, committed on its own) until none is left: memory, and the time any one statement
/// holds the writer (SQLite) or its row locks (PostgreSQL), stay bounded however many rows
/// expired. A failure leaves the batches before it deleted.
///
/// The purge is background work and must not delay requests:
/// - Between batches the purge rests `restFactor` times as long as the last batch took (at
///   least `minimumRest`): it takes at most a quarter of one thread or PostgreSQL backend,
///   and less when the machine is busy, since a batch then takes longer.
/// - On SQLite a statement runs synchronously on the calling thread, so each batch runs on
///   NIO's thread pool, never on an event loop, with the writer held exclusively (other
///   writes wait suspended, off the loops). A batch is sized by time: it holds the writer
///   for about `sqliteBatchTime`, whatever a row costs (indexes, disk, load); the next
///   batch's size follows from the last one's pace on the pool thread.
/// - On PostgreSQL nothing runs on the loops but the decode of one row per deleted row;
///   batches of `batchSize` rows keep the round trips and commits few. A batch's time is its
///   round trip, waits for a connection and for the CPU included: too noisy to size batches
///   by (a busy machine would shrink them to a row each), right for resting by.
enum BatchedPurge {
    /// The most rows one statement deletes.
    static let defaultBatchSize = 1000
    /// SQLite: how long one batch should hold the writer.
    static let sqliteBatchTime: Duration = .milliseconds(2)
    /// SQLite: the first batch's size, before a batch has been timed.
    static let sqliteFirstBatchSize = 100
    /// The rest after a batch, as a multiple of the time the batch took.
    static let restFactor = 3
    static let minimumRest: Duration = .milliseconds(2)

    /// How many rows were deleted.
    static func delete<Batch: PurgeBatch>(
        _ batch: Batch.Type, atMost bound: Int64, batchSize: Int = defaultBatchSize, in database: Database
    ) async throws -> Int {
        precondition(batchSize > 0)
        let sqlite = database.engine as? SQLiteEngine
        var size = sqlite == nil ? batchSize : min(sqliteFirstBatchSize, batchSize)
        var total = 0
        while true {
            let query = Batch(bound: bound, batchSize: Int64(size))
            let deleted: Int
            let took: Duration
            if let sqlite {
                let batch = try await Database.mappingFailures { try await sqlite.backgroundWrite(query) }
                (deleted, took) = (batch.rows.count, batch.took)
                size = nextSize(after: size, took: took, limit: batchSize)
            } else {
                let clock = ContinuousClock()
                let started = clock.now
                deleted = try await database.fetch(query).count
                took = clock.now - started
            }
            total += deleted
            if deleted < Int(query.batchSize) || Task.isCancelled { return total }
            try? await Task.sleep(for: max(minimumRest, took * restFactor))
        }
    }

    /// SQLite: the size that would have taken `sqliteBatchTime` at the last batch's pace, at
    /// most twice the last (one quick batch is not a trend) and within 1...`limit`.
    static func nextSize(after size: Int, took elapsed: Duration, limit: Int) -> Int {
        let ceiling = min(limit, 2 * size)
        guard elapsed > .zero else { return ceiling }
        let paced = Double(size) / (elapsed / sqliteBatchTime)
        return max(1, min(ceiling, Int(min(paced, Double(ceiling)))))
    }
}

extension SQLiteEngine {
    /// Runs one write committed on its own as background work: on NIO's thread pool, never
    /// on an event loop, with the writer held exclusively meanwhile (other writers wait
    /// suspended). When another process holds SQLite's lock, waits for it on that pool
    /// thread for up to `busyTimeoutSeconds`. Its rows, and how long the statement ran on
    /// the pool thread (not counting the waits for that thread and for the writer, which on
    /// a busy machine say nothing of the statement's cost).
    func backgroundWrite<Query: StoreQuery>(_ query: Query) async throws -> (rows: [Query.Row], took: Duration) {
        await access.acquireExclusive()
        defer { access.releaseExclusive() }
        try checkOpen()
        let milliseconds = Int(Self.busyTimeoutSeconds * 1000)
        return try await NIOThreadPool.singleton.runIfActive { [writer] in
            try writer.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA busy_timeout = \(milliseconds)")
                defer { try? db.execute(sql: "PRAGMA busy_timeout = 0") }
                let clock = ContinuousClock()
                let started = clock.now
                let rows = try Self.run(query, on: db)
                return (rows, clock.now - started)
            }
        }
    }
}

/// One batch of a purge: deletes at most `batchSize` rows whose time is at most `bound`,
/// the oldest first, selected by primary key; a row (`RETURNING 1`) per deleted row.
///
/// The batch reads only the rows it deletes: the oldest through the time column's index,
/// then each by its key, so it costs as much as its rows, not as the table.
protocol PurgeBatch: StoreCommand {
    var bound: Int64 { get }
    var batchSize: Int64 { get }
    init(bound: Int64, batchSize: Int64)
}

extension PurgeBatch {
    var binds: [QueryValue] { [.integer(bound), .integer(batchSize)] }

    /// The statement for `table`, keyed by `key`, whose time column is `column`. PostgreSQL
    /// looks the keys up as an array (an index probe each, however large the table looks to
    /// the planner); `IN (SELECT ...)` there becomes a hash join over the whole table.
    static func statement(table: String, key: String, column: String) -> QueryText {
        let oldest = "SELECT \(key) FROM \(table) WHERE \(column) <= $1 ORDER BY \(column) LIMIT $2"
        return QueryText(
            "DELETE FROM \(table) WHERE \(key) IN (\(oldest)) RETURNING 1",
            postgres: "DELETE FROM \(table) WHERE \(key) = ANY(ARRAY(\(oldest))) RETURNING 1")
    }
}

struct PurgeSessions: PurgeBatch {
    static let name = "todolist_purge_sessions"
    static let text = statement(table: "sessions", key: "id_hash", column: "expires_at")
    static let isReadOnly = false
    let bound: Int64
    let batchSize: Int64
}

struct PurgeLoginFailures: PurgeBatch {
    static let name = "todolist_purge_login_failures"
    static let text = statement(table: "login_failures", key: "id", column: "failed_at")
    static let isReadOnly = false
    let bound: Int64
    let batchSize: Int64
}

struct PurgeTokens: PurgeBatch {
    static let name = "todolist_purge_tokens"
    static let text = statement(table: "api_tokens", key: "id", column: "expires_at")
    static let isReadOnly = false
    let bound: Int64
    let batchSize: Int64
}
