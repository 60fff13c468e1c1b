/// `GET /api/todos/` with a session cookie, the most frequent request, in one statement:
/// the live session named by the cookie (as `LoadSession` reads it) and its user's todos
/// (as `ListTodos` orders them). No session, no row.
///
/// On SQLite, one row per todo, the session's columns repeated (decoded from the first row
/// only); a session whose user has no todos is one row whose todo columns are NULL. On
/// PostgreSQL, one row: the session's columns and the todos nested in one column
/// (`ColumnReader.nestsRows`).
struct LoadSessionWithTodos: SessionWithTodosQuery {
    static let name = "todolist_load_session_with_todos"
    static let text = QueryText(
        """
        SELECT \(LoadSession.columns), \(todoColumns) FROM \(LoadSession.liveSession) \
        LEFT JOIN todos ON todos.user_id = sessions.user_id \
        WHERE \(LoadSession.liveSessionCondition) ORDER BY todos.sort_order, todos.id
        """,
        postgres: """
            SELECT \(LoadSession.columns), \(nestedTodos(where: "todos.user_id = sessions.user_id")) \
            FROM \(LoadSession.liveSession) WHERE \(LoadSession.liveSessionCondition)
            """)
    static let isReadOnly = true
    let idHash: String
    let now: Int64
    var binds: [QueryValue] { [.text(idHash), .integer(now)] }
}

/// As `LoadSessionWithTodos`, with only the todos whose `completed` is `$3`.
struct LoadSessionWithTodosInState: SessionWithTodosQuery {
    static let name = "todolist_load_session_with_todos_in_state"
    static let text = QueryText(
        """
        SELECT \(LoadSession.columns), \(todoColumns) FROM \(LoadSession.liveSession) \
        LEFT JOIN todos ON todos.user_id = sessions.user_id AND todos.completed = $3 \
        WHERE \(LoadSession.liveSessionCondition) ORDER BY todos.sort_order, todos.id
        """,
        postgres: """
            SELECT \(LoadSession.columns), \
            \(nestedTodos(where: "todos.user_id = sessions.user_id AND todos.completed = $3")) \
            FROM \(LoadSession.liveSession) WHERE \(LoadSession.liveSessionCondition)
            """)
    static let isReadOnly = true
    let idHash: String
    let now: Int64
    let completed: Bool
    var binds: [QueryValue] { [.text(idHash), .integer(now), .bool(completed)] }
}

protocol SessionWithTodosQuery: StoreQuery where Row == SessionWithTodosRow {}

struct SessionWithTodosRow: Sendable {
    /// On the first row only: the others repeat it.
    let session: LoadSession.Row?
    /// The row's todos: on SQLite its one todo, or none on the one row of a user without
    /// (matching) todos; on PostgreSQL all of them.
    let todos: [Todo]
}

extension SessionWithTodosQuery {
    /// `TodoRowsQuery.columns`, qualified: `users` has an `id` too.
    static var todoColumns: String {
        "todos.id, todos.title, todos.completed, todos.sort_order, todos.created_at, todos.updated_at"
    }

    /// The todos meeting `condition`, as `ListTodos` orders them, in one column: an array of
    /// records, each with `todoColumns` (PostgreSQL; `ColumnReader.nestedRows` reads it).
    static func nestedTodos(where condition: String) -> String {
        "ARRAY(SELECT ROW(\(todoColumns)) FROM todos WHERE \(condition) ORDER BY todos.sort_order, todos.id)"
    }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> SessionWithTodosRow {
        let session = try columns.onFirstRow(columns: LoadSession.columnCount) { try LoadSession.decode(&$0) }
        return SessionWithTodosRow(session: session, todos: try columns.listedTodos())
    }
}

extension ColumnReader {
    /// The todos of a `…WithTodos` row: all of them where the engine nests them, otherwise the
    /// row's own todo (none when its todo columns are NULL: a parent without todos).
    mutating func listedTodos() throws -> [Todo] {
        if Self.nestsRows {
            return try nestedRows(as: ListTodos.self)
        }
        return nextIsNull() ? [] : [try ListTodos.decode(&self)]
    }
}
