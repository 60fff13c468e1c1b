import Foundation
import SQLKit

/// A todo as the API shows it.
struct Todo: Sendable, Equatable {
    let id: Int64
    let title: String
    let completed: Bool
    let order: Int64
    /// Milliseconds since 1970, as stored.
    let createdAt: Int64
    let updatedAt: Int64
}

extension Todo: JSONRepresentable {
    func write(to json: inout JSONOutput) {
        json.beginObject()
        json.key("id")
        json.integer(id)
        json.key("title")
        json.string(title)
        json.key("completed")
        json.bool(completed)
        json.key("order")
        json.integer(order)
        json.key("createdAt")
        json.timestamp(milliseconds: createdAt)
        json.key("updatedAt")
        json.timestamp(milliseconds: updatedAt)
        json.endObject()
    }
}

/// What a PATCH changes; `nil` leaves a field as it is.
struct TodoChanges: Sendable, Equatable {
    var title: String?
    var completed: Bool?
    var order: Int64?

    var isEmpty: Bool { title == nil && completed == nil && order == nil }
}

/// Each user's todos. Every query is scoped by `user_id`, so another user's todo is
/// indistinguishable from a missing one.
///
/// The queries are written as SQL text with binds rather than with SQLKit's builders:
/// the text is the same on both engines (only the placeholders differ, and SQLKit
/// renders those), and it is not rebuilt from an expression tree on every request.
struct TodoStore: Sendable {
    let database: Database

    static let columns: SQLQueryString = "id, title, completed, sort_order, created_at, updated_at"

    func list(userID: Int64, completed: Bool? = nil) async throws -> [Todo] {
        try await database.read { sql in
            let query: SQLQueryString =
                if let completed {
                    "SELECT \(Self.columns) FROM todos WHERE user_id = \(bind: userID) AND completed = \(bind: completed) ORDER BY sort_order, id"
                } else {
                    "SELECT \(Self.columns) FROM todos WHERE user_id = \(bind: userID) ORDER BY sort_order, id"
                }
            return try await sql.raw(query).all().map(Self.decode)
        }
    }

    func find(userID: Int64, id: Int64) async throws -> Todo? {
        try await database.read { sql in
            try await sql.raw("SELECT \(Self.columns) FROM todos WHERE id = \(bind: id) AND user_id = \(bind: userID)")
                .first()
                .map(Self.decode)
        }
    }

    /// Adds a todo; without an `order`, one more than the user's largest (1 for the first).
    ///
    /// The largest order is read by the inserting statement itself. On SQLite a single
    /// statement that writes holds the database's write lock from its start, so it is
    /// atomic on its own. On PostgreSQL the user's row is locked first, in the same
    /// transaction: the insert, a later statement, then takes its snapshot after any
    /// concurrent create for that user has committed. Either way concurrent creates
    /// queue up and never compute the same order.
    func create(userID: Int64, title: String, completed: Bool, order: Int64?) async throws -> Todo {
        let now = Clock.milliseconds()
        let insert: SQLQueryString =
            if let order {
                """
                INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at) \
                VALUES (\(bind: userID), \(bind: title), \(bind: completed), \(bind: order), \(bind: now), \(bind: now)) \
                RETURNING \(Self.columns)
                """
            } else {
                """
                INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at) \
                SELECT \(bind: userID), \(bind: title), \(bind: completed), COALESCE(MAX(sort_order), 0) + 1, \(bind: now), \(bind: now) \
                FROM todos WHERE user_id = \(bind: userID) \
                RETURNING \(Self.columns)
                """
            }
        let run: @Sendable (any SQLDatabase) async throws -> Todo = { sql in
            guard let row = try await sql.raw(insert).first() else { throw MissingRow(table: "todos") }
            return try Self.decode(row)
        }
        guard order == nil, database.kind == .postgres else {
            return try await database.read(run)
        }
        return try await database.transaction { sql in
            try await sql.raw("SELECT id FROM users WHERE id = \(bind: userID) FOR UPDATE").run()
            return try await run(sql)
        }
    }

    /// Applies `changes`; `nil` when the user has no such todo.
    func update(userID: Int64, id: Int64, changes: TodoChanges) async throws -> Todo? {
        if changes.isEmpty {
            return try await find(userID: userID, id: id)
        }
        var assignments: [any SQLExpression] = []
        if let title = changes.title { assignments.append("title = \(bind: title)" as SQLQueryString) }
        if let completed = changes.completed { assignments.append("completed = \(bind: completed)" as SQLQueryString) }
        if let order = changes.order { assignments.append("sort_order = \(bind: order)" as SQLQueryString) }
        assignments.append("updated_at = \(bind: Clock.milliseconds())" as SQLQueryString)
        let set = SQLList(assignments)
        return try await database.read { sql in
            try await sql.raw(
                "UPDATE todos SET \(set) WHERE id = \(bind: id) AND user_id = \(bind: userID) RETURNING \(Self.columns)"
            )
            .first()
            .map(Self.decode)
        }
    }

    /// Whether a todo was deleted.
    func delete(userID: Int64, id: Int64) async throws -> Bool {
        try await database.read { sql in
            try await sql.raw("DELETE FROM todos WHERE id = \(bind: id) AND user_id = \(bind: userID) RETURNING id")
                .first() != nil
        }
    }

    /// Marks every todo of the user `completed`; returns how many changed state.
    func setAllCompleted(userID: Int64, completed: Bool) async throws -> Int {
        try await database.read { sql in
            try await sql.raw(
                """
                UPDATE todos SET completed = \(bind: completed), updated_at = \(bind: Clock.milliseconds()) \
                WHERE user_id = \(bind: userID) AND completed <> \(bind: completed) RETURNING id
                """
            )
            .all()
            .count
        }
    }

    /// Deletes the user's completed todos; returns how many.
    func deleteCompleted(userID: Int64) async throws -> Int {
        try await database.read { sql in
            try await sql.raw("DELETE FROM todos WHERE user_id = \(bind: userID) AND completed = \(bind: true) RETURNING id")
                .all()
                .count
        }
    }

    static func decode(_ row: any SQLRow) throws -> Todo {
        Todo(
            id: try row.decode(column: "id", as: Int64.self),
            title: try row.decode(column: "title", as: String.self),
            completed: try row.decode(column: "completed", as: Bool.self),
            order: try row.decode(column: "sort_order", as: Int64.self),
            createdAt: try row.decode(column: "created_at", as: Int64.self),
            updatedAt: try row.decode(column: "updated_at", as: Int64.self))
    }
}
