import Foundation
import SQLKit

/// A todo as the API shows it.
struct Todo: Sendable, Equatable, Encodable {
    let id: Int64
    let title: String
    let completed: Bool
    let order: Int64
    let createdAt: Date
    let updatedAt: Date
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
struct TodoStore: Sendable {
    let database: Database

    static let columns = ["id", "title", "completed", "sort_order", "created_at", "updated_at"]

    func list(userID: Int64, completed: Bool? = nil) async throws -> [Todo] {
        try await database.read { sql in
            let query = sql.select()
                .columns(Self.columns)
                .from("todos")
                .where("user_id", .equal, userID)
            if let completed {
                query.where("completed", .equal, completed)
            }
            return try await query
                .orderBy("sort_order")
                .orderBy("id")
                .all()
                .map(Self.decode)
        }
    }

    func find(userID: Int64, id: Int64) async throws -> Todo? {
        try await database.read { sql in
            try await sql.select()
                .columns(Self.columns)
                .from("todos")
                .where("id", .equal, id)
                .where("user_id", .equal, userID)
                .first()
                .map(Self.decode)
        }
    }

    /// Adds a todo; without an `order`, one more than the user's largest (1 for the first).
    ///
    /// The largest order is read inside the inserting transaction with the user's row
    /// locked (PostgreSQL) or the database's write lock held (SQLite), so concurrent
    /// creates for one user queue up and never compute the same order.
    func create(userID: Int64, title: String, completed: Bool, order: Int64?) async throws -> Todo {
        try await database.transaction { sql in
            let sortOrder: Int64
            if let order {
                sortOrder = order
            } else {
                _ = try await sql.select()
                    .column("id")
                    .from("users")
                    .where("id", .equal, userID)
                    .for(.update)
                    .first()
                let row = try await sql.raw(
                    "SELECT COALESCE(MAX(sort_order), 0) AS largest FROM todos WHERE user_id = \(bind: userID)"
                ).first()
                sortOrder = (try row?.decode(column: "largest", as: Int64.self) ?? 0) + 1
            }
            let now = Clock.milliseconds()
            let row = try await sql.insert(into: "todos")
                .columns("user_id", "title", "completed", "sort_order", "created_at", "updated_at")
                .values(
                    SQLBind(userID), SQLBind(title), SQLBind(completed), SQLBind(sortOrder), SQLBind(now), SQLBind(now))
                .returning(Self.columns.map { SQLColumn($0) as any SQLExpression })
                .first()
            guard let row else { throw MissingRow(table: "todos") }
            return try Self.decode(row)
        }
    }

    /// Applies `changes`; `nil` when the user has no such todo.
    func update(userID: Int64, id: Int64, changes: TodoChanges) async throws -> Todo? {
        if changes.isEmpty {
            return try await find(userID: userID, id: id)
        }
        return try await database.read { sql in
            let query = sql.update("todos")
            if let title = changes.title { query.set("title", to: title) }
            if let completed = changes.completed { query.set("completed", to: completed) }
            if let order = changes.order { query.set("sort_order", to: order) }
            return try await query
                .set("updated_at", to: Clock.milliseconds())
                .where("id", .equal, id)
                .where("user_id", .equal, userID)
                .returning(Self.columns.map { SQLColumn($0) as any SQLExpression })
                .first()
                .map(Self.decode)
        }
    }

    /// Whether a todo was deleted.
    func delete(userID: Int64, id: Int64) async throws -> Bool {
        try await database.read { sql in
            try await sql.delete(from: "todos")
                .where("id", .equal, id)
                .where("user_id", .equal, userID)
                .returning("id")
                .first() != nil
        }
    }

    /// Marks every todo of the user `completed`; returns how many changed state.
    func setAllCompleted(userID: Int64, completed: Bool) async throws -> Int {
        try await database.read { sql in
            try await sql.update("todos")
                .set("completed", to: completed)
                .set("updated_at", to: Clock.milliseconds())
                .where("user_id", .equal, userID)
                .where("completed", .notEqual, completed)
                .returning("id")
                .all()
                .count
        }
    }

    /// Deletes the user's completed todos; returns how many.
    func deleteCompleted(userID: Int64) async throws -> Int {
        try await database.read { sql in
            try await sql.delete(from: "todos")
                .where("user_id", .equal, userID)
                .where("completed", .equal, true)
                .returning("id")
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
            createdAt: Clock.date(milliseconds: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Clock.date(milliseconds: try row.decode(column: "updated_at", as: Int64.self)))
    }
}
