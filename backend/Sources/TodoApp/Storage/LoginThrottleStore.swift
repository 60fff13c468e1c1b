import Foundation
import SQLKit

/// Failed log-ins, one row each, in the database so that every server process counts
/// the same failures. A sliding window: a subject is throttled while it has `limit`
/// failures newer than `window`.
struct LoginThrottleStore: Sendable {
    let database: Database

    /// Whose failures are counted: a username (lower-cased) or a client address.
    struct Subject: Sendable, Hashable {
        enum Scope: String, Sendable { case username, address }
        let scope: Scope
        let key: String
        let limit: Int
    }

    /// Seconds until every subject is below its limit again, or `nil` when none is at it.
    func retryAfter(_ subjects: [Subject], window: Int) async throws -> Int? {
        try await database.read { sql in
            let now = Clock.milliseconds()
            let windowMilliseconds = Int64(window) * 1000
            var longestWait: Int64 = 0
            for subject in subjects {
                // The `limit`-th newest failure in the window: once it leaves the
                // window, fewer than `limit` remain.
                let row = try await sql.select()
                    .column("failed_at")
                    .from("login_failures")
                    .where("scope", .equal, subject.scope.rawValue)
                    .where("subject", .equal, subject.key)
                    .where("failed_at", .greaterThan, now - windowMilliseconds)
                    .orderBy("failed_at", .descending)
                    .limit(1)
                    .offset(subject.limit - 1)
                    .first()
                if let row {
                    let failedAt = try row.decode(column: "failed_at", as: Int64.self)
                    longestWait = max(longestWait, failedAt + windowMilliseconds - now)
                }
            }
            guard longestWait > 0 else { return nil }
            return Int((longestWait + 999) / 1000)
        }
    }

    func recordFailure(_ subjects: [Subject]) async throws {
        guard !subjects.isEmpty else { return }
        try await database.read { sql in
            let now = Clock.milliseconds()
            let insert = sql.insert(into: "login_failures").columns("scope", "subject", "failed_at")
            for subject in subjects {
                insert.values(SQLBind(subject.scope.rawValue), SQLBind(subject.key), SQLBind(now))
            }
            try await insert.run()
        }
    }

    func clear(_ scope: Subject.Scope, key: String) async throws {
        try await database.read { sql in
            try await sql.delete(from: "login_failures")
                .where("scope", .equal, scope.rawValue)
                .where("subject", .equal, key)
                .run()
        }
    }

    /// Removes failures too old to count in any window of `window` seconds; returns how many.
    func purge(olderThan window: Int, batchSize: Int = BatchedPurge.defaultBatchSize) async throws -> Int {
        try await BatchedPurge.delete(
            from: "login_failures", key: "id", where: "failed_at", atMost: Clock.milliseconds() - Int64(window) * 1000,
            batchSize: batchSize, in: database)
    }
}
