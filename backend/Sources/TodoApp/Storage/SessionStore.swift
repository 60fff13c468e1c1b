import CrossOriginSecurity
import Crypto
import Foundation

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
    /// reads do not each cost a write; at most every half lifetime when that is shorter,
    /// so that a session in use never expires between two write-backs.
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

    /// Public ids are below 2^53, so JavaScript clients hold them exactly.
    static let maxPublicID: Int64 = 9_007_199_254_740_991

    /// What a session's owner is shown about the client that uses it.
    struct SessionClient: Sendable, Equatable {
        /// From `ClientDescription`: short, printable, never the raw `User-Agent`.
        let description: String
        /// The client address as the server saw it (after trusted proxies); empty when unknown.
        let address: String

        static let unknown = SessionClient(description: ClientDescription.unknown, address: "")
        /// Longer addresses are cut: an IPv6 address with a zone fits well within it.
        static let maxAddressLength = 64

        init(description: String, address: String) {
            self.description = description
            self.address = address
        }

        init(userAgent: String?, address: String?) {
            self.description = ClientDescription.describe(userAgent: userAgent)
            self.address = String((address ?? "").unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F }
                .prefix(Self.maxAddressLength).map(Character.init))
        }
    }

    /// A live session as its owner sees it in the list.
    struct Summary: Sendable, Equatable {
        let publicID: Int64
        let createdAt: Int64
        let lastSeenAt: Int64
        let client: String
        let address: String
    }

    // MARK: Tokens

    /// A random public id in 1...maxPublicID. It is no secret (knowing one is worth
    /// nothing without the owner's session), but it is unrelated to the cookie value and
    /// says nothing about how many sessions exist.
    static func makePublicID() -> Int64 {
        var generator = SystemRandomNumberGenerator()
        return Int64.random(in: 1...maxPublicID, using: &generator)
    }

    static func makeToken() -> String {
        return Data(SecureRandom.bytes(32)).base64EncodedString()
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
        in tx: any StoreConnection, user: UserRecord, csrfSecret: String, lifetime: Int, client: SessionClient = .unknown
    ) async throws -> Issued {
        let token = makeToken()
        let idHash = hash(token)
        let now = Clock.milliseconds()
        let expiresAt = now + Int64(lifetime) * 1000
        // A public id already taken (about one chance in 2^53 / live sessions) is drawn
        // again; ON CONFLICT keeps the transaction usable on PostgreSQL.
        for _ in 0..<4 {
            let publicID = makePublicID()
            let inserted = try await tx.fetchFirst(
                IssueSession(
                    idHash: idHash, userID: user.id, csrfSecret: csrfSecret, now: now,
                    expiresAt: expiresAt, publicID: publicID, client: client))
            guard inserted != nil else { continue }
            return Issued(
                token: token,
                session: AuthenticatedSession(
                    id: idHash, publicID: publicID, userID: user.id, username: user.username, csrfSecret: csrfSecret,
                    expiresAt: expiresAt))
        }
        throw MissingRow(table: "sessions")
    }

    /// The live session and its user for a cookie value, in one query. At most once every
    /// `refreshInterval` its expiry is pushed out and its last-seen time, address and
    /// client are brought up to date from `client` (asked only then), so that reads do not
    /// each cost a write.
    func load(token: String, seenFrom client: () -> SessionClient = { .unknown }) async throws -> Loaded? {
        guard Self.isWellFormed(token) else { return nil }
        let idHash = Self.hash(token)
        let now = Clock.milliseconds()
        guard let found = try await database.fetchFirst(LoadSession(idHash: idHash, now: now)) else { return nil }
        return try await loaded(found, idHash: idHash, now: now, seenFrom: client)
    }

    /// As `load`, with the user's todos (those in `completed`'s state, or all) read by the
    /// same statement: `GET /api/todos/` with a session cookie costs one round trip, not two.
    /// On PostgreSQL both may come from the database's `ListCache` once its barrier has
    /// passed, or are read whole and kept there; otherwise they are read as asked.
    func loadWithTodos(
        token: String, completed: Bool?, seenFrom client: () -> SessionClient = { .unknown }
    ) async throws -> (Loaded, [Todo])? {
        guard Self.isWellFormed(token) else { return nil }
        let idHash = Self.hash(token)
        let now = Clock.milliseconds()
        var ticket: ListCache.Ticket?
        if let cache = database.listCache {
            switch await cache.lookUp(idHash: idHash, now: now) {
            case .kept(let found, let todos):
                return (try await loaded(found, idHash: idHash, now: now, seenFrom: client), todos.inState(completed))
            case .read(let cacheTicket):
                ticket = cacheTicket
            }
        }
        // With a ticket the whole list is read, to be kept, and filtered here.
        let rows: [SessionWithTodosRow]
        if let completed, ticket == nil {
            rows = try await database.fetch(LoadSessionWithTodosInState(idHash: idHash, now: now, completed: completed))
        } else {
            rows = try await database.fetch(LoadSessionWithTodos(idHash: idHash, now: now))
        }
        guard let found = rows.first?.session else { return nil }
        let todos = rows.flatMap(\.todos)
        if let ticket {
            database.listCache?.keep(ticket, idHash: idHash, session: found, todos: todos)
        }
        return (try await loaded(found, idHash: idHash, now: now, seenFrom: client), todos.inState(completed))
    }

    /// The session `found` names; its expiry pushed out when `refreshInterval` has passed.
    private func loaded(
        _ found: LoadSession.Row, idHash: String, now: Int64, seenFrom client: () -> SessionClient
    ) async throws -> Loaded {
        func session(expiringAt expiresAt: Int64) -> AuthenticatedSession {
            AuthenticatedSession(
                id: idHash, publicID: found.publicID, userID: found.userID, username: found.username,
                csrfSecret: found.csrfSecret, expiresAt: expiresAt)
        }
        let refreshedExpiry = now + Int64(lifetime) * 1000
        let interval = min(Self.refreshInterval, Int64(lifetime) * 500)
        guard refreshedExpiry - found.expiresAt >= interval || now - found.lastSeenAt >= interval else {
            return Loaded(session: session(expiringAt: found.expiresAt), wasRefreshed: false)
        }
        let seen = client()
        let expiresAt = max(refreshedExpiry, found.expiresAt)
        do {
            _ = try await database.fetch(
                RefreshSession(
                    idHash: idHash, expiresAt: expiresAt, lastSeenAt: now, client: seen.description,
                    address: seen.address))
        } catch let error as DatabaseUnavailable {
            // The session was just read, so it is valid for a while yet; a refresh the
            // database cannot take now (a full disk, a lock held too long) must not fail
            // the request. The next request tries again.
            database.logger.warning(
                "session refresh skipped", metadata: ["error": .string(LoggedError.describe(error.underlying))])
            return Loaded(session: session(expiringAt: found.expiresAt), wasRefreshed: false)
        }
        return Loaded(session: session(expiringAt: expiresAt), wasRefreshed: refreshedExpiry > found.expiresAt)
    }

    func delete(idHash: String) async throws {
        _ = try await database.fetch(DeleteSession(idHash: idHash))
    }

    /// Deletes the session inside the caller's transaction; `false` when there was none.
    @discardableResult
    static func delete(in tx: any StoreConnection, idHash: String) async throws -> Bool {
        try await tx.fetchFirst(DeleteSession(idHash: idHash)) != nil
    }

    /// Deletes every session of the user (password change, account deletion); returns how many.
    @discardableResult
    static func deleteAll(in tx: any StoreConnection, userID: Int64) async throws -> Int {
        try await tx.fetch(DeleteUserSessions(userID: userID)).count
    }

    /// The user's live sessions, the most recently seen first.
    func list(userID: Int64) async throws -> [Summary] {
        try await database.fetch(ListSessions(userID: userID, now: Clock.milliseconds()))
    }

    /// Ends the user's live session with this public id; `false` when the user has none
    /// (another user's id included).
    func end(userID: Int64, publicID: Int64) async throws -> Bool {
        try await database.fetch(EndSession(userID: userID, publicID: publicID, now: Clock.milliseconds())).count == 1
    }

    /// Ends every live session of the user but `keeping` (the caller's); returns how many.
    /// Expired ones go too, uncounted: they were already over.
    func endAll(userID: Int64, keeping idHash: String) async throws -> Int {
        let now = Clock.milliseconds()
        return try await database.fetch(EndOtherSessions(userID: userID, keeping: idHash)).filter { $0 > now }.count
    }

    /// Removes every expired session, `batchSize` rows a statement; returns how many.
    func purgeExpired(batchSize: Int = BatchedPurge.defaultBatchSize) async throws -> Int {
        try await BatchedPurge.delete(PurgeSessions.self, atMost: Clock.milliseconds(), batchSize: batchSize, in: database)
    }
}

