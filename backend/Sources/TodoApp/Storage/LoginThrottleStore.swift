import Foundation

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
            let rows = try await database.fetch(
                ReserveAttempts(
                    scopes: ordered.map(\.scope.rawValue), subjects: ordered.map(\.key),
                    limits: ordered.map { Int64($0.limit) }, lockClasses: ordered.map { Int64($0.scope.lockClass) },
                    window: Int64(window) * 1000, now: Clock.milliseconds()))
            return try Self.reservation(from: rows)
        case .sqlite:
            // Refused attempts are answered from a reader first, so that a flood of them
            // never queues on the single writer; the transaction checks again under the lock.
            if let seconds = try await retryAfter(ordered, window: window) {
                return .throttled(retryAfter: seconds)
            }
            return try await database.transaction { tx in
                let now = Clock.milliseconds()
                if let seconds = try await Self.retryAfter(ordered, window: window, now: now, fetch: { try await tx.fetchFirst($0) }) {
                    return .throttled(retryAfter: seconds)
                }
                var reserved: [Subject.Scope: Int64] = [:]
                for subject in ordered {
                    guard let id = try await tx.fetchFirst(
                        InsertLoginFailure(scope: subject.scope.rawValue, subject: subject.key, now: now))
                    else { throw MissingRow(table: "login_failures") }
                    reserved[subject.scope] = id
                }
                return .reserved(reserved)
            }
        }
    }

    /// `todolist_reserve_attempts`' answer: a row per reserved subject, or one row with the wait.
    private static func reservation(from rows: [ReserveAttempts.Row]) throws -> Reservation {
        var reserved: [Subject.Scope: Int64] = [:]
        for row in rows {
            if row.wait > 0 {
                return .throttled(retryAfter: Int((row.wait + 999) / 1000))
            }
            guard let name = row.scope, let scope = Subject.Scope(rawValue: name), let id = row.id else {
                throw MissingRow(table: "login_failures")
            }
            reserved[scope] = id
        }
        return .reserved(reserved)
    }

    /// Seconds until every subject is below its limit again, or `nil` when none is at it.
    func retryAfter(_ subjects: [Subject], window: Int) async throws -> Int? {
        try await Self.retryAfter(subjects, window: window, now: Clock.milliseconds(), fetch: { try await database.fetchFirst($0) })
    }

    /// `fetch` runs each subject's query, on its own or in the caller's transaction.
    private static func retryAfter(
        _ subjects: [Subject], window: Int, now: Int64,
        fetch: (KeptFailureTime) async throws -> Int64?
    ) async throws -> Int? {
        let windowMilliseconds = Int64(window) * 1000
        var longestWait: Int64 = 0
        for subject in subjects {
            let query = KeptFailureTime(
                scope: subject.scope.rawValue, subject: subject.key, after: now - windowMilliseconds,
                offset: Int64(subject.limit - 1))
            if let failedAt = try await fetch(query) {
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
        _ = try await database.fetch(DeleteLoginFailures(ids: ids))
    }

    /// Forgets every attempt of one subject.
    func clear(_ scope: Subject.Scope, key: String) async throws {
        _ = try await database.fetch(ClearLoginFailures(scope: scope.rawValue, subject: key))
    }

    /// Removes failures too old to count in any window of `window` seconds; returns how many.
    func purge(olderThan window: Int, batchSize: Int = BatchedPurge.defaultBatchSize) async throws -> Int {
        try await BatchedPurge.delete(
            PurgeLoginFailures.self, atMost: Clock.milliseconds() - Int64(window) * 1000, batchSize: batchSize, in: database)
    }
}

// MARK: Queries

/// PostgreSQL's reservation, in one round trip (`todolist_reserve_attempts`, migration 4).
/// The function takes `int[]`s; the values are sent as `bigint[]`s, hence the casts.
struct ReserveAttempts: StoreQuery {
    struct Row: Sendable {
        let scope: String?
        let id: Int64?
        let wait: Int64
    }

    static let name = "todolist_reserve_attempts"
    static let text = QueryText(
        postgresOnly: """
            SELECT reserved_scope, reserved_id, wait_ms FROM todolist_reserve_attempts($1, $2, \
            CAST(CAST($3 AS BIGINT[]) AS INT[]), CAST(CAST($4 AS BIGINT[]) AS INT[]), $5, $6)
            """)
    static let isReadOnly = false
    let scopes: [String]
    let subjects: [String]
    let limits: [Int64]
    let lockClasses: [Int64]
    let window: Int64
    let now: Int64
    var binds: [QueryValue] {
        [.texts(scopes), .texts(subjects), .integers(limits), .integers(lockClasses), .integer(window), .integer(now)]
    }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> Row {
        // A refusal's row has NULL scope and id.
        Row(scope: try columns.optionalText(), id: try columns.optionalInteger(), wait: try columns.integer())
    }
}

/// The `offset + 1`-th newest failure of a subject after `after`: once it leaves the
/// window, fewer than `offset + 1` remain.
struct KeptFailureTime: IntegerRowsQuery {
    static let name = "todolist_kept_failure_time"
    static let text = QueryText(
        """
        SELECT failed_at FROM login_failures WHERE scope = $1 AND subject = $2 AND failed_at > $3 \
        ORDER BY failed_at DESC LIMIT 1 OFFSET $4
        """)
    static let isReadOnly = true
    let scope: String
    let subject: String
    let after: Int64
    let offset: Int64
    var binds: [QueryValue] { [.text(scope), .text(subject), .integer(after), .integer(offset)] }
}

struct InsertLoginFailure: IntegerRowsQuery {
    static let name = "todolist_insert_login_failure"
    static let text = QueryText("INSERT INTO login_failures (scope, subject, failed_at) VALUES ($1, $2, $3) RETURNING id")
    static let isReadOnly = false
    let scope: String
    let subject: String
    let now: Int64
    var binds: [QueryValue] { [.text(scope), .text(subject), .integer(now)] }
}

struct DeleteLoginFailures: StoreCommand {
    static let name = "todolist_delete_login_failures"
    static let text = QueryText(
        "DELETE FROM login_failures WHERE id IN (SELECT value FROM json_each($1))",
        postgres: "DELETE FROM login_failures WHERE id = ANY($1)")
    static let isReadOnly = false
    let ids: [Int64]
    var binds: [QueryValue] { [.integers(ids)] }
}

struct ClearLoginFailures: StoreCommand {
    static let name = "todolist_clear_login_failures"
    static let text = QueryText("DELETE FROM login_failures WHERE scope = $1 AND subject = $2")
    static let isReadOnly = false
    let scope: String
    let subject: String
    var binds: [QueryValue] { [.text(scope), .text(subject)] }
}
