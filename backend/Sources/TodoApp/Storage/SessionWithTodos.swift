/// `GET /api/todos/` with a session cookie, the most frequent request, in one statement:
/// the live session named by the cookie (as `LoadSession` reads it) and its user's todos
/// (as `ListTodos` orders them), one row per todo, the session's columns repeated. A
/// session whose user has no todos is one row whose todo columns are NULL; no session, no row.
/// The session's columns are decoded from the first row only.
struct LoadSessionWithTodos: SessionWithTodosQuery {
    static let name = "todolist_load_session_with_todos"
    static let text = QueryText(
        """
        SELECT \(LoadSession.columns), \(todoColumns) FROM \(LoadSession.liveSession) \
        LEFT JOIN todos ON todos.user_id = sessions.user_id \
        WHERE \(LoadSession.liveSessionCondition) ORDER BY todos.sort_order, todos.id
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
    /// `nil` on the one row of a user without (matching) todos.
    let todo: Todo?
}

extension SessionWithTodosQuery {
    /// `TodoRowsQuery.columns`, qualified: `users` has an `id` too.
    static var todoColumns: String {
        "todos.id, todos.title, todos.completed, todos.sort_order, todos.created_at, todos.updated_at"
    }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> SessionWithTodosRow {
        let session = try columns.onFirstRow(columns: LoadSession.columnCount) { try LoadSession.decode(&$0) }
        guard !columns.nextIsNull() else { return SessionWithTodosRow(session: session, todo: nil) }
        return SessionWithTodosRow(session: session, todo: try ListTodos.decode(&columns))
    }
}
