import Logging
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

/// Deletes a table's rows whose time column is at most `bound`, at most `batchSize` rows a
/// statement, until none is left: memory and the time any one statement holds the
/// writer (SQLite) or its row locks (PostgreSQL) stay bounded however many rows expired.
/// Each batch commits on its own; a failure leaves the batches before it deleted.
///
/// SQLite runs a statement synchronously on the calling thread, an event loop's, so a
/// batch is also how long that loop's other connections wait: batches are small, and the
/// purge pauses between them (a `Task.yield()` was measured not to be enough: the loop
/// ran the next batch before reading its sockets).
enum BatchedPurge {
    static let defaultBatchSize = 100
    /// Between batches: the loop serves its other connections, other writers take the writer.
    static let pause: Duration = .milliseconds(2)

    /// How many rows were deleted.
    static func delete<Batch: PurgeBatch>(
        _ batch: Batch.Type, atMost bound: Int64, batchSize: Int = defaultBatchSize, in database: Database
    ) async throws -> Int {
        precondition(batchSize > 0)
        var total = 0
        while true {
            let deleted = try await database.fetch(Batch(bound: bound, batchSize: Int64(batchSize))).count
            total += deleted
            if deleted < batchSize || Task.isCancelled { return total }
            try? await Task.sleep(for: pause)
        }
    }
}

/// One batch of a purge: deletes at most `batchSize` rows whose time is at most `bound`,
/// selected by primary key; a row (`RETURNING 1`) per deleted row.
protocol PurgeBatch: StoreCommand {
    var bound: Int64 { get }
    var batchSize: Int64 { get }
    init(bound: Int64, batchSize: Int64)
}

extension PurgeBatch {
    var binds: [QueryValue] { [.integer(bound), .integer(batchSize)] }

    /// The statement for `table`, keyed by `key`, whose time column is `column`.
    static func statement(table: String, key: String, column: String) -> QueryText {
        QueryText(
            "DELETE FROM \(table) WHERE \(key) IN (SELECT \(key) FROM \(table) WHERE \(column) <= $1 LIMIT $2) RETURNING 1")
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
