import Foundation

/// Personal access tokens (`api_tokens`): created, listed and revoked by their owner's
/// browser session, looked up by hash on every request that presents one.
struct TokenStore: Sendable {
    let database: Database
    /// The most live (unexpired) tokens one user may hold.
    var maxTokensPerUser: Int = 100
    /// How long an expired token stays listed (so its owner sees that it expired) before
    /// the purge removes it.
    static let expiredRetention: Int64 = 30 * 86_400_000

    /// A token's `last_used_at` is written at most this often, so that using a token
    /// does not make every read a write (as `SessionStore.refreshInterval`).
    static let touchInterval: Int64 = 60_000

    /// A token as its owner sees it in the list (never its secret).
    struct Record: Sendable, Equatable {
        let id: Int64
        let name: String
        let abilities: [Authentication.Ability]
        let createdAt: Int64
        let expiresAt: Int64?
        let lastUsedAt: Int64?
    }

    /// The user already holds `maxTokensPerUser` live tokens; nothing was written.
    struct TooManyTokens: Error {}

    /// Stores a new token's hash and returns the token, which exists nowhere else.
    /// - Throws: `TooManyTokens`, decided under the user's lock (PostgreSQL: the user's row;
    ///   SQLite: the transaction's write lock), so concurrent creations cannot pass the cap.
    func create(
        userID: Int64, name: String, abilities: Set<Authentication.Ability>, expiresIn: Int?
    ) async throws -> (token: String, record: Record) {
        let token = AccessToken.make()
        let tokenHash = AccessToken.hash(token)
        let now = Clock.milliseconds()
        let expiresAt = expiresIn.map { now + Int64($0) * 1000 }
        let sorted = abilities.sorted()
        let cap = Int64(maxTokensPerUser)
        let id = try await database.transaction { tx -> Int64 in
            if tx.kind == .postgres {
                _ = try await tx.fetch(LockUserRow(userID: userID))
            }
            let held = try await tx.fetchFirst(CountLiveTokens(userID: userID, now: now)) ?? 0
            guard held < cap else { throw TooManyTokens() }
            let insert = InsertToken(
                userID: userID, name: name, tokenHash: tokenHash, abilities: Self.encode(sorted), now: now,
                expiresAt: expiresAt)
            guard let id = try await tx.fetchFirst(insert) else { throw MissingRow(table: "api_tokens") }
            return id
        }
        return (
            token,
            Record(id: id, name: name, abilities: sorted, createdAt: now, expiresAt: expiresAt, lastUsedAt: nil)
        )
    }

    /// The user's tokens, newest first, expired ones included (so they can be seen and
    /// revoked) until `expiredRetention` after their expiry.
    func list(userID: Int64) async throws -> [Record] {
        try await database.fetch(ListTokens(userID: userID))
    }

    /// Removes tokens expired more than `expiredRetention` ago, `batchSize` rows a statement; returns how many.
    func purgeExpired(batchSize: Int = BatchedPurge.defaultBatchSize) async throws -> Int {
        try await BatchedPurge.delete(
            PurgeTokens.self, atMost: Clock.milliseconds() - Self.expiredRetention, batchSize: batchSize, in: database)
    }

    /// Revokes the user's token; `false` when the user has no such token (another user's included).
    func delete(userID: Int64, id: Int64) async throws -> Bool {
        try await database.fetchFirst(DeleteToken(userID: userID, id: id)) != nil
    }

    /// The live token a request presents, with its user, in one indexed query; `nil` for
    /// one that is malformed, unknown, revoked or expired. Its last use is recorded at most
    /// every `touchInterval`.
    func authenticate(_ token: String) async throws -> AuthenticatedToken? {
        guard AccessToken.isWellFormed(token) else { return nil }
        let now = Clock.milliseconds()
        guard let found = try await database.fetchFirst(LoadToken(tokenHash: AccessToken.hash(token), now: now))
        else { return nil }
        return try await authenticated(found, now: now)
    }

    /// As `authenticate`, with the user's todos (those in `completed`'s state, or all) read by
    /// the same statement: `GET /api/todos/` with a bearer token costs one round trip, not two.
    /// The todos are empty when the token lacks `todos:read` (the caller answers 403).
    func authenticateWithTodos(_ token: String, completed: Bool?) async throws -> (AuthenticatedToken, [Todo])? {
        guard AccessToken.isWellFormed(token) else { return nil }
        let now = Clock.milliseconds()
        let tokenHash = AccessToken.hash(token)
        var ticket: ListCache.Ticket?
        if let cache = database.listCache {
            switch await cache.lookUp(tokenHash: tokenHash, now: now) {
            case .kept(let found, let todos):
                return (try await authenticated(found, now: now), todos.inState(completed))
            case .read(let cacheTicket):
                ticket = cacheTicket
            }
        }
        // With a ticket the whole list is read, to be kept, and filtered here.
        let rows: [TokenWithTodosRow]
        if let completed, ticket == nil {
            rows = try await database.fetch(LoadTokenWithTodosInState(tokenHash: tokenHash, now: now, completed: completed))
        } else {
            rows = try await database.fetch(LoadTokenWithTodos(tokenHash: tokenHash, now: now))
        }
        guard let found = rows.first?.token else { return nil }
        let authenticated = try await authenticated(found, now: now)
        // A token that may not read todos read none: that is not its user's list, nor an answer.
        guard authenticated.abilities.contains(.todosRead) else { return (authenticated, []) }
        let todos = rows.flatMap(\.todos)
        if let ticket {
            database.listCache?.keep(ticket, tokenHash: tokenHash, token: found, todos: todos)
        }
        return (authenticated, todos.inState(completed))
    }

