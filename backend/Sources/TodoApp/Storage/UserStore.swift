import Foundation
import SQLKit

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
        guard username.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        let key = Self.key(for: username)
        return try await database.read { sql in
            try await sql.select()
                .columns("id", "username", "password_hash")
                .from("users")
                .where("username_key", .equal, key)
                .first()
                .map(Self.decode)
        }
    }

    func find(id: Int64) async throws -> UserRecord? {
        try await database.read { sql in
            try await sql.select()
                .columns("id", "username", "password_hash")
                .from("users")
                .where("id", .equal, id)
                .first()
                .map(Self.decode)
        }
    }

    /// Replaces the user's password hash; `false` when the user no longer exists.
    static func updatePassword(on sql: any SQLDatabase, userID: Int64, passwordHash: String) async throws -> Bool {
        try await sql.update("users")
            .set("password_hash", to: passwordHash)
            .where("id", .equal, userID)
            .returning("id")
            .first() != nil
    }

    /// Deletes the user and everything that is theirs (todos, sessions, access tokens),
    /// inside the caller's transaction; `false` when there was no such user. The
    /// foreign keys cascade too; the deletes are spelled out so that nothing depends on
    /// SQLite's foreign-key pragma.
    static func delete(on sql: any SQLDatabase, userID: Int64) async throws -> Bool {
        try await sql.delete(from: "todos").where("user_id", .equal, userID).run()
        try await sql.delete(from: "api_tokens").where("user_id", .equal, userID).run()
        try await sql.delete(from: "sessions").where("user_id", .equal, userID).run()
        return try await sql.delete(from: "users").where("id", .equal, userID).returning("id").first() != nil
    }

    func exists(username: String) async throws -> Bool {
        try await find(username: username) != nil
    }

    /// Inserts a user on its own; sign-up goes through `insert(on:)` inside its transaction.
    func create(username: String, passwordHash: String) async throws -> UserRecord {
        try await database.transaction { sql in
            try await Self.insert(on: sql, username: username, passwordHash: passwordHash)
        }
    }

    /// - Throws: `UsernameTaken` when the name is taken ignoring case.
    static func insert(on sql: any SQLDatabase, username: String, passwordHash: String) async throws -> UserRecord {
        do {
            let row = try await sql.insert(into: "users")
                .columns("username", "username_key", "password_hash", "created_at")
                .values(SQLBind(username), SQLBind(key(for: username)), SQLBind(passwordHash), SQLBind(Clock.milliseconds()))
                .returning("id", "username", "password_hash")
                .first()
            guard let row else { throw MissingRow(table: "users") }
            return try decode(row)
        } catch where Database.isUniqueViolation(error) {
            throw UsernameTaken()
        }
    }

    static func decode(_ row: any SQLRow) throws -> UserRecord {
        UserRecord(
            id: try row.decode(column: "id", as: Int64.self),
            username: try row.decode(column: "username", as: String.self),
            passwordHash: try row.decode(column: "password_hash", as: String.self))
    }
}

/// An `INSERT ... RETURNING` that returned nothing: a bug, answered 500.
struct MissingRow: Error, CustomStringConvertible {
    let table: String
    var description: String { "INSERT INTO \(table) returned no row" }
}
