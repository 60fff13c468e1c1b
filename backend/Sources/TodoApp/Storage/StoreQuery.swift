/// A statement, declared once: the one way the stores run SQL (see
/// docs/storage-and-accounts.md, "Running a query").
///
/// Its text is written once for both engines (or per engine, `QueryText`), its values
/// are bound, never spliced, and its rows are read by position into typed values. On
/// PostgreSQL it runs as a named prepared statement, parsed and planned once per
/// connection; on SQLite as a cached prepared statement. `Database.fetch` runs one
/// committed on its own; `Database.transaction` runs several on the connection the
/// transaction holds (`StoreConnection`).
protocol StoreQuery: Sendable {
    associatedtype Row: Sendable

    /// The statement's name on PostgreSQL, unique among queries.
    static var name: String { get }
    static var text: QueryText { get }
    /// Whether the statement only reads. Every declaration states it: on SQLite a
    /// read-only statement run on its own goes to a WAL reader, concurrently with the
    /// writer; anything else to the single writer.
    static var isReadOnly: Bool { get }
    /// `false` only for `SchemaStatement`: schema changes run once, unprepared, with
    /// their text given per instance.
    static var isPrepared: Bool { get }

    var binds: [QueryValue] { get }
    /// The text this instance runs: `Self.text`, except for `SchemaStatement`.
    var statementText: QueryText { get }

    /// One row, its columns read in the order the statement selects them.
    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> Row
}

extension StoreQuery {
    static var isPrepared: Bool { true }
    var statementText: QueryText { Self.text }
}

/// A schema change (a migration's DDL, or creating a test database): no binds, no rows,
/// run once, so it is the one kind of statement that is not prepared.
struct SchemaStatement: StoreCommand {
    static let name = "todolist_schema_statement"
    static let text = QueryText("")
    static let isReadOnly = false
    static let isPrepared = false
    let statementText: QueryText
    var binds: [QueryValue] { [] }

    init(_ sql: String) { statementText = QueryText(unnumbered: sql) }
}

/// A statement's text for each engine, derived once, when the query type is first used.
///
/// `$1`, `$2`… number the values in `binds`, as PostgreSQL writes them; SQLite gets them
/// as `?1`, `?2`…, since it would read `$1` as a name and number names by their first
/// appearance rather than by their digits. No `$` may appear elsewhere in the text.
///
/// PostgreSQL types each placeholder from the statement (the values are sent typed:
/// integers as `bigint`); a placeholder the statement would type otherwise (an `integer`
/// column, an `int[]` argument) is written `CAST($n AS BIGINT)`.
struct QueryText: Sendable {
    let postgres: String
    /// Empty for a statement that exists on PostgreSQL only; SQLite refuses to run it.
    let sqlite: String

    /// `sql` on both engines, or `postgres` on PostgreSQL when given.
    init(_ sql: String, postgres: String? = nil) {
        self.postgres = postgres ?? sql
        self.sqlite = Self.numberedForSQLite(sql)
    }

    /// A statement only PostgreSQL has (a function of its own, `pg_notify`, a row lock):
    /// its callers branch on `StoreConnection.kind` or `Database.kind`.
    init(postgresOnly sql: String) {
        self.postgres = sql
        self.sqlite = ""
    }

    /// Texts already written for each engine (`?n` placeholders on SQLite).
    init(sqlite: String, postgres: String) {
        self.postgres = postgres
        self.sqlite = sqlite
    }

    /// Text with no placeholders, taken as it is (a schema change may hold `$$`).
    init(unnumbered sql: String) {
        self.postgres = sql
        self.sqlite = sql
    }

    private static func numberedForSQLite(_ sql: String) -> String {
        String(decoding: sql.utf8.map { $0 == UInt8(ascii: "$") ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }
}

/// A statement declared for the other engine only was run: a bug, answered 500.
struct QueryNotOnThisEngine: Error, CustomStringConvertible {
    let query: String
    var description: String { "\(query) has no text for this engine" }
}

/// A statement with no result rows.
protocol StoreCommand: StoreQuery where Row == Void {}

extension StoreCommand {
    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws {}
}

/// A query whose rows are one integer column: an id, a count, a time.
protocol IntegerRowsQuery: StoreQuery where Row == Int64 {}

extension IntegerRowsQuery {
    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> Int64 {
        try columns.integer()
    }
}

/// A value bound to a placeholder.
enum QueryValue: Sendable, Equatable {
    case integer(Int64)
    case text(String)
    case bool(Bool)
    /// PostgreSQL: a `bigint[]` (`= ANY($n)`); SQLite: a JSON array, read with
    /// `json_each($n)`.
    case integers([Int64])
    /// PostgreSQL: a `text[]`; SQLite: a JSON array of strings.
    case texts([String])
    case null

    init(_ value: Int64?) { self = value.map(Self.integer) ?? .null }
    init(_ value: String?) { self = value.map(Self.text) ?? .null }
    init(_ value: Bool?) { self = value.map(Self.bool) ?? .null }
}

/// A result row's columns, read left to right.
protocol ColumnReader {
    /// The row's position in its result, 0 for the first.
    var row: Int { get }
    /// Moves past `count` columns without reading them.
    mutating func skip(_ count: Int)
    mutating func integer() throws -> Int64
    mutating func text() throws -> String
    mutating func bool() throws -> Bool
    /// Whether the next column is NULL (it is not consumed): the columns of an outer
    /// join's missing side.
    mutating func nextIsNull() -> Bool
    /// An integer column that may be NULL.
    mutating func optionalInteger() throws -> Int64?
    /// A text column that may be NULL.
    mutating func optionalText() throws -> String?

    /// Whether a list a statement reads with its parent (a session's todos) comes nested in
    /// one column of the parent's row (`nestedRows`), rather than as rows of its own that
    /// repeat the parent's columns. PostgreSQL nests: each row costs its client far more
    /// than the row's data (docs/performance.md, "One row for the list"); SQLite does not.
    static var nestsRows: Bool { get }
    /// A column holding nested rows (on PostgreSQL an array of records, written
    /// `ARRAY(SELECT ROW(…) … ORDER BY …)`), in their order, each decoded as `Nested`
    /// decodes one of its own rows.
    mutating func nestedRows<Nested: StoreQuery>(as nested: Nested.Type) throws -> [Nested.Row]
}

extension ColumnReader {
    /// `decode`'s value on the first row; on the others, which repeat it (the one side of a
    /// join), its `count` columns are skipped, not decoded, and the value is `nil`.
    mutating func onFirstRow<Value>(columns count: Int, _ decode: (inout Self) throws -> Value) rethrows -> Value? {
        guard row == 0 else {
            skip(count)
            return nil
        }
        return try decode(&self)
    }
}

/// A column that did not hold what its query expects: a bug or a schema out of step, answered 500.
struct UnexpectedColumn: Error, CustomStringConvertible {
    let query: String
    let index: Int
    let expected: String
    let found: String

    var description: String { "\(query): column \(index) is \(found), expected \(expected)" }
}