    /// The token `found` names; its last use written when `touchInterval` has passed.
    private func authenticated(_ found: LoadToken.Row, now: Int64) async throws -> AuthenticatedToken {
        if now - found.lastUsedAt >= Self.touchInterval {
            do {
                _ = try await database.fetch(TouchToken(id: found.id, lastUsedAt: now))
            } catch let error as DatabaseUnavailable {
                // As a skipped session refresh: the token was just read; the next use retries.
                database.logger.warning(
                    "token last-use not recorded", metadata: ["error": .string(LoggedError.describe(error.underlying))])
            }
        }
        return AuthenticatedToken(
            id: found.id, userID: found.userID, username: found.username, abilities: Self.decode(found.abilities))
    }

    static func encode(_ abilities: [Authentication.Ability]) -> String {
        abilities.map(\.rawValue).joined(separator: " ")
    }

    /// Abilities this version does not know are dropped: a token never gains by them.
    static func decode(_ text: String) -> Set<Authentication.Ability> {
        Set(text.split(separator: " ").compactMap { Authentication.Ability(rawValue: String($0)) })
    }
}

// MARK: Queries (run on every request with a bearer token)

struct LoadToken: StoreQuery {
    struct Row: Sendable {
        let id: Int64
        let userID: Int64
        let username: String
        let abilities: String
        /// 0 when never used.
        let lastUsedAt: Int64
        /// `nil` for a token that does not expire.
        let expiresAt: Int64?
    }

    /// The token's columns, in the order `decode` reads them.
    static let columns = """
        api_tokens.id, api_tokens.user_id, users.username, api_tokens.abilities, \
        api_tokens.last_used_at, api_tokens.expires_at
        """
    /// How many `columns` there are (plain names, no comma inside one): what a reader skips to pass them.
    static let columnCount = columns.split(separator: ",").count
    /// The live token whose hash is `$1` at time `$2`, joined with its user.
    static let liveToken = "api_tokens JOIN users ON users.id = api_tokens.user_id"
    static let liveTokenCondition =
        "api_tokens.token_hash = $1 AND (api_tokens.expires_at IS NULL OR api_tokens.expires_at > $2)"

    static let name = "todolist_load_token"
    static let text = QueryText("SELECT \(columns) FROM \(liveToken) WHERE \(liveTokenCondition)")
    static let isReadOnly = true
    let tokenHash: String
    let now: Int64
    var binds: [QueryValue] { [.text(tokenHash), .integer(now)] }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> Row {
        Row(id: try columns.integer(), userID: try columns.integer(), username: try columns.text(),
            abilities: try columns.text(), lastUsedAt: try columns.optionalInteger() ?? 0,
            expiresAt: try columns.optionalInteger())
    }
}

struct TouchToken: StoreCommand {
    static let name = "todolist_touch_token"
    static let isReadOnly = false
    static let text = QueryText("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
    let id: Int64
    let lastUsedAt: Int64
    var binds: [QueryValue] { [.integer(id), .integer(lastUsedAt)] }
}

// MARK: Queries (the token list)

/// Makes concurrent token creations of one user take turns (PostgreSQL; SQLite's
/// transactions take turns anyway).
struct LockUserRow: StoreCommand {
    static let name = "todolist_lock_user_row"
    static let text = QueryText(postgresOnly: "SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE")
    static let isReadOnly = false
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID)] }
}

struct CountLiveTokens: IntegerRowsQuery {
    static let name = "todolist_count_live_tokens"
    static let text = QueryText(
        "SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND (expires_at IS NULL OR expires_at > $2)")
    static let isReadOnly = true
    let userID: Int64
    let now: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(now)] }
}

struct InsertToken: IntegerRowsQuery {
    static let name = "todolist_insert_token"
    static let text = QueryText(
        """
        INSERT INTO api_tokens (user_id, name, token_hash, abilities, created_at, expires_at) \
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
        """)
    static let isReadOnly = false
    let userID: Int64
    let name: String
    let tokenHash: String
    let abilities: String
    let now: Int64
    let expiresAt: Int64?
    var binds: [QueryValue] {
        [.integer(userID), .text(name), .text(tokenHash), .text(abilities), .integer(now), QueryValue(expiresAt)]
    }
}

struct ListTokens: StoreQuery {
    static let name = "todolist_list_tokens"
    static let text = QueryText(
        """
        SELECT id, name, abilities, created_at, expires_at, last_used_at FROM api_tokens \
        WHERE user_id = $1 ORDER BY id DESC
        """)
    static let isReadOnly = true
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID)] }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> TokenStore.Record {
        TokenStore.Record(
            id: try columns.integer(), name: try columns.text(),
            abilities: TokenStore.decode(try columns.text()).sorted(), createdAt: try columns.integer(),
            expiresAt: try columns.optionalInteger(), lastUsedAt: try columns.optionalInteger())
    }
}

struct DeleteToken: IntegerRowsQuery {
    static let name = "todolist_delete_token"
    static let text = QueryText("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2 RETURNING id")
    static let isReadOnly = false
    let userID: Int64
    let id: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(id)] }
}