// MARK: Queries (run on every request with a session cookie)

struct LoadSession: StoreQuery {
    struct Row: Sendable {
        let userID: Int64
        let csrfSecret: String
        let expiresAt: Int64
        let username: String
        let publicID: Int64
        let lastSeenAt: Int64
    }

    /// The session's columns, in the order `decode` reads them.
    static let columns = """
        sessions.user_id, sessions.csrf_secret, sessions.expires_at, users.username, sessions.public_id, \
        sessions.last_seen_at
        """
    /// How many `columns` there are (plain names, no comma inside one): what a reader skips to pass them.
    static let columnCount = columns.split(separator: ",").count
    /// The live session named by `$1` at time `$2`, joined with its user.
    static let liveSession = "sessions JOIN users ON users.id = sessions.user_id"
    static let liveSessionCondition = "sessions.id_hash = $1 AND sessions.expires_at > $2"

    static let name = "todolist_load_session"
    static let text = QueryText("SELECT \(columns) FROM \(liveSession) WHERE \(liveSessionCondition)")
    static let isReadOnly = true
    let idHash: String
    let now: Int64
    var binds: [QueryValue] { [.text(idHash), .integer(now)] }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> Row {
        Row(userID: try columns.integer(), csrfSecret: try columns.text(), expiresAt: try columns.integer(),
            username: try columns.text(), publicID: try columns.integer(), lastSeenAt: try columns.integer())
    }
}

