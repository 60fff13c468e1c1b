import NIOConcurrencyHelpers

/// A session cookie whose lookup `SessionMiddleware` leaves to the route, so that the
/// route's own statement reads the session too: `GET /api/todos/` then costs one query.
///
/// Promised: the route answers exactly as if the middleware had loaded the session (the
/// same statement conditions, the same refresh, the same 401 for a cookie that names no
/// live session), and `wasRefreshed` tells the middleware afterwards whether the cookie's
/// lifetime must follow a pushed-out expiry. Only safe methods are deferred: the CSRF
/// check of an unsafe one needs the session's secret before the route runs.
final class DeferredSession: Sendable {
    let token: String
    private let store: SessionStore
    private let userAgent: String?
    private let address: String?
    private let refreshed = NIOLockedValueBox(false)

    init(token: String, store: SessionStore, userAgent: String?, address: String?) {
        self.token = token
        self.store = store
        self.userAgent = userAgent
        self.address = address
    }

    /// Whether a load pushed the session's expiry out.
    var wasRefreshed: Bool { refreshed.withLockedValue { $0 } }

    /// The session alone; `nil` when the cookie names no live session.
    func load() async throws -> AuthenticatedSession? {
        guard let loaded = try await store.load(token: token, seenFrom: client) else { return nil }
        record(loaded)
        return loaded.session
    }

    /// The session and its user's todos (those in `completed`'s state, or all) in one
    /// statement; `nil` when the cookie names no live session.
    func loadWithTodos(completed: Bool?) async throws -> (session: AuthenticatedSession, todos: [Todo])? {
        guard let (loaded, todos) = try await store.loadWithTodos(token: token, completed: completed, seenFrom: client)
        else { return nil }
        record(loaded)
        return (loaded.session, todos)
    }

    private func client() -> SessionStore.SessionClient {
        SessionStore.SessionClient(userAgent: userAgent, address: address)
    }

    private func record(_ loaded: SessionStore.Loaded) {
        if loaded.wasRefreshed { refreshed.withLockedValue { $0 = true } }
    }
}
