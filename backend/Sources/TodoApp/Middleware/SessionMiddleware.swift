import CrossOriginSecurity
import HTTPTypes
import Hummingbird

/// Loads the session named by the session cookie (with its user, in one query) into
/// `context.session`, before the CSRF check so that a logged-in session's own secret
/// is the one its requests must match.
///
/// A cookie that names no live session is simply ignored: the request is anonymous,
/// and the id it carried is never adopted by a later log-in. So is a session cookie that
/// comes more than once: one copy may have been planted by a sibling subdomain or a
/// man-in-the-middle (cookie tossing), to make the victim work in the attacker's
/// account, and nothing tells the copies apart; the answer also expires host-only
/// copies at the request path's prefixes, where such a plant usually sits.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let sessions: SessionStore
    let cookie: CookiePolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // A request with a bearer token is authenticated by it alone (`BearerTokenMiddleware`).
        if context.bearer != nil {
            return try await next(request, context)
        }
        let token: String
        switch cookie.lookup(in: request) {
        case .absent:
            return try await next(request, context)
        case .duplicated:
            return try await withoutDuplicatedSession(request, context: context, next: next)
        case .value(let value):
            token = value
        }
        var context = context
        if Self.defersLookup(request) {
            let deferred = DeferredSession(
                token: token, store: sessions, userAgent: request.headers[.userAgent], address: context.clientAddress)
            context.deferredSession = deferred
            var response = try await next(request, context)
            if deferred.wasRefreshed, !Self.setsCookie(named: cookie.name, in: response) {
                response.setCookie(cookie.cookie(value: token))
            }
            return response
        }
        let loaded: SessionStore.Loaded?
        do {
            loaded = try await sessions.load(token: token) {
                SessionStore.SessionClient(userAgent: request.headers[.userAgent], address: context.clientAddress)
            }
        } catch let error as DatabaseUnavailable where Self.answersWithoutSession(request.uri.path) {
            // Health and ping must keep answering (health reports the outage itself).
            context.logger.warning(
                "session not loaded: database unavailable",
                metadata: ["error": .string(String(describing: error.underlying))])
            loaded = nil
        }
        context.session = loaded?.session
        var response = try await next(request, context)
        if let loaded, loaded.wasRefreshed, !Self.setsCookie(named: cookie.name, in: response) {
            // The server-side expiry moved; the browser's copy follows it.
            response.setCookie(cookie.cookie(value: token))
        }
        return response
    }

    private func withoutDuplicatedSession(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        context.logger.warning(
            "session cookie sent more than once: treated as no session",
            metadata: ["http.path": .string(request.uri.path)])
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // The error answer needs the expiring cookies too (a 401 is the usual one).
            response = APIErrors.response(for: error, request: request, logger: context.logger)
        }
        for expired in cookie.expiredCookies(shadowing: request.uri.path) {
            response.setCookie(expired)
        }
        return response
    }

    /// Whether the route reads the session in its own statement (`DeferredSession`):
    /// `GET /api/todos/`, the most frequent request. A safe method, so no CSRF check
    /// needs the session's secret first. Not when a body comes with it: authentication
    /// (401) is answered before a body's checks (413, 415, 400), so the session must be
    /// known before the body is read.
    static func defersLookup(_ request: Request) -> Bool {
        request.method == .get && withoutTrailingSlashes(request.uri.path) == "/api/todos"
            && !JSONBody.announcesBody(request.headers)
    }

    static func answersWithoutSession(_ path: String) -> Bool {
        let path = withoutTrailingSlashes(path)
        return path == "/api/health" || path == "/api/ping"
    }

    /// The router matches a path with or without its trailing slash; so do these checks.
    private static func withoutTrailingSlashes(_ path: String) -> Substring {
        var path = Substring(path)
        while path.hasSuffix("/") { path = path.dropLast() }
        return path
    }

    static func setsCookie(named name: String, in response: Response) -> Bool {
        response.headers[values: .setCookie].contains { $0.hasPrefix(name + "=") }
    }
}