/// Pushes the expiry out and records when, from where and with what the session was last seen.
struct RefreshSession: StoreCommand {
    static let name = "todolist_refresh_session"
    static let isReadOnly = false
    static let text = QueryText(
        "UPDATE sessions SET expires_at = $2, last_seen_at = $3, client = $4, address = $5 WHERE id_hash = $1")
    let idHash: String
    let expiresAt: Int64
    let lastSeenAt: Int64
    let client: String
    let address: String
    var binds: [QueryValue] {
        [.text(idHash), .integer(expiresAt), .integer(lastSeenAt), .text(client), .text(address)]
    }
}

// MARK: Queries (sign-up, log-in, the session list)

/// No row when the public id is taken.
struct IssueSession: IntegerRowsQuery {
    static let name = "todolist_issue_session"
    static let text = QueryText(
        """
        INSERT INTO sessions (id_hash, user_id, csrf_secret, created_at, expires_at, public_id, last_seen_at, \
        client, address) VALUES ($1, $2, $3, $4, $5, $6, $4, $7, $8) ON CONFLICT DO NOTHING RETURNING public_id
        """)
    static let isReadOnly = false
    let idHash: String
    let userID: Int64
    let csrfSecret: String
    let now: Int64
    let expiresAt: Int64
    let publicID: Int64
    let client: SessionStore.SessionClient
    var binds: [QueryValue] {
        [.text(idHash), .integer(userID), .text(csrfSecret), .integer(now), .integer(expiresAt), .integer(publicID),
         .text(client.description), .text(client.address)]
    }
}

/// Rows: the deleted session's user.
struct DeleteSession: IntegerRowsQuery {
    static let name = "todolist_delete_session"
    static let text = QueryText("DELETE FROM sessions WHERE id_hash = $1 RETURNING user_id")
    static let isReadOnly = false
    let idHash: String
    var binds: [QueryValue] { [.text(idHash)] }
}

/// Rows: the deleted sessions' public ids.
struct DeleteUserSessions: IntegerRowsQuery {
    static let name = "todolist_delete_user_sessions"
    static let text = QueryText("DELETE FROM sessions WHERE user_id = $1 RETURNING public_id")
    static let isReadOnly = false
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID)] }
}

struct ListSessions: StoreQuery {
    static let name = "todolist_list_sessions"
    static let text = QueryText(
        """
        SELECT public_id, created_at, last_seen_at, client, address FROM sessions \
        WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC, created_at DESC
        """)
    static let isReadOnly = true
    let userID: Int64
    let now: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(now)] }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> SessionStore.Summary {
        SessionStore.Summary(
            publicID: try columns.integer(), createdAt: try columns.integer(), lastSeenAt: try columns.integer(),
            client: try columns.text(), address: try columns.text())
    }
}

/// Rows: the ended session's public id.
struct EndSession: IntegerRowsQuery {
    static let name = "todolist_end_session"
    static let text = QueryText(
        "DELETE FROM sessions WHERE user_id = $1 AND public_id = $2 AND expires_at > $3 RETURNING public_id")
    static let isReadOnly = false
    let userID: Int64
    let publicID: Int64
    let now: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(publicID), .integer(now)] }
}

/// Rows: the deleted sessions' expiry times.
struct EndOtherSessions: IntegerRowsQuery {
    static let name = "todolist_end_other_sessions"
    static let text = QueryText("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2 RETURNING expires_at")
    static let isReadOnly = false
    let userID: Int64
    let keeping: String
    var binds: [QueryValue] { [.integer(userID), .text(keeping)] }
}
