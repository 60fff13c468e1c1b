import Foundation
import Testing
@testable import TodoApp

/// Issue 13: every statement a request runs uses an index, on both engines, asked of each
/// engine's planner on a migrated database (`QueryCatalog.perRequest`, with sample binds).
///
/// SQLite: `EXPLAIN QUERY PLAN` may show no `SCAN <table>` without an index (`SEARCH ...
/// USING (COVERING) INDEX | PRIMARY KEY`, or a scan of an index, is fine). PostgreSQL:
/// `EXPLAIN` may show no `Seq Scan`, with `enable_seqscan = off`: on tables this small
/// the planner would otherwise always prefer reading the few pages whole, index or not;
/// switched off, it still chooses a sequential scan when no index can serve. A statement
/// calling a function of ours (`todolist_add_todo`, `todolist_reserve_attempts`) shows only
/// the call: the function's own statements are not planned here.
@Suite struct QueryPlanTests {
    static let tables: Set<String> = [
        "users", "sessions", "todos", "login_failures", "api_tokens", "live_events", "live_event_counters",
        "schema_migrations",
    ]

    @Test(arguments: TestDatabases.kinds)
    func everyPerRequestStatementUsesAnIndex(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            var failures: [String] = []
            for query in QueryCatalog.perRequest {
                let plan = try await Self.plan(of: query, in: database)
                if let scan = Self.fullScan(in: plan, kind: kind) {
                    failures.append("\(type(of: query).name): \(scan)")
                }
            }
            #expect(failures.isEmpty, "statements without an index on \(kind): \(failures)")
        }
    }

    /// A purge batch reads only the rows it deletes, through the time column's index, on a
    /// table of realistic size with statistics, sequential scans allowed: a batch that read
    /// the table whole would cost as much for 100 rows as for all, and a purge of many rows
    /// would keep a PostgreSQL backend busy for seconds beside the requests.
    @Test(arguments: TestDatabases.kinds)
    func purgeBatchesReadTheirTimeIndexOnALargeTable(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            for fill in FillPurgeableTables.statements(kind) {
                _ = try await database.fetch(fill)
            }
            let bound = FillPurgeableTables.rows / 2
            let batches: [any StoreQuery] = [
                PurgeSessions(bound: bound, batchSize: 100), PurgeLoginFailures(bound: bound, batchSize: 100),
                PurgeTokens(bound: bound, batchSize: 100),
            ]
            var failures: [String] = []
            for batch in batches {
                let plan = try await Self.planAsItRuns(batch, in: database)
                if let scan = Self.fullScan(in: plan, kind: kind) {
                    failures.append("\(type(of: batch).name): \(scan)")
                }
            }
            #expect(failures.isEmpty, "purge batches reading a table whole on \(kind): \(failures)")
        }
    }

    /// The plan the engine would choose for `query` as it runs, sequential scans allowed.
    static func planAsItRuns<Query: StoreQuery>(_ query: Query, in database: Database) async throws -> [String] {
        try await database.fetch(QueryPlan(query: query))
    }

    @Test func everyDeclaredStatementIsListedOnce() throws {
        let listed = QueryCatalog.perRequest.map { type(of: $0).name } + QueryCatalog.others.map { $0.name }
        #expect(Set(listed).count == listed.count, "listed twice: \(listed)")
        let declared = try Self.declaredNames()
        #expect(!declared.isEmpty)
        #expect(declared.subtracting(listed).isEmpty, "declared but not in QueryCatalog: \(declared.subtracting(listed))")
        #expect(Set(listed).subtracting(declared).isEmpty, "in QueryCatalog but not declared: \(Set(listed).subtracting(declared))")
    }

    /// The plan's lines; none for a statement the engine does not have.
    static func plan<Query: StoreQuery>(of query: Query, in database: Database) async throws -> [String] {
        let text = database.kind == .sqlite ? Query.text.sqlite : Query.text.postgres
        guard !text.isEmpty else { return [] }
        return try await database.transaction { tx in
            if tx.kind == .postgres {
                _ = try await tx.fetch(DisableSequentialScans())
            }
            return try await tx.fetch(QueryPlan(query: query))
        }
    }

    /// The first line that reads a table whole, if any.
    static func fullScan(in plan: [String], kind: Database.Kind) -> String? {
        plan.first { line in
            switch kind {
            case .postgres:
                return line.contains("Seq Scan")
            case .sqlite:
                let words = line.split(separator: " ")
                guard words.count >= 2, words[0] == "SCAN", tables.contains(String(words[1])) else { return false }
                return !line.contains(" USING ")
            }
        }
    }

    /// Every `static let name = "todolist_…"` in the application's sources.
    static func declaredNames() throws -> Set<String> {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/TodoApp").standardized
        let pattern = try NSRegularExpression(pattern: #"static let name = "(todolist_[a-z_]+)""#)
        var names = Set<String>()
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            guard file.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                names.insert(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        return names
    }
}

/// The plan of `query`, a line a row: PostgreSQL's `QUERY PLAN` column, or SQLite's
/// `detail` (after `id`, `parent` and `notused`).
struct QueryPlan<Query: StoreQuery>: StoreQuery {
    static var name: String { "test_plan_" + Query.name }
    static var text: QueryText {
        QueryText(sqlite: "EXPLAIN QUERY PLAN " + Query.text.sqlite, postgres: "EXPLAIN " + Query.text.postgres)
    }
    static var isReadOnly: Bool { true }
    let query: Query
    var binds: [QueryValue] { query.binds }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> String {
        var postgres = columns
        if let line = try? postgres.text() { return line }
        _ = try columns.integer()
        _ = try columns.integer()
        _ = try columns.integer()
        return try columns.text()
    }
}

/// For the rest of the transaction (see `QueryPlanTests`).
struct DisableSequentialScans: StoreCommand {
    static let name = "test_disable_seqscan"
    static let text = QueryText(postgresOnly: "SET LOCAL enable_seqscan = off")
    static let isReadOnly = false
    var binds: [QueryValue] { [] }
}


/// `rows` sessions, log-in failures and tokens of one user, their times 1...`rows` (so half
/// are at most `rows / 2`), and the planner's statistics for them.
enum FillPurgeableTables {
    static let rows: Int64 = 20_000

    static func statements(_ kind: Database.Kind) -> [SchemaStatement] {
        let user = "(SELECT id FROM users WHERE username_key = 'plan')"
        func insert(_ into: String, _ select: String) -> SchemaStatement {
            switch kind {
            case .sqlite:
                SchemaStatement(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(rows)) "
                        + "INSERT INTO \(into) SELECT \(select) FROM n")
            case .postgres:
                SchemaStatement("INSERT INTO \(into) SELECT \(select) FROM generate_series(1, \(rows)) AS n(i)")
            }
        }
        return [
            SchemaStatement(
                "INSERT INTO users (username, username_key, password_hash, created_at) VALUES ('plan', 'plan', 'x', 0)"),
            insert(
                "sessions (id_hash, user_id, csrf_secret, created_at, expires_at, public_id, last_seen_at)",
                "'s' || i, \(user), 'c', 0, i, i, 0"),
            insert("login_failures (scope, subject, failed_at)", "'address', 'a' || (i % 100), i"),
            insert(
                "api_tokens (user_id, name, token_hash, abilities, created_at, expires_at)",
                "\(user), 't', 'h' || i, 'todos:read', 0, i"),
            SchemaStatement("ANALYZE"),
        ]
    }
}
