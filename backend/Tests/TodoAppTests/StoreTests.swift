import Foundation
import Testing
@testable import TodoApp

/// The store layer against real databases: SQLite always, PostgreSQL when configured.
@Suite struct StoreTests {
    /// A session written the way sign-up and log-in write one, with a recognisable secret.
    static func issueSession(
        in database: Database, for user: UserRecord, secretLetter: Character, lifetime: Int
    ) async throws -> SessionStore.Issued {
        try await database.transaction { tx in
            try await SessionStore.issue(
                in: tx, user: user, csrfSecret: String(repeating: secretLetter, count: 32), lifetime: lifetime)
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func migrationsAreRecordedAndRunningThemAgainChangesNothing(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let again = try await database.migrate()
            #expect(again.isEmpty)
            let versions = try await database.fetch(AppliedMigrations()).map(Int.init)
            #expect(versions == Migrator.all.map(\.version))
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func usernamesAreUniqueIgnoringCase(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let users = UserStore(database: database)
            let alice = try await users.create(username: "Alice", passwordHash: "hash")
            #expect(alice.username == "Alice")
            #expect(try await users.find(username: "aLICE") == alice)
            #expect(try await users.find(username: "bob") == nil)
            await #expect(throws: UsernameTaken.self) {
                _ = try await users.create(username: "ALICE", passwordHash: "other")
            }
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func sessionsAreStoredHashedLoadedWithTheirUserAndDeleted(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let user = try await UserStore(database: database).create(username: "carol", passwordHash: "hash")
            let sessions = SessionStore(database: database, lifetime: 3600)
            let issued = try await Self.issueSession(in: database, for: user, secretLetter: "a", lifetime: 3600)
            #expect(issued.token.count == 43)
            #expect(SessionStore.isWellFormed(issued.token))
            let stored = try await database.fetch(AllSessionHashes())
            #expect(stored == [SessionStore.hash(issued.token)])
            #expect(!stored.contains(issued.token))

            let loaded = try await sessions.load(token: issued.token)
            #expect(loaded?.session == issued.session)
            #expect(loaded?.session.username == "carol")
            #expect(try await sessions.load(token: SessionStore.makeToken()) == nil)
            #expect(try await sessions.load(token: "not a token") == nil)

            try await sessions.delete(idHash: issued.session.id)
            #expect(try await sessions.load(token: issued.token) == nil)
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func expiredSessionsAreIgnoredAndPurged(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let user = try await UserStore(database: database).create(username: "dave", passwordHash: "hash")
            let sessions = SessionStore(database: database, lifetime: 3600)
            let expired = try await Self.issueSession(in: database, for: user, secretLetter: "b", lifetime: -1)
            let live = try await Self.issueSession(in: database, for: user, secretLetter: "c", lifetime: 3600)
            #expect(try await sessions.load(token: expired.token) == nil)
            #expect(try await sessions.purgeExpired() == 1)
            #expect(try await sessions.load(token: live.token) != nil)
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func sessionExpiryIsPushedOutOnUseAtMostEveryInterval(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let user = try await UserStore(database: database).create(username: "erin", passwordHash: "hash")
            let sessions = SessionStore(database: database, lifetime: 3600)
            // Issued with a shorter lifetime than the store's: the first use extends it.
            let issued = try await Self.issueSession(in: database, for: user, secretLetter: "d", lifetime: 600)
            let refreshed = try #require(try await sessions.load(token: issued.token))
            #expect(refreshed.wasRefreshed)
            #expect(refreshed.session.expiresAt > Clock.milliseconds() + 3_500_000)
            let reused = try #require(try await sessions.load(token: issued.token))
            #expect(!reused.wasRefreshed)
            #expect(reused.session.expiresAt == refreshed.session.expiresAt)
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func aShortLifetimeIsPushedOutBeforeItEnds(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let user = try await UserStore(database: database).create(username: "fay", passwordHash: "hash")
            // The shortest lifetime the settings allow (60 s), used 35 s after its last
            // write-back: pushed out, or a session in use every 20 s would end at 60 s.
            let sessions = SessionStore(database: database, lifetime: 60)
            let issued = try await Self.issueSession(in: database, for: user, secretLetter: "f", lifetime: 25)
            let loaded = try #require(try await sessions.load(token: issued.token))
            #expect(loaded.wasRefreshed)
            #expect(loaded.session.expiresAt > Clock.milliseconds() + 55_000)
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func todosKeepTheirOrderAndBelongToOneUser(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let users = UserStore(database: database)
            let owner = try await users.create(username: "frank", passwordHash: "hash")
            let stranger = try await users.create(username: "grace", passwordHash: "hash")
            let todos = TodoStore(database: database)

            let first = try await todos.create(userID: owner.id, title: "first", completed: false, order: nil)
            let second = try await todos.create(userID: owner.id, title: "שלום 👋🏽", completed: true, order: nil)
            let early = try await todos.create(userID: owner.id, title: "early", completed: false, order: -5)
            #expect(first.order == 1)
            #expect(second.order == 2)
            #expect(second.title == "שלום 👋🏽")
            #expect(early.order == -5)
            let strangers = try await todos.create(userID: stranger.id, title: "theirs", completed: false, order: nil)
            #expect(strangers.order == 1)

            #expect(try await todos.list(userID: owner.id).map(\.id) == [early.id, first.id, second.id])
            #expect(try await todos.list(userID: owner.id, completed: true).map(\.id) == [second.id])
            #expect(try await todos.list(userID: owner.id, completed: false).map(\.id) == [early.id, first.id])

            #expect(try await todos.find(userID: stranger.id, id: first.id) == nil)
            #expect(try await todos.update(userID: stranger.id, id: first.id, changes: TodoChanges(title: "x")) == nil)
            #expect(try await todos.delete(userID: stranger.id, id: first.id) == false)

            let renamed = try await todos.update(
                userID: owner.id, id: first.id, changes: TodoChanges(title: "renamed", completed: true, order: 10))
            #expect(renamed?.title == "renamed")
            #expect(renamed?.completed == true)
            #expect(renamed?.order == 10)
            #expect(renamed?.createdAt == first.createdAt)
            #expect(try await todos.update(userID: owner.id, id: first.id, changes: TodoChanges()) == renamed)

            #expect(try await todos.setAllCompleted(userID: owner.id, completed: true) == 1)
            #expect(try await todos.setAllCompleted(userID: owner.id, completed: true) == 0)
            #expect(try await todos.deleteCompleted(userID: owner.id) == 3)
            #expect(try await todos.list(userID: owner.id).isEmpty)
            #expect(try await todos.list(userID: stranger.id).map(\.id) == [strangers.id])
            #expect(try await todos.delete(userID: stranger.id, id: strangers.id) == true)
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func concurrentCreatesNeverShareAnOrder(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let user = try await UserStore(database: database).create(username: "heidi", passwordHash: "hash")
            let todos = TodoStore(database: database)
            let orders = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<25 {
                    group.addTask {
                        try await todos.create(userID: user.id, title: "todo \(index)", completed: false, order: nil).order
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(orders.sorted() == Array(1...25))
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func failedLoginsAreCountedOverASlidingWindowAndCleared(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let store = LoginThrottleStore(database: database)
            let username = LoginThrottleStore.Subject(scope: .username, key: "ivan", limit: 3)
            let address = LoginThrottleStore.Subject(scope: .address, key: "10.0.0.1", limit: 5)
            for _ in 0..<3 {
                guard case .reserved(let rows) = try await store.reserve([username, address], window: 900) else {
                    Issue.record("a reservation below the limit was refused")
                    return
                }
                #expect(Set(rows.keys) == [.username, .address])
            }
            guard case .throttled(let wait) = try await store.reserve([username, address], window: 900) else {
                Issue.record("a reservation at the limit was granted")
                return
            }
            #expect((899...900).contains(wait))
            #expect(try await store.retryAfter([address], window: 900) == nil)
            try await store.clear(.username, key: "ivan")
            #expect(try await store.retryAfter([username, address], window: 900) == nil)
            #expect(try await store.purge(olderThan: 900) == 0)
            #expect(try await store.purge(olderThan: 0) == 3)
        }
    }

    @Test func databaseURLsAreParsed() throws {
        #expect(try DatabaseLocation(url: "sqlite://./data/todolist.sqlite3") == .sqlite(path: "./data/todolist.sqlite3"))
        #expect(try DatabaseLocation(url: "sqlite:///var/lib/todo.db") == .sqlite(path: "/var/lib/todo.db"))
        let postgres = try DatabaseLocation(url: "postgres://app:p%40ss@db.internal:6543/todos?sslmode=disable")
        #expect(
            postgres
                == .postgres(
                    .init(host: "db.internal", port: 6543, username: "app", password: "p@ss", database: "todos", tls: .disable)))
        #expect(throws: DatabaseLocation.InvalidURL.self) { try DatabaseLocation(url: "mysql://x") }
        #expect(throws: DatabaseLocation.InvalidURL.self) { try DatabaseLocation(url: "postgres://h/db?sslmode=bogus") }
    }

    @Test func unreachablePostgresIsReportedAsUnavailable() async throws {
        // Nothing listens on port 1: every lease fails, the request answers within the deadline.
        let database = try await Database.open(url: "postgres://nobody@127.0.0.1:1/none", poolSize: 1, logger: TestDatabases.logger)
        try await TestDatabases.withServices(of: database) {
            let started = ContinuousClock.now
            #expect(await database.isReachable(logger: TestDatabases.logger) == false)
            await #expect(throws: DatabaseUnavailable.self) {
                _ = try await UserStore(database: database).find(username: "x")
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }
}
