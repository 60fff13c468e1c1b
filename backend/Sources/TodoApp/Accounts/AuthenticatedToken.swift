/// A personal access token, as loaded for one request: whose it is and what it may do.
struct AuthenticatedToken: Sendable, Equatable {
    let id: Int64
    let userID: Int64
    let username: String
    let abilities: Set<Authentication.Ability>
}

/// What a request's `Authorization: Bearer` header came to (set by `BearerTokenMiddleware`;
/// `nil` in the context when the request has none).
enum BearerAuthentication: Sendable, Equatable {
    case authenticated(AuthenticatedToken)
    /// Malformed, unknown, revoked or expired.
    case invalid
    /// Sent together with a session cookie: neither is used.
    case ambiguous
    /// Not yet looked up: the route reads the token in its own statement
    /// (`BearerTokenMiddleware.defersLookup`), and answers for it as the cases above would.
    case deferred(DeferredToken)
}

extension BearerAuthentication? {
    /// Whether the request authenticates by a bearer token alone (valid or not), with no
    /// session cookie: then nothing about it is ambient.
    var isBearerOnly: Bool {
        switch self {
        case .authenticated?, .invalid?, .deferred?: true
        case .ambiguous?, nil: false
        }
    }
}

/// A bearer token whose lookup `BearerTokenMiddleware` leaves to the route, so that the
/// route's own statement reads the token too: `GET /api/todos/` then costs one query.
///
/// Promised: the route answers exactly as if the middleware had looked the token up (the
/// same statement conditions, the same last-use write at most every
/// `TokenStore.touchInterval`, the same 401 and 403). Only a safe method is deferred, with
/// no session cookie: nothing before the route needs to know whose the token is.
final class DeferredToken: Sendable, Equatable {
    private let token: String
    private let store: TokenStore

    init(token: String, store: TokenStore) {
        self.token = token
        self.store = store
    }

    /// What the middleware would have found.
    func load() async throws -> BearerAuthentication {
        try await store.authenticate(token).map(BearerAuthentication.authenticated) ?? .invalid
    }

    /// The token and its user's todos (those in `completed`'s state, or all) in one
    /// statement; `.invalid` (and no todos) when the token is malformed, unknown, revoked or
    /// expired, no todos when it lacks `todos:read`.
    func loadWithTodos(completed: Bool?) async throws -> (BearerAuthentication, [Todo]) {
        guard let (token, todos) = try await store.authenticateWithTodos(token, completed: completed) else {
            return (.invalid, [])
        }
        return (.authenticated(token), todos)
    }

    static func == (lhs: DeferredToken, rhs: DeferredToken) -> Bool { lhs === rhs }
}
