import Foundation
import SQLKit
import Testing
@testable import TodoApp

/// Purges delete in bounded batches: with more expired rows than one batch, every
/// expired row goes, every live one stays, and the count reported is exact.
@Suite struct PurgeTests {
    static let batchSize = 1000
    static let expiredCount = 2_345
    static let liveCount = 7

    @Test(arguments: TestDatabases.kinds)
    func expiredSessionsArePurgedAcrossBatches(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let user = try await UserStore(database: database).create(username: "purge", passwordHash: "hash")
            let now = Clock.milliseconds()
            try await Self.insertSessions(into: database, userID: user.id, count: Self.expiredCount, expiresAt: now - 1000, prefix: "x")
            try await Self.insertSessions(into: database, userID: user.id, count: Self.liveCount, expiresAt: now + 3_600_000, prefix: "l")
            let sessions = SessionStore(database: database, lifetime: 3600)
            #expect(try await sessions.purgeExpired(batchSize: Self.batchSize) == Self.expiredCount)
            #expect(try await Self.count("sessions", in: database) == Self.liveCount)
            #expect(try await sessions.purgeExpired(batchSize: Self.batchSize) == 0)
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func oldLoginFailuresArePurgedAcrossBatches(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let now = Clock.milliseconds()
            try await database.transaction { sql in
                // One statement: row by row, 2,352 round trips can outlast the query deadline under load.
                let insert = sql.insert(into: "login_failures").columns("scope", "subject", "failed_at")
                for index in 0..<(Self.expiredCount + Self.liveCount) {
                    let failedAt = index < Self.expiredCount ? now - 7_200_000 : now
                    insert.values(SQLBind("username"), SQLBind("user\(index % 10)"), SQLBind(failedAt))
                }
                try await insert.run()
            }
            let store = LoginThrottleStore(database: database)
            #expect(try await store.purge(olderThan: 900, batchSize: Self.batchSize) == Self.expiredCount)
            #expect(try await Self.count("login_failures", in: database) == Self.liveCount)
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func tokensLongExpiredArePurgedAcrossBatches(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let user = try await UserStore(database: database).create(username: "tokens", passwordHash: "hash")
            let now = Clock.milliseconds()
            let longAgo = now - TokenStore.expiredRetention - 1000
            // Expired long ago (purged), expired recently (kept, still listed), never expiring (kept).
            try await database.transaction { sql in
                let insert = sql.insert(into: "api_tokens")
                    .columns("user_id", "name", "token_hash", "abilities", "created_at", "expires_at")
                for index in 0..<(Self.expiredCount + 2) {
                    let expiresAt: Int64? =
                        index < Self.expiredCount ? longAgo : index == Self.expiredCount ? now - 1000 : nil
                    insert.values(
                        SQLBind(user.id), SQLBind("t\(index)"), SQLBind("hash\(index)"), SQLBind("todos:read"),
                        SQLBind(now - 2 * TokenStore.expiredRetention), SQLBind(expiresAt))
                }
                try await insert.run()
            }
            let tokens = TokenStore(database: database)
            #expect(try await tokens.purgeExpired(batchSize: Self.batchSize) == Self.expiredCount)
            #expect(try await tokens.list(userID: user.id).map(\.name) == ["t\(Self.expiredCount + 1)", "t\(Self.expiredCount)"])
        }
    }

    static func insertSessions(
        into database: Database, userID: Int64, count: Int, expiresAt: Int64, prefix: String
    ) async throws {
        try await database.transaction { sql in
            // One statement (see above).
            let insert = sql.insert(into: "sessions")
                .columns("id_hash", "user_id", "csrf_secret", "created_at", "expires_at")
            for index in 0..<count {
                insert.values(SQLBind("\(prefix)\(index)"), SQLBind(userID), SQLBind("secret"), SQLBind(expiresAt - 1000), SQLBind(expiresAt))
            }
            try await insert.run()
        }
    }

    static func count(_ table: String, in database: Database) async throws -> Int {
        try await database.read { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM \(ident: table)").first()!.decode(column: "n", as: Int.self)
        }
    }
}
