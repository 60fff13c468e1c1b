import CrossOriginSecurity
import HTTPTypes
import Hummingbird

/// Who a request acts for, and the contract's answers when it cannot: the one place
/// that decides between the browser session and a bearer token.
///
/// - No credentials: `401 not_authenticated`.
/// - A bearer token and a session cookie together: `400 ambiguous_credentials` (neither is
///   guessed at: the cookie may have been sent by a browser without its user's intent).
/// - A bearer token that is malformed, unknown, revoked or expired: `401 invalid_token`
///   with `WWW-Authenticate: Bearer`.
/// - A valid token without the ability a route needs: `403 insufficient_scope`.
/// - A valid token on a route that manages the account: `403 session_required`.
enum Authentication {
    /// What a personal access token may do.
    enum Ability: String, Sendable, CaseIterable, Comparable {
        case todosRead = "todos:read"
        case todosWrite = "todos:write"

        static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// Whether a bearer token is a credential on `path`: the todo routes take one, and the
    /// account routes answer it (`403 session_required`). Elsewhere (log-in, sign-up, log-out,
    /// ping, an unknown path) an `Authorization` header means nothing, and so lifts no check.
    /// Compared by segments, empty ones skipped, as the router matches paths (there
    /// `/api//todos/` is `/api/todos/`).
    static func takesBearerTokens(path: String) -> Bool {
        let segments = path.split(separator: "/")
        return bearerRoutes.contains { segments.starts(with: $0) }
    }

    private static let bearerRoutes: [[Substring]] = [
        ["api", "todos"], ["api", "auth", "me"], ["api", "auth", "sessions"], ["api", "auth", "password"],
        ["api", "auth", "tokens"],
    ]

    /// The browser session, on a route only it may use (the account's, the live stream):
    /// `purpose` completes the refusals' sentences ("Log in to …").
    static func requireSession(
        _ context: AppRequestContext, to purpose: String = "manage your account"
    ) throws(JSONError) -> AuthenticatedSession {
        if let bearer = context.bearer {
            switch bearer {
            case .ambiguous: throw ambiguousCredentials
            case .invalid: throw invalidToken
            case .authenticated: throw sessionRequired(to: purpose)
            case .deferred: throw unresolved(context)
            }
        }
        guard let session = context.session else {
            throw JSONError(.unauthorized, code: "not_authenticated", detail: "Log in to \(purpose).")
        }
        return session
    }

    @Sendable static func sessionPrecheck(_: Request, _ context: AppRequestContext) throws {
        _ = try requireSession(context)
    }

    /// The user a todo route acts for: the session's, or the token's when it has `ability`.
    static func requireUser(_ context: AppRequestContext, ability: Ability) throws(JSONError) -> Int64 {
        if let bearer = context.bearer {
            switch bearer {
            case .ambiguous: throw ambiguousCredentials
            case .invalid: throw invalidToken
            case .authenticated(let token):
                guard token.abilities.contains(ability) else { throw insufficientScope(ability) }
                return token.userID
            case .deferred: throw unresolved(context)
            }
        }
        guard let session = context.session else { throw todosNeedLogIn }
        return session.userID
    }

    static let todosNeedLogIn = JSONError(
        .unauthorized, code: "not_authenticated", detail: "Log in to see and change todos.")

    /// The user `GET /api/auth/me/` names: the session's or any valid token's; `nil` when
    /// the request has no credentials.
    static func currentUser(_ context: AppRequestContext) throws(JSONError) -> (id: Int64, username: String)? {
        if let bearer = context.bearer {
            switch bearer {
            case .ambiguous: throw ambiguousCredentials
            case .invalid: throw invalidToken
            case .authenticated(let token): return (token.userID, token.username)
            case .deferred: throw unresolved(context)
            }
        }
        return context.session.map { ($0.userID, $0.username) }
    }

    /// A decimal id in the path within 1...`max`, or `nil` (which names nothing: 404).
    static func pathID(_ context: AppRequestContext, max: Int64) -> Int64? {
        guard let text = context.parameters.get("id"), !text.isEmpty, text.utf8.count <= 19,
            text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let id = Int64(text), id >= 1, id <= max
        else { return nil }
        return id
    }

    /// A token whose lookup was deferred (`DeferredToken`) reached a check that cannot load
    /// it: a route registered without resolving it first. A bug, answered as one.
    private static func unresolved(_ context: AppRequestContext) -> JSONError {
        context.logger.error("bearer token lookup deferred to a route that does not resolve it")
        return JSONError(
            .internalServerError, code: "internal_error", detail: "The server failed unexpectedly; the failure was logged.")
    }

    static let ambiguousCredentials = JSONError(
        .badRequest, code: "ambiguous_credentials",
        detail: "Send either a bearer token or the session cookie, not both.")

    static let invalidToken: JSONError = {
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = #"Bearer error="invalid_token""#
        return JSONError(
            .unauthorized, code: "invalid_token",
            detail: "The bearer token is malformed, unknown, revoked or expired.", headers: headers)
    }()

    /// A valid token where only the browser session may `purpose`.
    static func sessionRequired(to purpose: String) -> JSONError {
        JSONError(
            .forbidden, code: "session_required",
            detail: "Only the browser session can \(purpose); a bearer token cannot.")
    }

    static func insufficientScope(_ ability: Ability) -> JSONError {
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = #"Bearer error="insufficient_scope", scope="\#(ability.rawValue)""#
        return JSONError(
            .forbidden, code: "insufficient_scope", detail: "This token lacks the ability '\(ability.rawValue)'.",
            headers: headers)
    }
}
