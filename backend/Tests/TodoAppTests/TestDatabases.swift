import Foundation
import Logging
import ServiceLifecycle
@testable import TodoApp

/// The databases the store tests run against: a temporary SQLite file always, and
/// PostgreSQL when `TODOLIST_TEST_POSTGRES_URL` names a server (each test then gets a
/// database of its own, created and dropped around it).
enum TestDatabases {
    static let postgresURL = ProcessInfo.processInfo.environment["TODOLIST_TEST_POSTGRES_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }

    static var kinds: [Database.Kind] {
        postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]
    }

    static let logger: Logger = {
        var logger = Logger(label: "todolist-tests")
        logger.logLevel = .error
        return logger
    }()

    /// A fresh, migrated database of `kind` for the length of `body`.
    static func with<Result>(_ kind: Database.Kind, _ body: (Database) async throws -> Result) async throws -> Result {
        switch kind {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("todolist-test-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: folder) }
            let database = try await Database.open(
                url: "sqlite://\(folder.path)/nested/todolist.sqlite3", poolSize: 1, logger: logger)
            try await database.migrate()
            do {
                let result = try await body(database)
                await database.close()
                return result
            } catch {
                await database.close()
                throw error
            }
        case .postgres:
            let serverURL = postgresURL!
            let name = "todolist_test_\(UUID().uuidString.prefix(8).lowercased())"
            let admin = try await Database.open(url: serverURL, poolSize: 1, logger: logger)
            try await admin.engine.withMigrationConnection { connection in
                _ = try await connection.fetch(SchemaStatement("CREATE DATABASE \(name)"))
            }
            defer {
                // Best effort: the test cluster is temporary anyway.
                Task {
                    try? await admin.engine.withMigrationConnection { connection in
                        _ = try await connection.fetch(SchemaStatement("DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
                    }
                }
            }
            let database = try await Database.open(url: replacingDatabase(in: serverURL, with: name), poolSize: 5, logger: logger)
            try await database.migrate()
            return try await withServices(of: database) { try await body(database) }
        }
    }

    /// Runs the database's services (PostgreSQL's pool) while `body` runs.
    static func withServices<Result>(of database: Database, _ body: () async throws -> Result) async throws -> Result {
        let services = database.services
        let running = Task {
            await withDiscardingTaskGroup { group in
                for service in services {
                    group.addTask { try? await service.run() }
                }
            }
        }
        defer { running.cancel() }
        return try await body()
    }

    static func replacingDatabase(in url: String, with name: String) -> String {
        var components = URLComponents(string: url)!
        components.path = "/" + name
        return components.string!
    }
}
