/// `GET /api/todos/` with a bearer token in one statement: the live token the request
/// presents (as `LoadToken` reads it) and its user's todos (as `ListTodos` orders them).
/// No token, no row; a token without `todos:read` reads no todos. The rows are shaped as
/// `LoadSessionWithTodos`'s: on SQLite one per todo, the token's columns repeated (decoded
/// from the first row only), one row with NULL todo columns when there is no todo to read;
/// on PostgreSQL one row, the todos nested in one column.
///
/// The ability is checked twice on purpose: the join reads no todo for a token whose
/// abilities lack the word `todos:read`, and `TokenStore` decides the answer (403) from
/// the abilities it decodes, as for every route. SQLite's LIKE ignores ASCII case, so
/// the join may read todos the decoded abilities then refuse; never the other way round.
struct LoadTokenWithTodos: TokenWithTodosQuery {
    static let name = "todolist_load_token_with_todos"
    static let text = QueryText(
        """
        SELECT \(LoadToken.columns), \(todoColumns) FROM \(LoadToken.liveToken) \
        LEFT JOIN todos ON todos.user_id = api_tokens.user_id AND \(mayRead) \
        WHERE \(LoadToken.liveTokenCondition) ORDER BY todos.sort_order, todos.id
        """,
        postgres: """
            SELECT \(LoadToken.columns), \(nestedTodos(where: "todos.user_id = api_tokens.user_id AND \(mayRead)")) \
            FROM \(LoadToken.liveToken) WHERE \(LoadToken.liveTokenCondition)
            """)
    static let isReadOnly = true
    let tokenHash: String
    let now: Int64
    var binds: [QueryValue] { [.text(tokenHash), .integer(now)] }
}

/// As `LoadTokenWithTodos`, with only the todos whose `completed` is `$3`.
struct LoadTokenWithTodosInState: TokenWithTodosQuery {
    static let name = "todolist_load_token_with_todos_in_state"
    static let text = QueryText(
        """
        SELECT \(LoadToken.columns), \(todoColumns) FROM \(LoadToken.liveToken) \
        LEFT JOIN todos ON todos.user_id = api_tokens.user_id AND todos.completed = $3 AND \(mayRead) \
        WHERE \(LoadToken.liveTokenCondition) ORDER BY todos.sort_order, todos.id
        """,
        postgres: """
            SELECT \(LoadToken.columns), \
            \(nestedTodos(where: "todos.user_id = api_tokens.user_id AND todos.completed = $3 AND \(mayRead)")) \
            FROM \(LoadToken.liveToken) WHERE \(LoadToken.liveTokenCondition)
            """)
    static let isReadOnly = true
    let tokenHash: String
    let now: Int64
    let completed: Bool
    var binds: [QueryValue] { [.text(tokenHash), .integer(now), .bool(completed)] }
}

protocol TokenWithTodosQuery: StoreQuery where Row == TokenWithTodosRow {}

struct TokenWithTodosRow: Sendable {
    /// On the first row only: the others repeat it.
    let token: LoadToken.Row?
    /// As `SessionWithTodosRow.todos`.
    let todos: [Todo]
}

extension TokenWithTodosQuery {
    /// The todos' columns, qualified (`users` and `api_tokens` have an `id` too).
    static var todoColumns: String { LoadSessionWithTodos.todoColumns }

    static func nestedTodos(where condition: String) -> String { LoadSessionWithTodos.nestedTodos(where: condition) }

    /// Whether the token's space-separated abilities hold `todos:read` as a whole word.
    static var mayRead: String {
        "(' ' || api_tokens.abilities || ' ') LIKE '% \(Authentication.Ability.todosRead.rawValue) %'"
    }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> TokenWithTodosRow {
        let token = try columns.onFirstRow(columns: LoadToken.columnCount) { try LoadToken.decode(&$0) }
        return TokenWithTodosRow(token: token, todos: try columns.listedTodos())
    }
}
