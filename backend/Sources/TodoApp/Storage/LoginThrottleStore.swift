import Foundation
import SQLKit

/// Counted attempts (failed log-ins, sign-ups), one row each, in the database so that
/// every server process counts the same attempts. A sliding window: a subject is
/// throttled while it has `limit` rows newer than `window`.
///
/// An attempt is reserved (its row written) before the work it stands for, under a
/// lock per subject, so that however many arrive at once no more than `limit` get
/// through; what the caller learns afterwards decides whether the row stays (a failure)
/// or goes (`release`, `clear`).
struct LoginThrottleStore: Sendable {
    let database: Database

    /// Whose attempts are counted: a username (lower-cased), or a client address for
    /// log-ins or for sign-ups.
    struct Subject: Sendable, Hashable {
        enum Scope: String, Sendable, CaseIterable {
            case username, address, signup

            /// The first key of PostgreSQL's two-key advisory locks: one class per scope,
            /// so locks of different scopes never collide.
            var lockClass: Int32 {
                switch self {
                case .username: 0x7464_0001
                case .address: 0x7464_0002
                case .signup: 0x7464_0003
                }
            }
        }
        let scope: Scope
        let key: String
        let limit: Int
    }

    /// The outcome of `reserve`.
    enum Reservation: Sendable, Equatable {
        /// Each subject's row, by scope.
        case reserved([Subject.Scope: Int64])
        /// Some subject is at its limit: nothing was written; seconds until it is not.
        case throttled(retryAfter: Int)
    }

    /// Counts one attempt against every subject, or none when any is at its limit.
    ///
    /// Concurrent reservations for a subject take turns: on SQLite the write transaction
    /// (`BEGIN IMMEDIATE`) holds the database's write lock; on PostgreSQL, where several
    /// server processes share the table, `todolist_reserve_attempts` (migration 4) takes a
    /// transaction-scoped advisory lock per subject, in the order of `Scope`'s cases so
    /// that no two reservations wait on each other, and counts and writes in the same
    /// round trip.
    func reserve(_ subjects: [Subject], window: Int) async throws -> Reservation {
        let ordered = subjects.sorted { Self.scopeRank($0.scope) < Self.scopeRank($1.scope) }
        switch database.kind {
        case .postgres:
            return try await database.read { sql in
                let now = Clock.milliseconds()
                let rows = try await sql.raw("""
                    SELECT reserved_scope, reserved_id, wait_ms FROM todolist_reserve_attempts(\
                    \(bind: ordered.map(\.scope.rawValue)), \(bind: ordered.map(\.key)), \
                    \(bind: ordered.map { Int32(clamping: $0.limit) }), \(bind: ordered.map(\.scope.lockClass)), \
                    \(bind: Int64(window) * 1000), \(bind: now))
                    """).all()
                return try Self.reservation(from: rows)
            }
        case .sqlite:
            // Refused attempts are answered from a reader first, so that a flood of them
            // never queues on the single writer; the transaction checks again under the lock.
            if let seconds = try await retryAfter(ordered, window: window) {
                return .throttled(retryAfter: seconds)
            }
            return try await database.transaction { sql in
                let now = Clock.milliseconds()
                if let seconds = try await Self.retryAfter(ordered, window: window, now: now, on: sql) {
                    return .throttled(retryAfter: seconds)
                }
                var reserved: [Subject.Scope: Int64] = [:]
                for subject in ordered {
                    let row = try await sql.insert(into: "login_failures")
                        .columns("scope", "subject", "failed_at")
                        .values(SQLBind(subject.scope.rawValue), SQLBind(subject.key), SQLBind(now))
                        .returning("id")
                        .first()
                    guard let row else { throw MissingRow(table: "login_failures") }
                    reserved[subject.scope] = try row.decode(column: "id", as: Int64.self)
                }
                return .reserved(reserved)
            }
        }
    }

    /// `todolist_reserve_attempts`' answer: a row per reserved subject, or one row with the wait.
    private static func reservation(from rows: [any SQLRow]) throws -> Reservation {
        var reserved: [Subject.Scope: Int64] = [:]
        for row in rows {
            let wait = try row.decode(column: "wait_ms", as: Int64.self)
            if wait > 0 {
                return .throttled(retryAfter: Int((wait + 999) / 1000))
            }
            let scope = try row.decode(column: "reserved_scope", as: String.self)
            guard let scope = Subject.Scope(rawValue: scope) else { throw MissingRow(table: "login_failures") }
            reserved[scope] = try row.decode(column: "reserved_id", as: Int64.self)
        }
        return .reserved(reserved)
    }

    /// Seconds until every subject is below its limit again, or `nil` when none is at it.
    func retryAfter(_ subjects: [Subject], window: Int) async throws -> Int? {
        try await database.read { sql in
            try await Self.retryAfter(subjects, window: window, now: Clock.milliseconds(), on: sql)
        }
    }

    private static func retryAfter(
        _ subjects: [Subject], window: Int, now: Int64, on sql: any SQLDatabase
    ) async throws -> Int? {
        let windowMilliseconds = Int64(window) * 1000
        var longestWait: Int64 = 0
        for subject in subjects {
            // The `limit`-th newest row in the window: once it leaves the window, fewer
            // than `limit` remain.
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

    private static func scopeRank(_ scope: Subject.Scope) -> Int {
        Subject.Scope.allCases.firstIndex(of: scope) ?? 0
    }

    /// Takes back reserved attempts that turned out not to count.
    func release(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await database.read { sql in
            try await sql.delete(from: "login_failures")
                .where("id", .in, SQLBind.group(ids))
                .run()
        }
    }

    /// Forgets every attempt of one subject.
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
