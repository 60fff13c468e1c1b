import Crypto
import Foundation
import SQLKit

/// Server-side sessions.
///
/// The cookie carries 256 random bits from the system's CSPRNG; the table keeps only
/// their SHA-256. Someone who reads the table (a backup, a replica, an SQL injection
/// elsewhere) therefore cannot log in as anyone, while a lookup stays one indexed
/// equality, since a hash of 256 random bits needs no salt or slow hashing.
struct SessionStore: Sendable {
    let database: Database
    /// Seconds a session lives after its last refresh.
    let lifetime: Int

    /// A session is written back (expiry pushed out) at most this often, so that
    /// reads do not each cost a write.
    static let refreshInterval: Int64 = 60_000

    /// 32 random bytes as unpadded base64url: 43 characters.
    static let tokenLength = 43

    struct Issued: Sendable {
        /// The cookie value; never stored.
        let token: String
        let session: AuthenticatedSession
    }

    struct Loaded: Sendable {
        let session: AuthenticatedSession
        /// Whether the expiry was pushed out now, so the cookie's lifetime should be too.
        let wasRefreshed: Bool
    }

    // MARK: Tokens

    static func makeToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether a cookie value could be one of our tokens; others are not looked up.
    static func isWellFormed(_ token: String) -> Bool {
        token.utf8.count == tokenLength
            && token.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }

    /// Lower-case hex SHA-256 of the token: the key the table stores. Runs on every
    /// request that carries a session cookie, hence no `String(format:)`.
    static func hash(_ token: String) -> String {
        Hex.lowercase(SHA256.hash(data: Array(token.utf8)))
    }

    // MARK: Queries

    /// Writes a new session for `user` inside the caller's transaction.
    static func issue(
        on sql: any SQLDatabase, user: UserRecord, csrfSecret: String, lifetime: Int
    ) async throws -> Issued {
        let token = makeToken()
        let idHash = hash(token)
        let now = Clock.milliseconds()
        try await sql.insert(into: "sessions")
            .columns("id_hash", "user_id", "csrf_secret", "created_at", "expires_at")
            .values(
                SQLBind(idHash), SQLBind(user.id), SQLBind(csrfSecret), SQLBind(now),
                SQLBind(now + Int64(lifetime) * 1000))
            .run()
        return Issued(
            token: token,
            session: AuthenticatedSession(id: idHash, userID: user.id, username: user.username, csrfSecret: csrfSecret))
    }

    /// The live session and its user for a cookie value, in one query; its expiry is
    /// pushed out when the last refresh is more than `refreshInterval` old.
    func load(token: String) async throws -> Loaded? {
        guard Self.isWellFormed(token) else { return nil }
        let idHash = Self.hash(token)
        let now = Clock.milliseconds()
        guard let found = try await database.fetchFirst(LoadSession(idHash: idHash, now: now)) else { return nil }
        let session = AuthenticatedSession(
            id: idHash, userID: found.userID, username: found.username, csrfSecret: found.csrfSecret)
        let refreshedExpiry = now + Int64(lifetime) * 1000
        guard refreshedExpiry - found.expiresAt >= Self.refreshInterval else {
            return Loaded(session: session, wasRefreshed: false)
        }
        do {
            _ = try await database.fetch(RefreshSession(idHash: idHash, expiresAt: refreshedExpiry))
        } catch let error as DatabaseUnavailable {
            // The session was just read, so it is valid for a while yet; a refresh the
            // database cannot take now (a full disk, a lock held too long) must not fail
            // the request. The next request tries again.
            database.logger.warning(
                "session refresh skipped", metadata: ["error": .string(LoggedError.describe(error.underlying))])
            return Loaded(session: session, wasRefreshed: false)
        }
        return Loaded(session: session, wasRefreshed: true)
    }

    func delete(idHash: String) async throws {
        try await database.read { sql in
            try await Self.delete(on: sql, idHash: idHash)
        }
    }

    static func delete(on sql: any SQLDatabase, idHash: String) async throws {
        try await sql.delete(from: "sessions").where("id_hash", .equal, idHash).run()
    }

    /// Removes every expired session, `batchSize` rows a statement; returns how many.
    func purgeExpired(batchSize: Int = BatchedPurge.defaultBatchSize) async throws -> Int {
        try await BatchedPurge.delete(
            from: "sessions", key: "id_hash", where: "expires_at", atMost: Clock.milliseconds(),
            batchSize: batchSize, in: database)
    }
}

// MARK: Queries (run on every request with a session cookie)

struct LoadSession: StoreQuery {
    struct Row: Sendable {
        let userID: Int64
        let csrfSecret: String
        let expiresAt: Int64
        let username: String
    }

    static let name = "todolist_load_session"
    static let text = QueryText(
        """
        SELECT sessions.user_id, sessions.csrf_secret, sessions.expires_at, users.username \
        FROM sessions JOIN users ON users.id = sessions.user_id \
        WHERE sessions.id_hash = $1 AND sessions.expires_at > $2
        """)
    static let isReadOnly = true
    let idHash: String
    let now: Int64
    var binds: [QueryValue] { [.text(idHash), .integer(now)] }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> Row {
        Row(userID: try columns.integer(), csrfSecret: try columns.text(), expiresAt: try columns.integer(),
            username: try columns.text())
    }
}

struct RefreshSession: StoreCommand {
    static let name = "todolist_refresh_session"
    static let text = QueryText("UPDATE sessions SET expires_at = $2 WHERE id_hash = $1")
    let idHash: String
    let expiresAt: Int64
    var binds: [QueryValue] { [.text(idHash), .integer(expiresAt)] }
}
