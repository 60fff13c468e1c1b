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

extension [Todo] {
    /// The todos whose `completed` is `state`, in order; all of them when `state` is `nil`.
    func inState(_ state: Bool?) -> [Todo] {
        guard let state else { return self }
        return filter { $0.completed == state }
    }
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
    /// The most todos one user may hold (the contract's default: 10,000).
    var maxTodosPerUser: Int = 10_000
    /// Where changes are announced: each change then runs in a transaction that also
    /// records its event (see `LiveEventLog`). `nil` (some tests) changes without events.
    var live: LiveUpdates? = nil

    /// The largest `order` a JavaScript client holds exactly (2^53 − 1); a computed
    /// default order never goes beyond it. Clients cannot send more (`JSONObject.integer`).
    static let maxOrder: Int64 = 9_007_199_254_740_991

    /// Why a create was refused, every todo of the user left as it was.
    enum CreateRefusal: Error, Equatable {
        /// The user already holds `maxTodosPerUser` todos.
        case tooManyTodos
        /// The user's largest order is `maxOrder`, so there is no default order after it.
        case orderExhausted
    }

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
    ///
    /// The cap and the order bound are checked by the inserting statement itself, under
    /// the same lock, so concurrent creates never take a user past the cap. A refused
    /// create throws `CreateRefusal`; which limit refused it is read afterwards (the
    /// statement's only answer is "no row").
    func create(userID: Int64, title: String, completed: Bool, order: Int64?) async throws -> Todo {
        let cap = Int64(maxTodosPerUser)
        // A refusal whose cause is gone by the time it is read (a todo deleted in
        // between) is retried: the answer names the limit that holds.
        for _ in 0..<3 {
            let now = Clock.milliseconds()
            let inserted: Todo?
            if let order {
                inserted = try await fetchFirstAnnouncing(
                    InsertTodo(userID: userID, title: title, completed: completed, order: order, now: now, cap: cap),
                    userID: userID) { todo in (.todoCreated, todo.jsonText) }
            } else {
                inserted = try await fetchFirstAnnouncing(
                    AppendTodo(userID: userID, title: title, completed: completed, now: now, cap: cap),
                    userID: userID) { todo in (.todoCreated, todo.jsonText) }
            }
            if let inserted { return inserted }
            guard let room = try await database.fetchFirst(TodoRoom(userID: userID)) else {
                throw MissingRow(table: "todos")
            }
            if room.held >= cap { throw CreateRefusal.tooManyTodos }
            if order == nil, room.largestOrder >= Self.maxOrder { throw CreateRefusal.orderExhausted }
        }
        throw MissingRow(table: "todos")
    }

    /// Applies `changes`; `nil` when the user has no such todo.
    func update(userID: Int64, id: Int64, changes: TodoChanges) async throws -> Todo? {
        if changes.isEmpty {
            return try await find(userID: userID, id: id)
        }
        return try await fetchFirstAnnouncing(
            UpdateTodo(userID: userID, id: id, changes: changes, now: Clock.milliseconds()), userID: userID
        ) { todo in (.todoUpdated, todo.jsonText) }
    }

    /// Whether a todo was deleted.
    func delete(userID: Int64, id: Int64) async throws -> Bool {
        try await fetchFirstAnnouncing(DeleteTodo(userID: userID, id: id), userID: userID) { id in
            (.todoDeleted, DeletedTodo(id: id).jsonText)
        } != nil
    }

    /// Marks every todo of the user `completed`; returns how many changed state.
    func setAllCompleted(userID: Int64, completed: Bool) async throws -> Int {
        let now = Clock.milliseconds()
        return try await fetchAnnouncing(SetAllCompleted(userID: userID, completed: completed, now: now), userID: userID) {
            ids in (.todosCompleted, BulkChange(ids: ids, completed: completed, updatedAt: now).jsonText)
        }.count
    }

    /// Deletes the user's completed todos; returns how many.
    func deleteCompleted(userID: Int64) async throws -> Int {
        try await fetchAnnouncing(DeleteCompleted(userID: userID), userID: userID) { ids in
            (.todosCleared, BulkChange(ids: ids).jsonText)
        }.count
    }

    // MARK: Announcing changes

    /// Runs a change and, when it changed something, records the event `describe` makes of
    /// its rows, in one transaction; the event is handed to the live updates once committed.
    private func fetchAnnouncing<Query: StoreQuery>(
        _ query: Query, userID: Int64,
        _ describe: @escaping @Sendable ([Query.Row]) -> (LiveEvent.Kind, String)
    ) async throws -> [Query.Row] {
        guard let live else { return try await database.fetch(query) }
        let (rows, event) = try await database.transaction { tx -> ([Query.Row], LiveEvent?) in
            let rows = try await tx.fetch(query)
            guard !rows.isEmpty else { return (rows, nil) }
            let (kind, data) = describe(rows)
            return (rows, try await live.record(in: tx, userID: userID, kind: kind, data: data))
        }
        if let event { live.committed(userID: userID, event) }
        return rows
    }

