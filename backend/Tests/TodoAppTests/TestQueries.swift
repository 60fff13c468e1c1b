@testable import TodoApp

// Statements the tests use to set up and inspect data, declared like the application's.
// Rows in bulk are one statement each (a recursive count from `first`), since row by row,
// thousands of round trips can outlast the query deadline under load. Placeholders are
// cast where PostgreSQL would otherwise type them as `integer` or `text`.

struct AllSessionHashes: StoreQuery {
    static let name = "test_all_session_hashes"
    static let text = QueryText("SELECT id_hash FROM sessions")
    static let isReadOnly = true
    var binds: [QueryValue] { [] }
    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> String { try columns.text() }
}

struct CountSessions: IntegerRowsQuery {
    static let name = "test_count_sessions"
    static let text = QueryText("SELECT COUNT(*) FROM sessions")
    static let isReadOnly = true
    var binds: [QueryValue] { [] }}

struct CountLoginFailures: IntegerRowsQuery {
    static let name = "test_count_login_failures"
    static let text = QueryText("SELECT COUNT(*) FROM login_failures")
    static let isReadOnly = true
    var binds: [QueryValue] { [] }}

/// `count` sessions of the user, `<prefix><n>` their id hashes, created a second before they expire.
struct InsertSessions: StoreCommand {
    static let name = "test_insert_sessions"
    static let text = QueryText(
        """
        WITH RECURSIVE n(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i + 1 < CAST($2 AS BIGINT)) \
        INSERT INTO sessions (id_hash, user_id, csrf_secret, created_at, expires_at) \
        SELECT CAST($4 AS TEXT) || CAST(i AS TEXT), CAST($1 AS BIGINT), 'secret', CAST($3 AS BIGINT) - 1000, \
        CAST($3 AS BIGINT) FROM n
        """)
    static let isReadOnly = false
    let userID: Int64
    let count: Int64
    let expiresAt: Int64
    let prefix: String
    var binds: [QueryValue] { [.integer(userID), .integer(count), .integer(expiresAt), .text(prefix)] }
}

/// `count` failures of the username scope, spread over ten subjects.
struct InsertLoginFailures: StoreCommand {
    static let name = "test_insert_login_failures"
    static let text = QueryText(
        """
        WITH RECURSIVE n(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i + 1 < CAST($1 AS BIGINT)) \
        INSERT INTO login_failures (scope, subject, failed_at) \
        SELECT 'username', 'user' || CAST(i % 10 AS TEXT), CAST($2 AS BIGINT) FROM n
        """)
    static let isReadOnly = false
    let count: Int64
    let failedAt: Int64
    var binds: [QueryValue] { [.integer(count), .integer(failedAt)] }
}

/// `count` tokens of the user named `t<n>` (hashes `hash<n>`), `n` counting from `first`.
struct InsertTokens: StoreCommand {
    static let name = "test_insert_tokens"
    static let text = QueryText(
        """
        WITH RECURSIVE n(i) AS (SELECT CAST($2 AS BIGINT) UNION ALL SELECT i + 1 FROM n \
        WHERE i + 1 < CAST($2 AS BIGINT) + CAST($3 AS BIGINT)) \
        INSERT INTO api_tokens (user_id, name, token_hash, abilities, created_at, expires_at) \
        SELECT CAST($1 AS BIGINT), 't' || CAST(i AS TEXT), 'hash' || CAST(i AS TEXT), 'todos:read', \
        CAST($4 AS BIGINT), CAST($5 AS BIGINT) FROM n
        """)
    static let isReadOnly = false
    let userID: Int64
    let first: Int64
    let count: Int64
    let createdAt: Int64
    let expiresAt: Int64?
    var binds: [QueryValue] {
        [.integer(userID), .integer(first), .integer(count), .integer(createdAt), QueryValue(expiresAt)]
    }
}
