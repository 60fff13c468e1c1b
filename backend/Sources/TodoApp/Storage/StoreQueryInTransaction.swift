import NIOConcurrencyHelpers
import SQLKit

/// Running a `StoreQuery` on a connection a transaction holds: the same statement text and
/// binds as `Database.fetch`, through SQLKit (so not as a named prepared statement on
/// PostgreSQL; a change that records a live event is a transaction of several statements
/// anyway), its rows read by position.
extension StoreQuery {
    func run(on sql: any SQLDatabase, engine: Database.Kind) async throws -> [Row] {
        let statement = NumberedStatement(
            text: engine == .postgres ? Self.text.postgres : Self.text.sqlite,
            binds: binds.map { $0.encodable(for: engine) })
        let received = NIOLockedValueBox<[any SQLRow]>([])
        try await sql.execute(sql: statement) { row in received.withLockedValue { $0.append(row) } }
        var rows: [Row] = []
        for row in received.withLockedValue({ $0 }) {
            var columns = SQLRowColumns(row: row, names: row.allColumns, query: Self.name)
            rows.append(try Self.decode(&columns))
        }
        return rows
    }
}

/// Statement text already holding its placeholders (`$n` or `?n`), with its values.
private struct NumberedStatement: SQLExpression {
    let text: String
    let binds: [any Encodable & Sendable]

    func serialize(to serializer: inout SQLSerializer) {
        serializer.write(text)
        serializer.binds += binds
    }
}

extension QueryValue {
    /// The value as SQLKit binds it. NULL is left untyped on PostgreSQL, which types it from
    /// the statement (a typed one would have to match, as in `COALESCE($4, completed)`).
    func encodable(for engine: Database.Kind) -> any Encodable & Sendable {
        switch self {
        case .integer(let value): value
        case .text(let value): value
        case .bool(let value): value
        case .null: engine == .postgres ? UntypedNull() : Int64?.none
        }
    }
}

/// Encodes as a bare NULL, which PostgresKit binds without a type.
private struct UntypedNull: Encodable, Sendable {
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encodeNil()
    }
}

/// An SQLKit row read by position.
private struct SQLRowColumns: ColumnReader {
    let row: any SQLRow
    let names: [String]
    let query: String
    private var index = 0

    init(row: any SQLRow, names: [String], query: String) {
        self.row = row
        self.names = names
        self.query = query
    }

    mutating func integer() throws -> Int64 { try next(Int64.self, "bigint") }
    mutating func text() throws -> String { try next(String.self, "text") }
    mutating func bool() throws -> Bool { try next(Bool.self, "boolean") }

    mutating func nextIsNull() -> Bool {
        index < names.count && ((try? row.decodeNil(column: names[index])) ?? false)
    }

    private mutating func next<Value: Decodable>(_ type: Value.Type, _ name: String) throws -> Value {
        defer { index += 1 }
        guard index < names.count else {
            throw UnexpectedColumn(query: query, index: index, expected: name, found: "missing")
        }
        return try row.decode(column: names[index], as: Value.self)
    }
}