    private func fetchFirstAnnouncing<Query: StoreQuery>(
        _ query: Query, userID: Int64,
        _ describe: @escaping @Sendable (Query.Row) -> (LiveEvent.Kind, String)
    ) async throws -> Query.Row? {
        try await fetchAnnouncing(query, userID: userID) { rows in describe(rows[0]) }.first
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

/// An insert with the order the client chose, unless the user holds `cap` todos already
/// (no row then). On PostgreSQL, `todolist_add_todo` (migration 3) counts under the user's
/// row lock; see `TodoStore.create`.
struct InsertTodo: TodoRowsQuery {
    static let name = "todolist_insert_todo_capped"
    static let isReadOnly = false
    static let text = QueryText(
        """
        INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at) \
        SELECT $1, $2, $3, $4, $5, $5 WHERE (SELECT COUNT(*) FROM todos WHERE user_id = $1) < $6 \
        RETURNING \(columns)
        """,
        postgres: "SELECT \(columns) FROM todolist_add_todo($1, $2, $3, $4, $5, $6)")
    let userID: Int64
    let title: String
    let completed: Bool
    let order: Int64
    let now: Int64
    let cap: Int64
    var binds: [QueryValue] {
        [.integer(userID), .text(title), .bool(completed), .integer(order), .integer(now), .integer(cap)]
    }
}

/// An insert at the end of the user's list (see `TodoStore.create`), unless the user holds
/// `cap` todos or their largest order is `TodoStore.maxOrder` (no row then).
struct AppendTodo: TodoRowsQuery {
    static let name = "todolist_append_todo_capped"
    static let isReadOnly = false
    static let text = QueryText(
        """
        INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at) \
        SELECT $1, $2, $3, mine.top + 1, $4, $4 \
        FROM (SELECT COALESCE((SELECT MAX(sort_order) FROM todos WHERE user_id = $1), 0) AS top, \
        (SELECT COUNT(*) FROM todos WHERE user_id = $1) AS held) AS mine \
        WHERE mine.held < $5 AND mine.top < \(TodoStore.maxOrder) \
        RETURNING \(columns)
        """,
        postgres: "SELECT \(columns) FROM todolist_add_todo($1, $2, $3, NULL, $4, $5)")
    let userID: Int64
    let title: String
    let completed: Bool
    let now: Int64
    let cap: Int64
    var binds: [QueryValue] { [.integer(userID), .text(title), .bool(completed), .integer(now), .integer(cap)] }
}

/// How many todos a user holds and their largest order: read after a refused create, to
/// say which limit refused it.
struct TodoRoom: StoreQuery {
    struct Row: Sendable {
        let held: Int64
        let largestOrder: Int64
    }
    static let name = "todolist_todo_room"
    static let text = QueryText("SELECT COUNT(*), COALESCE(MAX(sort_order), 0) FROM todos WHERE user_id = $1")
    static let isReadOnly = true
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID)] }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> Row {
        Row(held: try columns.integer(), largestOrder: try columns.integer())
    }
}

/// One statement whatever the PATCH names: a field sent as NULL keeps its value.
struct UpdateTodo: TodoRowsQuery {
    static let name = "todolist_update_todo"
    static let isReadOnly = false
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

struct DeleteTodo: IntegerRowsQuery {
    static let name = "todolist_delete_todo"
    static let isReadOnly = false
    static let text = QueryText("DELETE FROM todos WHERE id = $2 AND user_id = $1 RETURNING id")
    let userID: Int64
    let id: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(id)] }
}

struct SetAllCompleted: IntegerRowsQuery {
    static let name = "todolist_set_all_completed"
    static let isReadOnly = false
    static let text = QueryText(
        """
        UPDATE todos SET completed = $2, updated_at = $3 WHERE user_id = $1 AND completed <> $2 RETURNING id
        """)
    let userID: Int64
    let completed: Bool
    let now: Int64
    var binds: [QueryValue] { [.integer(userID), .bool(completed), .integer(now)] }
}

struct DeleteCompleted: IntegerRowsQuery {
    static let name = "todolist_delete_completed"
    static let isReadOnly = false
    static let text = QueryText("DELETE FROM todos WHERE user_id = $1 AND completed = $2 RETURNING id")
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID), .bool(true)] }
}
