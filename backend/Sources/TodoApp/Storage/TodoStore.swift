import Foundation

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
/// Each statement is a `StoreQuery`: these run on every todo request, so they are
/// prepared once per connection and their rows read by position.
struct TodoStore: Sendable {
    let database: Database

    func list(userID: Int64, completed: Bool? = nil) async throws -> [Todo] {
        if let completed {
            return try await database.fetch(ListTodosInState(userID: userID, completed: completed))
        }
        return try await database.fetch(ListTodos(userID: userID))
    }

    func find(userID: Int64, id: Int64) async throws -> Todo? {
        try await database.fetchFirst(FindTodo(userID: userID, id: id))
    }

    /// Adds a todo; without an `order`, one more than the user's largest (1 for the first).
    ///
    /// Concurrent creates for one user queue up and never compute the same order. On
    /// SQLite the largest order is read by the inserting statement itself, and a single
    /// statement that writes holds the database's write lock from its start. On
    /// PostgreSQL `todolist_append_todo` (migration 2) locks the user's row, then inserts
    /// in a statement of its own, whose snapshot therefore includes any concurrent create
    /// for that user that held the lock before it: one round trip, the lock held only
    /// for the function's run and its commit.
    func create(userID: Int64, title: String, completed: Bool, order: Int64?) async throws -> Todo {
        let now = Clock.milliseconds()
        let inserted: Todo?
        if let order {
            inserted = try await database.fetchFirst(
                InsertTodo(userID: userID, title: title, completed: completed, order: order, now: now))
        } else {
            inserted = try await database.fetchFirst(
                AppendTodo(userID: userID, title: title, completed: completed, now: now))
        }
        guard let inserted else { throw MissingRow(table: "todos") }
        return inserted
    }

    /// Applies `changes`; `nil` when the user has no such todo.
    func update(userID: Int64, id: Int64, changes: TodoChanges) async throws -> Todo? {
        if changes.isEmpty {
            return try await find(userID: userID, id: id)
        }
        return try await database.fetchFirst(
            UpdateTodo(userID: userID, id: id, changes: changes, now: Clock.milliseconds()))
    }

    /// Whether a todo was deleted.
    func delete(userID: Int64, id: Int64) async throws -> Bool {
        try await database.fetchFirst(DeleteTodo(userID: userID, id: id)) != nil
    }

    /// Marks every todo of the user `completed`; returns how many changed state.
    func setAllCompleted(userID: Int64, completed: Bool) async throws -> Int {
        try await database.fetch(
            SetAllCompleted(userID: userID, completed: completed, now: Clock.milliseconds())
        ).count
    }

    /// Deletes the user's completed todos; returns how many.
    func deleteCompleted(userID: Int64) async throws -> Int {
        try await database.fetch(DeleteCompleted(userID: userID)).count
    }
}

// MARK: Queries

/// A query whose rows are whole todos: `columns`, in that order.
protocol TodoRowsQuery: StoreQuery where Row == Todo {}

extension TodoRowsQuery {
    static var columns: String { "id, title, completed, sort_order, created_at, updated_at" }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> Todo {
        Todo(
            id: try columns.integer(),
            title: try columns.text(),
            completed: try columns.bool(),
            order: try columns.integer(),
            createdAt: try columns.integer(),
            updatedAt: try columns.integer())
    }
}

/// A query whose rows are the ids of the todos it changed.
protocol TodoIDsQuery: StoreQuery where Row == Int64 {}

extension TodoIDsQuery {
    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> Int64 {
        try columns.integer()
    }
}

struct ListTodos: TodoRowsQuery {
    static let name = "todolist_list_todos"
    static let text = QueryText("SELECT \(columns) FROM todos WHERE user_id = $1 ORDER BY sort_order, id")
    static let isReadOnly = true
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID)] }
}

struct ListTodosInState: TodoRowsQuery {
    static let name = "todolist_list_todos_in_state"
    static let text = QueryText("SELECT \(columns) FROM todos WHERE user_id = $1 AND completed = $2 ORDER BY sort_order, id")
    static let isReadOnly = true
    let userID: Int64
    let completed: Bool
    var binds: [QueryValue] { [.integer(userID), .bool(completed)] }
}

struct FindTodo: TodoRowsQuery {
    static let name = "todolist_find_todo"
    static let text = QueryText("SELECT \(columns) FROM todos WHERE id = $2 AND user_id = $1")
    static let isReadOnly = true
    let userID: Int64
    let id: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(id)] }
}

struct InsertTodo: TodoRowsQuery {
    static let name = "todolist_insert_todo"
    static let text = QueryText(
        """
        INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $5) RETURNING \(columns)
        """)
    let userID: Int64
    let title: String
    let completed: Bool
    let order: Int64
    let now: Int64
    var binds: [QueryValue] { [.integer(userID), .text(title), .bool(completed), .integer(order), .integer(now)] }
}

/// An insert at the end of the user's list (see `TodoStore.create`).
struct AppendTodo: TodoRowsQuery {
    static let name = "todolist_append_todo"
    static let text = QueryText(
        """
        INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at) \
        SELECT $1, $2, $3, COALESCE(MAX(sort_order), 0) + 1, $4, $4 FROM todos WHERE user_id = $1 \
        RETURNING \(columns)
        """,
        postgres: "SELECT \(columns) FROM todolist_append_todo($1, $2, $3, $4)")
    let userID: Int64
    let title: String
    let completed: Bool
    let now: Int64
    var binds: [QueryValue] { [.integer(userID), .text(title), .bool(completed), .integer(now)] }
}

/// One statement whatever the PATCH names: a field sent as NULL keeps its value.
struct UpdateTodo: TodoRowsQuery {
    static let name = "todolist_update_todo"
    static let text = QueryText(
        """
        UPDATE todos SET title = COALESCE($3, title), completed = COALESCE($4, completed), \
        sort_order = COALESCE($5, sort_order), updated_at = $6 \
        WHERE id = $2 AND user_id = $1 RETURNING \(columns)
        """)
    let userID: Int64
    let id: Int64
    let changes: TodoChanges
    let now: Int64
    var binds: [QueryValue] {
        [.integer(userID), .integer(id), QueryValue(changes.title), QueryValue(changes.completed),
         QueryValue(changes.order), .integer(now)]
    }
}

struct DeleteTodo: TodoIDsQuery {
    static let name = "todolist_delete_todo"
    static let text = QueryText("DELETE FROM todos WHERE id = $2 AND user_id = $1 RETURNING id")
    let userID: Int64
    let id: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(id)] }
}

struct SetAllCompleted: TodoIDsQuery {
    static let name = "todolist_set_all_completed"
    static let text = QueryText(
        """
        UPDATE todos SET completed = $2, updated_at = $3 WHERE user_id = $1 AND completed <> $2 RETURNING id
        """)
    let userID: Int64
    let completed: Bool
    let now: Int64
    var binds: [QueryValue] { [.integer(userID), .bool(completed), .integer(now)] }
}

struct DeleteCompleted: TodoIDsQuery {
    static let name = "todolist_delete_completed"
    static let text = QueryText("DELETE FROM todos WHERE user_id = $1 AND completed = $2 RETURNING id")
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID), .bool(true)] }
}
