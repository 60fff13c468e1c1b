/// A statement that runs on every request, written once for both engines and prepared
/// once per connection: a PostgreSQL named prepared statement, an SQLite cached
/// statement. Its values are bound, never spliced, and its rows are read by position
/// into typed values.
///
/// The stores' other statements (sign-up, log-in, throttling, purges, migrations) run
/// rarely and go through SQLKit; these are the ones a profile of the todo requests
/// showed, where rendering SQLKit expressions, binding through `Encodable` existentials
/// and decoding rows by column name cost several times the statement itself, and
/// PostgreSQL spent a third of its time parsing and planning unnamed statements.
protocol StoreQuery: Sendable {
    associatedtype Row: Sendable

    /// The statement's name on PostgreSQL, unique among queries.
    static var name: String { get }
    static var text: QueryText { get }
    /// Whether the statement only reads: SQLite then runs it on a WAL reader.
    static var isReadOnly: Bool { get }

    var binds: [QueryValue] { get }

    /// One row, its columns read in the order the statement selects them.
    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> Row
}

extension StoreQuery {
    static var isReadOnly: Bool { false }
}

/// A statement's text for each engine, derived once, when the query type is first used.
///
/// `$1`, `$2`… number the values in `binds`, as PostgreSQL writes them; SQLite gets them
/// as `?1`, `?2`…, since it would read `$1` as a name and number names by their first
/// appearance rather than by their digits. No `$` may appear elsewhere in the text.
struct QueryText: Sendable {
    let postgres: String
    let sqlite: String

    /// `sql` on both engines, or `postgres` on PostgreSQL when given.
    init(_ sql: String, postgres: String? = nil) {
        self.postgres = postgres ?? sql
        self.sqlite = String(decoding: sql.utf8.map { $0 == UInt8(ascii: "$") ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }
}

/// A statement with no result rows.
protocol StoreCommand: StoreQuery where Row == Void {}

extension StoreCommand {
    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws {}
}

/// A value bound to a placeholder.
enum QueryValue: Sendable, Equatable {
    case integer(Int64)
    case text(String)
    case bool(Bool)
    case null

    init(_ value: Int64?) { self = value.map(Self.integer) ?? .null }
    init(_ value: String?) { self = value.map(Self.text) ?? .null }
    init(_ value: Bool?) { self = value.map(Self.bool) ?? .null }
}

/// A result row's columns, read left to right.
protocol ColumnReader {
    mutating func integer() throws -> Int64
    mutating func text() throws -> String
    mutating func bool() throws -> Bool
    /// Whether the next column is NULL (it is not consumed): the columns of an outer
    /// join's missing side.
    mutating func nextIsNull() -> Bool
}

/// A column that did not hold what its query expects: a bug or a schema out of step, answered 500.
struct UnexpectedColumn: Error, CustomStringConvertible {
    let query: String
    let index: Int
    let expected: String
    let found: String

    var description: String { "\(query): column \(index) is \(found), expected \(expected)" }
}
