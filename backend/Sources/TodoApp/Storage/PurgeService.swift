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

/// Deletes a table's rows whose `column` is at most `bound`, at most `batchSize` rows a
/// statement, until none is left: memory and the time any one statement holds the
/// writer (SQLite) or its row locks (PostgreSQL) stay bounded however many rows expired.
/// Each batch commits on its own; a failure leaves the batches before it deleted.
enum BatchedPurge {
    static let defaultBatchSize = 1000

    /// How many rows were deleted. `key` must identify a row (the primary key).
    static func delete(
        from table: String, key: String, where column: String, atMost bound: Int64,
        batchSize: Int = defaultBatchSize, in database: Database
    ) async throws -> Int {
        precondition(batchSize > 0)
        var total = 0
        while true {
            let deleted = try await database.read { sql in
                // `RETURNING 1` yields one small row per deleted row (at most `batchSize`):
                // the count both engines can report through SQLKit.
                try await sql.raw(
                    """
                    DELETE FROM \(ident: table) WHERE \(ident: key) IN \
                    (SELECT \(ident: key) FROM \(ident: table) WHERE \(ident: column) <= \(bind: bound) LIMIT \(bind: batchSize)) \
                    RETURNING 1
                    """
                ).all().count
            }
            total += deleted
            if deleted < batchSize || Task.isCancelled { return total }
        }
    }
}
