import Foundation
import SQLKit
import Testing

@testable import TodoApp

/// The SQLite adapter (`GRDBSQLDatabase`, `GRDBSQLRow`) and its engine (`SQLiteEngine`)
/// against a real temporary database file.
@Suite struct GRDBSQLDatabaseTests {
    // MARK: isPlainSelect

    @Test(arguments: [
        "SELECT 1",
        "select * from todos",
        "SeLeCt id FROM users WHERE id = ?1",
        "   SELECT 1",
        "\n\t\r\n  select\n*\nfrom sessions",
        "\u{0B}\u{0C}SELECT 1",
        "SELECT(1)",
        "SELECT*FROM todos",
        "SELECT",
    ])
    func plainSelectsMayRunOnAReader(sql: String) {
        #expect(GRDBSQLDatabase.isPlainSelect(sql))
    }

    @Test(arguments: [
        "",
        "   ",
        "SEL",
        "SELECTED",
        "selected_items",
        "SELECT_x FROM t",
        "SELECT1",
        "selecté",
        "INSERT INTO todos (title) VALUES ('x')",
        "UPDATE todos SET done = 1",
        "DELETE FROM sessions",
        "  delete from sessions where expires_at < ?1",
        "INSERT INTO users (username) VALUES ('a') RETURNING id",
        "DELETE FROM todos WHERE id = 1 returning id",
        "UPDATE todos SET done = 1 RETURNING *",
        // Conservative: RETURNING anywhere, even in a string or a name, sends it to the writer.
        "SELECT 'Returning' AS word",
        "SELECT returning_at FROM t",
        "PRAGMA user_version",
        "pragma journal_mode = wal",
        "WITH recent AS (SELECT 1) SELECT * FROM recent",
        "BEGIN",
        "CREATE TABLE t (id INTEGER)",
        "EXPLAIN SELECT 1",
        // Conservative: a leading comment or parenthesis is not looked through.
        "-- note\nSELECT 1",
        "(SELECT 1)",
    ])
    func everythingElseRunsOnTheWriter(sql: String) {
        #expect(!GRDBSQLDatabase.isPlainSelect(sql))
    }

    // MARK: Binds and decoding

