import CrossOriginSecurity
import HTTPTypes
import Hummingbird

/// Reads `Authorization: Bearer <token>` into `context.bearer`, before the session and
/// the CSRF check: a request with a bearer token and no session cookie is exempt from
/// CSRF (see `TodoApplication`), and its session is never loaded.
///
/// Nothing is refused here: routes decide (see `Authentication`), after routing, so an
/// unknown path is still 404 and a route that needs no one still answers. A token sent
/// together with a session cookie is `ambiguous` and neither is used: the cookie may be
/// one the browser attached on its own. On `GET /api/todos/` the token is not looked up
/// here but by the route, with the list, in one statement (`DeferredToken`).
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let tokens: TokenStore
    let sessionCookie: CookiePolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Most requests (the browser's) carry no Authorization header: one look, no parsing.
        guard request.headers[.authorization] != nil else {
            return try await next(request, context)
        }
        let presented = BearerCredentials.parse(request.headers[values: .authorization])
        if presented == .absent {
            return try await next(request, context)
        }
        var context = context
        if sessionCookie.lookup(in: request) != .absent {
            context.bearer = .ambiguous
        } else if case .token(let token) = presented, Self.defersLookup(request) {
            context.bearer = .deferred(DeferredToken(token: token, store: tokens))
        } else if case .token(let token) = presented {
            do {
                context.bearer = try await tokens.authenticate(token).map(BearerAuthentication.authenticated) ?? .invalid
            } catch let error as DatabaseUnavailable where SessionMiddleware.answersWithoutSession(request.uri.path) {
                // Health and ping must keep answering (health reports the outage itself).
                context.logger.warning(
                    "bearer token not loaded: database unavailable",
                    metadata: ["error": .string(String(describing: error.underlying))])
                context.bearer = .invalid
            }
        } else {
            context.bearer = .invalid
        }
        return try await next(request, context)
    }

    /// Whether the route reads the token in its own statement (`DeferredToken`): the route
    /// whose session lookup is deferred too (`SessionMiddleware.defersLookup`), `GET /api/todos/`.
    static func defersLookup(_ request: Request) -> Bool {
        SessionMiddleware.defersLookup(request)
    }
}
