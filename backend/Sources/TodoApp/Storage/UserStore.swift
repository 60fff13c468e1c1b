import Foundation

/// A user as stored, with the bcrypt hash that never leaves the server.
struct UserRecord: Sendable, Equatable {
    let id: Int64
    let username: String
    let passwordHash: String
}

/// A sign-up lost the race for its username (or it was taken all along).
struct UsernameTaken: Error {}

/// Users, looked up by username ignoring case.
///
/// `username_key` holds the lower-cased name under a UNIQUE constraint: usernames are
/// ASCII, so ASCII lower-casing is exact and the same on both engines, with no collation
/// needed.
struct UserStore: Sendable {
    let database: Database

    /// ASCII lower-casing only: Unicode case mapping would let other characters alias
    /// ASCII letters (U+212A KELVIN SIGN lower-cases to "k").
    static func key(for username: String) -> String {
        var bytes = Array(username.utf8)
        for index in bytes.indices where (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bytes[index]) {
            bytes[index] += 0x20
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The user whose name equals `username` ignoring ASCII case; a name with any other
    /// character names nobody.
    func find(username: String) async throws -> UserRecord? {
        guard CredentialRules.couldBeUsername(username) else { return nil }
        return try await database.fetchFirst(FindUserByKey(key: Self.key(for: username)))
    }

    func find(id: Int64) async throws -> UserRecord? {
        try await database.fetchFirst(FindUserByID(id: id))
    }

    /// Replaces the user's password hash inside the caller's transaction; `false` when the
    /// user no longer exists.
    static func updatePassword(in tx: any StoreConnection, userID: Int64, passwordHash: String) async throws -> Bool {
        try await tx.fetchFirst(UpdatePassword(userID: userID, passwordHash: passwordHash)) != nil
    }

    /// Deletes the user and everything that is theirs (todos, sessions, access tokens),
    /// inside the caller's transaction; `false` when there was no such user. The
    /// foreign keys cascade too; the deletes are spelled out so that nothing depends on
    /// SQLite's foreign-key pragma.
    static func delete(in tx: any StoreConnection, userID: Int64) async throws -> Bool {
        _ = try await tx.fetch(DeleteUserTodos(userID: userID))
        _ = try await tx.fetch(DeleteUserTokens(userID: userID))
        try await SessionStore.deleteAll(in: tx, userID: userID)
        return try await tx.fetchFirst(DeleteUser(userID: userID)) != nil
    }

    func exists(username: String) async throws -> Bool {
        try await find(username: username) != nil
    }

    /// Inserts a user on its own; sign-up goes through `insert(in:)` inside its transaction.
    func create(username: String, passwordHash: String) async throws -> UserRecord {
        try await database.transaction { tx in
            try await Self.insert(in: tx, username: username, passwordHash: passwordHash)
        }
    }

    /// - Throws: `UsernameTaken` when the name is taken ignoring case.
    static func insert(in tx: any StoreConnection, username: String, passwordHash: String) async throws -> UserRecord {
        do {
            let query = InsertUser(
                username: username, key: key(for: username), passwordHash: passwordHash, now: Clock.milliseconds())
            guard let user = try await tx.fetchFirst(query) else { throw MissingRow(table: "users") }
            return user
        } catch where Database.isUniqueViolation(error) {
            throw UsernameTaken()
        }
    }
}

/// An `INSERT ... RETURNING` that returned nothing: a bug, answered 500.
struct MissingRow: Error, CustomStringConvertible {
    let table: String
    var description: String { "INSERT INTO \(table) returned no row" }
}

// MARK: Queries

/// A query whose rows are whole `UserRecord`s: `columns`, in that order.
protocol UserRowsQuery: StoreQuery where Row == UserRecord {}

extension UserRowsQuery {
    static var columns: String { "id, username, password_hash" }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> UserRecord {
        UserRecord(id: try columns.integer(), username: try columns.text(), passwordHash: try columns.text())
    }
}

struct FindUserByKey: UserRowsQuery {
    static let name = "todolist_find_user_by_key"
    static let text = QueryText("SELECT \(columns) FROM users WHERE username_key = $1")
    static let isReadOnly = true
    let key: String
    var binds: [QueryValue] { [.text(key)] }
}

struct FindUserByID: UserRowsQuery {
    static let name = "todolist_find_user_by_id"
    static let text = QueryText("SELECT \(columns) FROM users WHERE id = $1")
    static let isReadOnly = true
    let id: Int64
    var binds: [QueryValue] { [.integer(id)] }
}

struct InsertUser: UserRowsQuery {
    static let name = "todolist_insert_user"
    static let text = QueryText(
        "INSERT INTO users (username, username_key, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING \(columns)")
    static let isReadOnly = false
    let username: String
    let key: String
    let passwordHash: String
    let now: Int64
    var binds: [QueryValue] { [.text(username), .text(key), .text(passwordHash), .integer(now)] }
}

struct UpdatePassword: IntegerRowsQuery {
    static let name = "todolist_update_password"
    static let text = QueryText("UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING id")
    static let isReadOnly = false
    let userID: Int64
    let passwordHash: String
    var binds: [QueryValue] { [.integer(userID), .text(passwordHash)] }
}

struct DeleteUserTodos: StoreCommand {
    static let name = "todolist_delete_user_todos"
    static let text = QueryText("DELETE FROM todos WHERE user_id = $1")
    static let isReadOnly = false
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID)] }
}

struct DeleteUserTokens: StoreCommand {
    static let name = "todolist_delete_user_tokens"
    static let text = QueryText("DELETE FROM api_tokens WHERE user_id = $1")
    static let isReadOnly = false
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID)] }
}

struct DeleteUser: IntegerRowsQuery {
    static let name = "todolist_delete_user"
    static let text = QueryText("DELETE FROM users WHERE id = $1 RETURNING id")
    static let isReadOnly = false
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID)] }
}