    @Test func bindsRoundTripThroughStorageAndDecoding() async throws {
        try await Self.withDatabase { database in
            try await Self.createScratchTable(database)
            let text = "émoji 🎉👩‍👩‍👧 עברית 日本語 e\u{301} \u{1F1EB}\u{1F1F7} tab\tnewline\n\"quote'"
            let blob = Data([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0x00])
            try await database.read { sql in
                try await sql.raw("""
                    INSERT INTO scratch (id, i64, i, s, b, d, blob, opt)
                    VALUES (1, \(bind: Int64.max), \(bind: Int.min), \(bind: text), \(bind: true), \(bind: -1234.5678e-3),
                            \(bind: blob), \(bind: String?.none))
                    """).run()
                try await sql.raw("""
                    INSERT INTO scratch (id, i64, i, s, b, d, blob, opt)
                    VALUES (2, \(bind: Int64.min), \(bind: 0), \(bind: ""), \(bind: false), \(bind: Double.greatestFiniteMagnitude),
                            \(bind: Data()), \(bind: String?.some("present")))
                    """).run()
            }

            // As SQLite stores them: booleans as the integers 0 and 1, nil as NULL.
            let storage = try await database.read { sql in
                try await sql.raw("""
                    SELECT typeof(i64) AS i64, typeof(i) AS i, typeof(s) AS s, typeof(b) AS b, b AS bValue,
                           typeof(d) AS d, typeof(blob) AS blob, typeof(opt) AS opt
                    FROM scratch ORDER BY id
                    """).all()
            }
            #expect(storage.count == 2)
            for (row, (boolValue, optClass)) in zip(storage, [(Int64(1), "null"), (0, "text")]) {
                #expect(try row.decode(column: "i64", as: String.self) == "integer")
                #expect(try row.decode(column: "i", as: String.self) == "integer")
                #expect(try row.decode(column: "s", as: String.self) == "text")
                #expect(try row.decode(column: "b", as: String.self) == "integer")
                #expect(try row.decode(column: "bValue", as: Int64.self) == boolValue)
                #expect(try row.decode(column: "d", as: String.self) == "real")
                #expect(try row.decode(column: "blob", as: String.self) == "blob")
                #expect(try row.decode(column: "opt", as: String.self) == optClass)
            }

            let rows = try await database.read { sql in
                try await sql.raw("SELECT i64, i, s, b, d, blob, opt FROM scratch ORDER BY id").all()
            }
            #expect(rows.count == 2)
            let first = try #require(rows.first)
            #expect(first.allColumns == ["i64", "i", "s", "b", "d", "blob", "opt"])
            #expect(first.contains(column: "s"))
            #expect(!first.contains(column: "missing"))
            #expect(try first.decode(column: "i64", as: Int64.self) == Int64.max)
            #expect(try first.decode(column: "i", as: Int.self) == Int.min)
            #expect(try first.decode(column: "s", as: String.self) == text)
            #expect(try first.decode(column: "b", as: Bool.self) == true)
            #expect(try first.decode(column: "d", as: Double.self) == -1234.5678e-3)
            #expect(try first.decode(column: "blob", as: Data.self) == blob)
            #expect(try first.decodeNil(column: "opt"))
            #expect(!(try first.decodeNil(column: "s")))
            #expect(try first.decode(column: "opt", as: String?.self) == nil)
            #expect(try first.decode(column: "i64", as: Int64?.self) == Int64.max)

            let second = rows[1]
            #expect(try second.decode(column: "i64", as: Int64.self) == Int64.min)
            #expect(try second.decode(column: "i", as: Int.self) == 0)
            #expect(try second.decode(column: "s", as: String.self) == "")
            #expect(try second.decode(column: "b", as: Bool.self) == false)
            #expect(try second.decode(column: "d", as: Double.self) == Double.greatestFiniteMagnitude)
            #expect(try second.decode(column: "blob", as: Data.self) == Data())
            #expect(try second.decode(column: "opt", as: String?.self) == "present")

            // A bound text is found again by equality: it is stored unchanged.
            let found = try await database.read { sql in
                try await sql.raw("SELECT id FROM scratch WHERE s = \(bind: text)").all()
                    .map { try $0.decode(column: "id", as: Int64.self) }
            }
            #expect(found == [1])
        }
    }

