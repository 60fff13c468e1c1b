import Foundation
import Testing
@testable import TodoApp

/// Purges delete in bounded batches: with more expired rows than one batch, every
/// expired row goes, every live one stays, and the count reported is exact.
@Suite struct PurgeTests {
    static let batchSize = 1000
    static let expiredCount = 2_345
    static let liveCount = 7

    /// SQLite's next batch takes about `sqliteBatchTime` (2 ms) at the last batch's pace,
    /// grows at most twofold a batch, and stays within 1...limit.
    @Test func sqliteBatchesAreSizedByTime() {
        #expect(BatchedPurge.nextSize(after: 100, took: .milliseconds(4), limit: 1000) == 50)
        #expect(BatchedPurge.nextSize(after: 100, took: .milliseconds(1), limit: 1000) == 200)
        #expect(BatchedPurge.nextSize(after: 100, took: .microseconds(10), limit: 1000) == 200)
        #expect(BatchedPurge.nextSize(after: 800, took: .microseconds(10), limit: 1000) == 1000)
        #expect(BatchedPurge.nextSize(after: 10, took: .seconds(1), limit: 1000) == 1)
        #expect(BatchedPurge.nextSize(after: 10, took: .zero, limit: 1000) == 20)
    }

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
            // One statement each: row by row, 2,352 round trips can outlast the query deadline under load.
            _ = try await database.fetch(InsertLoginFailures(count: Int64(Self.expiredCount), failedAt: now - 7_200_000))
            _ = try await database.fetch(InsertLoginFailures(count: Int64(Self.liveCount), failedAt: now))
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
            let createdAt = now - 2 * TokenStore.expiredRetention
            _ = try await database.fetch(
                InsertTokens(userID: user.id, first: 0, count: Int64(Self.expiredCount), createdAt: createdAt, expiresAt: longAgo))
            _ = try await database.fetch(
                InsertTokens(userID: user.id, first: Int64(Self.expiredCount), count: 1, createdAt: createdAt, expiresAt: now - 1000))
            _ = try await database.fetch(
                InsertTokens(userID: user.id, first: Int64(Self.expiredCount) + 1, count: 1, createdAt: createdAt, expiresAt: nil))
            let tokens = TokenStore(database: database)
            #expect(try await tokens.purgeExpired(batchSize: Self.batchSize) == Self.expiredCount)
            #expect(try await tokens.list(userID: user.id).map(\.name) == ["t\(Self.expiredCount + 1)", "t\(Self.expiredCount)"])
        }
    }

    static func insertSessions(
        into database: Database, userID: Int64, count: Int, expiresAt: Int64, prefix: String
    ) async throws {
        // One statement (see above).
        _ = try await database.fetch(InsertSessions(userID: userID, count: Int64(count), expiresAt: expiresAt, prefix: prefix))
    }

    static func count(_ table: String, in database: Database) async throws -> Int {
        switch table {
        case "sessions": Int(try await database.fetchFirst(CountSessions()) ?? 0)
        case "login_failures": Int(try await database.fetchFirst(CountLoginFailures()) ?? 0)
        default: throw UnknownTable(name: table)
        }
    }

    struct UnknownTable: Error {
        let name: String
    }
}
