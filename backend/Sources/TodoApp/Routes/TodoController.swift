import CrossOriginSecurity
import Foundation
import HTTPTypes
import Hummingbird

/// `/api/todos/`: the logged-in user's todos.
///
/// Every handler checks the session first (401), then the id in the path (404), then
/// the body (400), and only then touches the database, so a bad request changes nothing.
struct TodoController {
    let todos: TodoStore

    static let maxTitleLength = 500

    func register(in routes: RouteTable) {
        routes.on("/api/todos/", .get, precheck: Self.loggedInOrDeferred(.todosRead), use: list)
        routes.on("/api/todos/", .post, precheck: Self.loggedIn(.todosWrite), readsBody: true, use: create)
        routes.on("/api/todos/", .patch, precheck: Self.loggedIn(.todosWrite), readsBody: true, use: setAllCompleted)
        routes.on("/api/todos/", .delete, precheck: Self.loggedIn(.todosWrite), use: deleteCompleted)
        routes.on("/api/todos/:id/", .get, precheck: Self.todoPathAndLoggedIn(.todosRead), use: show)
        routes.on("/api/todos/:id/", .patch, precheck: Self.todoPathAndLoggedIn(.todosWrite), readsBody: true, use: update)
        routes.on("/api/todos/:id/", .delete, precheck: Self.todoPathAndLoggedIn(.todosWrite), use: delete)
    }

    /// 401 (or a bearer token's 400, 401, 403) before the body is read. Reads need a
    /// token's `todos:read`, changes its `todos:write`.
    static func loggedIn(_ ability: Authentication.Ability) -> RouteTable.Precheck {
        { _, context in _ = try requireUser(context, ability) }
    }

    /// As `loggedIn`, but a session cookie or bearer token whose lookup was deferred to the
    /// route (`DeferredSession`, `DeferredToken`) passes: the route answers for it itself.
    static func loggedInOrDeferred(_ ability: Authentication.Ability) -> RouteTable.Precheck {
        { _, context in
            if case .deferred? = context.bearer { return }
            if context.bearer == nil, context.deferredSession != nil { return }
            _ = try requireUser(context, ability)
        }
    }

    /// A path that can never name a todo is 404 for everyone, logged in or not (routing
    /// comes before authentication); then authentication.
    static func todoPathAndLoggedIn(_ ability: Authentication.Ability) -> RouteTable.Precheck {
        { _, context in
            _ = try todoID(context)
            _ = try requireUser(context, ability)
        }
    }

    struct TodoList: JSONRepresentable {
        let todos: [Todo]

        func write(to json: inout JSONOutput) {
            json.beginObject()
            json.key("todos")
            json.beginArray()
            for todo in todos { todo.write(to: &json) }
            json.endArray()
            json.endObject()
        }
    }

    /// `{"updated": n}` or `{"deleted": n}`.
    struct Count: JSONRepresentable {
        let key: StaticString
        let count: Int

        func write(to json: inout JSONOutput) {
            json.beginObject()
            json.key(key)
            json.integer(count)
            json.endObject()
        }
    }