    @Test func decodingAMissingColumnOrANullAsAValueThrowsNamingTheColumn() async throws {
        try await Self.withDatabase { database in
            let row = try await database.read { sql in
                try await sql.raw("SELECT NULL AS empty_value, 'hunter2-secret' AS word").first()
            }
            let found = try #require(row)

            let missing = #expect(throws: GRDBSQLRowDecodingError.self) {
                try found.decode(column: "absent_column", as: String.self)
            }
            #expect(missing?.column == "absent_column")
            #expect(String(describing: try #require(missing)).contains("'absent_column'"))
            #expect(String(describing: try #require(missing)).contains("no such column"))

            let null = #expect(throws: GRDBSQLRowDecodingError.self) {
                try found.decode(column: "empty_value", as: String.self)
            }
            #expect(null?.column == "empty_value")
            #expect(String(describing: try #require(null)).contains("'empty_value'"))
            #expect(String(describing: try #require(null)).contains("NULL"))
            #expect(throws: GRDBSQLRowDecodingError.self) {
                try found.decode(column: "empty_value", as: Int64.self)
            }
            #expect(throws: GRDBSQLRowDecodingError.self) {
                try found.decode(column: "empty_value", as: Bool.self)
            }

            // An incompatible value names the column and its storage class, never the value.
            let incompatible = #expect(throws: GRDBSQLRowDecodingError.self) {
                try found.decode(column: "word", as: Int64.self)
            }
            let description = String(describing: try #require(incompatible))
            #expect(description.contains("'word'"))
            #expect(description.contains("TEXT"))
            #expect(!description.contains("hunter2"))
        }
    }

    @Test func aBindOfAnUnsupportedTypeFailsBeforeRunning() async throws {
        struct Point: Codable, Sendable {
            var x: Int
        }
        try await Self.withDatabase { database in
            try await Self.createScratchTable(database)
            let error = await #expect(throws: UnsupportedSQLiteBind.self) {
                try await database.read { sql in
                    try await sql.raw("INSERT INTO scratch (id, s) VALUES (1, \(bind: Point(x: 1)))").run()
                }
            }
            #expect(error.map(String.init(describing:))?.contains("Point") == true)
            #expect(try await Self.count(database) == 0)
        }
    }

    // MARK: Transactions and routing

    @Test func aTransactionThatThrowsWritesNothing() async throws {
        struct Abandon: Error {}
        try await Self.withDatabase { database in
            try await Self.createScratchTable(database)
            await #expect(throws: Abandon.self) {
                try await database.transaction { sql in
                    try await Self.insert(1, on: sql)
                    try await Self.insert(2, on: sql)
                    // Its own writes are visible inside it, before the rollback.
                    #expect(try await Self.count(on: sql) == 2)
                    throw Abandon()
                }
            }
            #expect(try await Self.count(database) == 0)

            // The writer is free again, and a statement that fails inside a transaction
            // rolls back the statements before it too.
            await #expect(throws: (any Error).self) {
                try await database.transaction { sql in
                    try await Self.insert(3, on: sql)
                    try await Self.insert(3, on: sql)
                }
            }
            #expect(try await Self.count(database) == 0)
        }
    }

    @Test func aTransactionThatSucceedsCommits() async throws {
        try await Self.withDatabase { database in
            try await Self.createScratchTable(database)
            let returned = try await database.transaction { sql in
                try await Self.insert(1, on: sql)
                try await Self.insert(2, on: sql)
                return try await sql.raw("SELECT id FROM scratch ORDER BY id").all()
                    .map { try $0.decode(column: "id", as: Int64.self) }
            }
            #expect(returned == [1, 2])
            // Seen by a WAL reader, outside any transaction.
            let committed = try await database.read { sql in
                try await sql.raw("SELECT id FROM scratch ORDER BY id").all()
                    .map { try $0.decode(column: "id", as: Int64.self) }
            }
            #expect(committed == [1, 2])
        }
    }

    @Test func aWriteOutsideATransactionIsVisibleToTheNextRead() async throws {
        try await Self.withDatabase { database in
            try await Self.createScratchTable(database)
            for id in Int64(1)...5 {
                try await database.read { sql in try await Self.insert(id, on: sql) }
                #expect(try await Self.count(database) == Int(id))
            }
            // A write with RETURNING runs on the writer and still hands back its rows.
            let returned = try await database.read { sql in
                try await sql.raw("INSERT INTO scratch (id, s) VALUES (6, 'six') RETURNING id, s").first()
            }
            #expect(try returned?.decode(column: "id", as: Int64.self) == 6)
            #expect(try returned?.decode(column: "s", as: String.self) == "six")
            let deleted = try await database.read { sql in
                try await sql.raw("DELETE FROM scratch WHERE id > 3 RETURNING id").all()
                    .map { try $0.decode(column: "id", as: Int64.self) }
            }
            #expect(Set(deleted) == [4, 5, 6])
            #expect(try await Self.count(database) == 3)
        }
    }

    @Test func aTransactionBegunOutsideDatabaseTransactionIsRolledBack() async throws {
        try await Self.withDatabase { database in
            try await Self.createScratchTable(database)
            await #expect(throws: (any Error).self) {
                try await database.read { sql in try await sql.raw("BEGIN").run() }
            }
            // Not left open to swallow the next caller's write: that one commits on its own.
            try await database.read { sql in try await Self.insert(1, on: sql) }
            #expect(try await Self.count(database) == 1)
            try await database.transaction { sql in try await Self.insert(2, on: sql) }
            #expect(try await Self.count(database) == 2)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func readsAreAnsweredWhileATransactionIsOpen() async throws {
        try await Self.withDatabase { database in
            try await Self.createScratchTable(database)
            try await database.read { sql in try await Self.insert(1, on: sql) }
            try await database.transaction { sql in
                try await Self.insert(2, on: sql)
                // Plain SELECTs go to WAL readers, not behind the transaction's gate, and
                // see the last committed state.
                let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<50 {
                        group.addTask { try await Self.count(database) }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(counts.count == 50)
                #expect(counts.allSatisfy { $0 == 1 })
                #expect(try await Self.count(on: sql) == 2)
            }
            #expect(try await Self.count(database) == 2)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func concurrentWritesAreSerialisedAndAllCommitted() async throws {
        try await Self.withDatabase { database in
            try await Self.createScratchTable(database)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in Int64(1)...40 {
                    group.addTask {
                        if id.isMultiple(of: 2) {
                            try await database.read { sql in try await Self.insert(id, on: sql) }
                        } else {
                            try await database.transaction { sql in
                                try await Self.insert(id, on: sql)
                                try await Self.insert(id + 1000, on: sql)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await Self.count(database) == 60)
        }
    }

    /// A write outside the transaction waits for it: it must neither join it (and be
    /// rolled back with it) nor fail.
    @Test(.timeLimit(.minutes(1)))
    func aWriteWaitsForAnOpenTransactionAndOutlivesItsRollback() async throws {
        struct Abandon: Error {}
        try await Self.withDatabase { database in
            try await Self.createScratchTable(database)
            let (inserted, insertedSignal) = AsyncStream<Void>.makeStream()
            let (release, releaseSignal) = AsyncStream<Void>.makeStream()
            async let transaction: Void = {
                do {
                    try await database.transaction { sql in
                        try await Self.insert(1, on: sql)
                        insertedSignal.yield()
                        for await _ in release { break }
                        throw Abandon()
                    }
                } catch is Abandon {}
            }()
            for await _ in inserted { break }
            let write = Task { try await database.read { sql in try await Self.insert(2, on: sql) } }
            try await Task.sleep(for: .milliseconds(200))
            // Still open, and the write has not slipped into it.
            #expect(try await Self.count(database) == 0)
            releaseSignal.yield()
            try await transaction
            try await write.value
            #expect(try await Self.count(database) == 1)
        }
    }

    // MARK: Constraint errors

    @Test func uniqueViolationsFromGRDBAreRecognised() async throws {
        try await Self.withDatabase { database in
            try await database.read { sql in
                try await sql.raw("CREATE TABLE uniques (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER CHECK (n > 0))").run()
                try await sql.raw("INSERT INTO uniques (id, name, n) VALUES (1, 'a', 1)").run()
            }

            let unique = await #expect(throws: (any Error).self) {
                try await database.read { sql in
                    try await sql.raw("INSERT INTO uniques (id, name, n) VALUES (2, 'a', 1)").run()
                }
            }
            #expect(unique.map { String(reflecting: type(of: $0)) } == "GRDB.DatabaseError")
            #expect(unique.map(Database.isUniqueViolation) == true)

            let primaryKey = await #expect(throws: (any Error).self) {
                try await database.transaction { sql in
                    try await sql.raw("INSERT INTO uniques (id, name, n) VALUES (1, 'b', 1)").run()
                }
            }
            #expect(primaryKey.map(Database.isUniqueViolation) == true)

            // Other constraints are not.
            let notNull = await #expect(throws: (any Error).self) {
                try await database.read { sql in
                    try await sql.raw("INSERT INTO uniques (id, name, n) VALUES (3, NULL, 1)").run()
                }
            }
            #expect(notNull.map(Database.isUniqueViolation) == false)
            let check = await #expect(throws: (any Error).self) {
                try await database.read { sql in
                    try await sql.raw("INSERT INTO uniques (id, name, n) VALUES (4, 'd', 0)").run()
                }
            }
            #expect(check.map(Database.isUniqueViolation) == false)
            #expect(!Database.isUniqueViolation(CancellationError()))
        }
    }

    @Test func aTakenUsernameComesOutAsUsernameTaken() async throws {
        // Usernames are ASCII (CredentialRules), compared ignoring ASCII case.
        try await Self.withDatabase(migrated: true) { database in
            let users = UserStore(database: database)
            _ = try await users.create(username: "Zoe", passwordHash: "hash")
            await #expect(throws: UsernameTaken.self) {
                _ = try await users.create(username: "zoe", passwordHash: "other")
            }
            // Inside a larger transaction too, which is then rolled back as a whole.
            await #expect(throws: UsernameTaken.self) {
                try await database.transaction { sql in
                    _ = try await UserStore.insert(on: sql, username: "yann", passwordHash: "hash")
                    _ = try await UserStore.insert(on: sql, username: "ZOE", passwordHash: "hash")
                }
            }
            #expect(try await users.find(username: "yann") == nil)
            #expect(try await users.find(username: "zoe")?.username == "Zoe")
        }
    }

    // MARK: Closing

    @Test func afterCloseStatementsFailWithAnError() async throws {
        try await Self.withDatabase { database in
            try await Self.createScratchTable(database)
            try await database.read { sql in try await Self.insert(1, on: sql) }
            await database.close()

            await #expect(throws: (any Error).self) {
                try await database.read { sql in try await Self.insert(2, on: sql) }
            }
            await #expect(throws: (any Error).self) {
                try await database.transaction { sql in try await Self.insert(3, on: sql) }
            }
            await #expect(throws: (any Error).self) {
                try await Self.count(database)
            }
            // Closing again is harmless.
            await database.close()
        }
    }

    // MARK: Helpers

    /// A fresh SQLite file in a folder of its own for the length of `body`; the folder is
    /// removed afterwards.
    static func withDatabase(
        migrated: Bool = false, _ body: (Database) async throws -> Void
    ) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("todolist-grdb-test-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: folder)
            #expect(!FileManager.default.fileExists(atPath: folder.path))
        }
        let path = folder.appendingPathComponent("scratch.sqlite3").path
        let database = try await Database.open(url: "sqlite://\(path)", poolSize: 1, logger: TestDatabases.logger)
        #expect(database.kind == .sqlite)
        #expect(FileManager.default.fileExists(atPath: path))
        do {
            if migrated { try await database.migrate() }
            try await body(database)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    static func createScratchTable(_ database: Database) async throws {
        try await database.read { sql in
            try await sql.raw("""
                CREATE TABLE scratch (
                    id INTEGER PRIMARY KEY,
                    i64 INTEGER, i INTEGER, s TEXT, b INTEGER, d REAL, blob BLOB, opt TEXT)
                """).run()
        }
    }

    static func insert(_ id: Int64, on sql: any SQLDatabase) async throws {
        try await sql.raw("INSERT INTO scratch (id, s) VALUES (\(bind: id), \(bind: "row \(id)"))").run()
    }

    static func count(on sql: any SQLDatabase) async throws -> Int {
        let row = try await sql.raw("SELECT count(*) AS n FROM scratch").first()
        return try #require(row).decode(column: "n", as: Int.self)
    }

    static func count(_ database: Database) async throws -> Int {
        try await database.read { sql in try await count(on: sql) }
    }
}
