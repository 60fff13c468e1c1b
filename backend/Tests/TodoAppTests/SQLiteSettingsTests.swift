import GRDBSQLite
import Testing
@testable import TodoApp

/// SQLite's process-wide settings, made before the process's first connection opens.
@Suite struct SQLiteSettingsTests {
    /// Memory statistics stay off, so SQLite's allocations take no process-wide mutex: the
    /// event loops reading at once do not take turns on it (docs/performance.md). SQLite
    /// counts nothing then, so the memory it reports in use stays at zero while it works.
    @Test func sqliteKeepsNoMemoryStatistics() async throws {
        try await TestDatabases.with(.sqlite) { database in
            let user = try await UserStore(database: database).create(username: "dora", passwordHash: "hash")
            #expect(try await UserStore(database: database).find(username: "dora") == user)
            #expect(SQLiteEngine.processSettings == SQLITE_OK)
            #expect(sqlite3_memory_used() == 0)
        }
    }
}