    // MARK: Handlers

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        if case .deferred(let token)? = context.bearer {
            return try await list(request, context: context, token: token)
        }
        if context.bearer == nil, let deferred = context.deferredSession {
            return try await list(request, deferred: deferred)
        }
        let userID = try Self.requireUser(context, .todosRead)
        let completed = try Self.completedFilter(request, allowed: ["true": true, "false": false])
        return JSONResponse.make(.ok, TodoList(todos: try await todos.list(userID: userID, completed: completed)))
    }

    /// The list read with the session in one statement; the answers (and their order: 401
    /// before a bad filter's 400) are those of the route with a loaded session.
    private func list(_ request: Request, deferred: DeferredSession) async throws -> Response {
        let completed: Bool?
        do {
            completed = try Self.completedFilter(request, allowed: ["true": true, "false": false])
        } catch {
            guard try await deferred.load() != nil else { throw Authentication.todosNeedLogIn }
            throw error
        }
        guard let (_, todos) = try await deferred.loadWithTodos(completed: completed) else {
            throw Authentication.todosNeedLogIn
        }
        return JSONResponse.make(.ok, TodoList(todos: todos))
    }

    /// The list read with the bearer token in one statement; the answers (and their order:
    /// 401 or 403 before a bad filter's 400) are `requireUser`'s on the token as loaded.
    private func list(_ request: Request, context: AppRequestContext, token: DeferredToken) async throws -> Response {
        var loaded = context
        let completed: Bool?
        do {
            completed = try Self.completedFilter(request, allowed: ["true": true, "false": false])
        } catch {
            loaded.bearer = try await token.load()
            _ = try Self.requireUser(loaded, .todosRead)
            throw error
        }
        let (bearer, todos) = try await token.loadWithTodos(completed: completed)
        loaded.bearer = bearer
        _ = try Self.requireUser(loaded, .todosRead)
        return JSONResponse.make(.ok, TodoList(todos: todos))
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let userID = try Self.requireUser(context, .todosWrite)
        let body = try await JSONBody.object(from: request, context: context)
        let title = try body.string("title")
        let completed = try body.bool("completed") ?? false
        let order = try body.integer("order")
        let validTitle = try Self.validTitle(title)
        let todo: Todo
        do {
            todo = try await todos.create(userID: userID, title: validTitle, completed: completed, order: order.map(Int64.init))
        } catch let refusal as TodoStore.CreateRefusal {
            throw Self.error(for: refusal)
        }
        return JSONResponse.make(.created, todo)
    }

    @Sendable func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let userID = try Self.requireUser(context, .todosRead)
        let id = try Self.todoID(context)
        guard let todo = try await todos.find(userID: userID, id: id) else { throw Self.notFound }
        return JSONResponse.make(.ok, todo)
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> Response {
        let userID = try Self.requireUser(context, .todosWrite)
        let id = try Self.todoID(context)
        let body = try await JSONBody.object(from: request, context: context)
        let title = try body.string("title")
        var changes = TodoChanges()
        changes.completed = try body.bool("completed")
        changes.order = try body.integer("order").map(Int64.init)
        if body.has("title") {
            changes.title = try Self.validTitle(title)
        }
        guard let todo = try await todos.update(userID: userID, id: id, changes: changes) else { throw Self.notFound }
        return JSONResponse.make(.ok, todo)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let userID = try Self.requireUser(context, .todosWrite)
        let id = try Self.todoID(context)
        guard try await todos.delete(userID: userID, id: id) else { throw Self.notFound }
        return JSONResponse.noContent()
    }

    /// Toggle all: `{"completed": true|false}`.
    @Sendable func setAllCompleted(_ request: Request, context: AppRequestContext) async throws -> Response {
        let userID = try Self.requireUser(context, .todosWrite)
        let body = try await JSONBody.object(from: request, context: context)
        guard let completed = try body.bool("completed") else {
            throw JSONError(
                .badRequest, code: "invalid_field", detail: "The field 'completed' is required: true or false.",
                extra: ["field": "completed"])
        }
        return JSONResponse.make(.ok, Count(key: "updated", count: try await todos.setAllCompleted(userID: userID, completed: completed)))
    }

    /// Clear completed: only with `?completed=true`, so a bare DELETE cannot empty the list.
    @Sendable func deleteCompleted(_ request: Request, context: AppRequestContext) async throws -> Response {
        let userID = try Self.requireUser(context, .todosWrite)
        guard try Self.completedFilter(request, allowed: ["true": true]) == true else {
            throw Self.invalidFilter("Clearing needs ?completed=true; nothing was deleted.")
        }
        return JSONResponse.make(.ok, Count(key: "deleted", count: try await todos.deleteCompleted(userID: userID)))
    }

    // MARK: Checks

    static let notFound = JSONError(.notFound, code: "not_found", detail: "No such todo.")

    /// `409`: the request is fine, the user's list has no room for it.
    static func error(for refusal: TodoStore.CreateRefusal) -> JSONError {
        switch refusal {
        case .tooManyTodos:
            JSONError(
                .conflict, code: "too_many_todos",
                detail: "You have as many todos as one account may hold; delete some to add more.")
        case .orderExhausted:
            JSONError(
                .conflict, code: "order_exhausted",
                detail: "Your largest todo order is 9007199254740991, so there is no order after it; "
                    + "send an order, or give your todos smaller ones.",
                extra: ["field": "order"])
        }
    }

    /// The user the request acts for (see `Authentication`): reads need `todos:read` of a
    /// bearer token, changes `todos:write`.
    static func requireUser(_ context: AppRequestContext, _ ability: Authentication.Ability) throws(JSONError) -> Int64 {
        try Authentication.requireUser(context, ability: ability)
    }

    /// The id in the path: decimal digits that fit a 64-bit id, else no todo has it.
    static func todoID(_ context: AppRequestContext) throws(JSONError) -> Int64 {
        guard let text = context.parameters.get("id"), !text.isEmpty, text.utf8.count <= 19,
            text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let id = Int64(text)
        else { throw notFound }
        return id
    }

    /// Trimmed at both ends, then 1–500 code points without NUL.
    static func validTitle(_ title: String?) throws(JSONError) -> String {
        let trimmed = (title ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let scalars = trimmed.unicodeScalars
        guard !scalars.isEmpty, scalars.count <= maxTitleLength, !scalars.contains("\0") else {
            throw JSONError(
                .badRequest, code: "invalid_title",
                detail: "A title is 1 to 500 characters after trimming white space, without NUL characters.",
                extra: ["field": "title"])
        }
        return trimmed
    }

    /// The `completed` query parameter: absent is `nil`; present, it must be one of `allowed`.
    static func completedFilter(_ request: Request, allowed: [String: Bool]) throws(JSONError) -> Bool? {
        let values = request.uri.queryParameters.getAll("completed")
        guard let value = values.first else { return nil }
        guard values.count == 1, let filter = allowed[String(value)] else {
            let accepted = allowed.keys.sorted().joined(separator: " or ")
            throw invalidFilter("The 'completed' filter must be \(accepted).")
        }
        return filter
    }

    static func invalidFilter(_ detail: String) -> JSONError {
        JSONError(.badRequest, code: "invalid_filter", detail: detail)
    }
}
