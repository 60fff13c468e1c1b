import CrossOriginSecurity
import HTTPTypes
import Hummingbird

/// `/api/auth/`: sign-up, log-in, log-out and the current user (account management is
/// `AccountController`'s).
///
/// Each of sign-up, log-in and log-out rotates the CSRF secret: the new session is
/// bound to the new secret, the response sets its cookie, and tokens fetched before
/// stop passing.
struct AuthController {
    let accounts: AccountService
    let csrf: CSRFProtection
    let sessionCookie: CookiePolicy

    struct PublicUser: JSONRepresentable {
        let id: Int64
        let username: String

        func write(to json: inout JSONOutput) {
            json.beginObject()
            json.key("id")
            json.integer(id)
            json.key("username")
            json.string(username)
            json.endObject()
        }
    }

    /// `{"user": {...}}` or `{"user": null}`.
    struct UserEnvelope: JSONRepresentable {
        let user: PublicUser?

        func write(to json: inout JSONOutput) {
            json.beginObject()
            json.key("user")
            json.value(user)
            json.endObject()
        }
    }

    func register(in routes: RouteTable) {
        routes.on("/api/auth/signup/", .post, readsBody: true, use: signUp)
        routes.on("/api/auth/login/", .post, readsBody: true, use: logIn)
        routes.on("/api/auth/logout/", .post, use: logOut)
        // A bad bearer token is refused (401) before a body's checks, as on every route.
        routes.on("/api/auth/me/", .get, precheck: { _, context in _ = try Authentication.currentUser(context) }, use: me)
    }

    @Sendable func signUp(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await JSONBody.object(from: request, context: context)
        let username = try body.string("username") ?? ""
        let password = try body.string("password")
        try CredentialRules.validateUsername(username)
        try CredentialRules.validatePassword(password ?? "", username: username)
        let issued = try await accounts.signUp(
            username: username, password: password ?? "", clientAddress: context.clientAddress,
            client: Self.client(request, context), replacing: context.session)
        return loggedIn(issued, status: .created)
    }

    @Sendable func logIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await JSONBody.object(from: request, context: context)
        let username = try body.string("username")
        let password = try body.string("password")
        guard let username, let password, !username.isEmpty, !password.isEmpty else {
            throw AccountService.invalidCredentials
        }
        let issued = try await accounts.logIn(
            username: username, password: password, clientAddress: context.clientAddress,
            client: Self.client(request, context), replacing: context.session)
        return loggedIn(issued, status: .ok)
    }

    @Sendable func logOut(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await accounts.logOut(sessionIDHash: context.session?.id)
        if let session = context.session { await accounts.ended(session) }
        var response = JSONResponse.noContent()
        response.setCookie(sessionCookie.expiredCookie())
        response.setCookie(csrf.rotate().cookie)
        return response
    }

    @Sendable func me(_ request: Request, context: AppRequestContext) async throws -> Response {
        // A bearer token names its user too (no ability needed); a bad one is 401, not null.
        let user = try Authentication.currentUser(context)
        var response = JSONResponse.make(.ok, UserEnvelope(user: user.map { PublicUser(id: $0.id, username: $0.username) }))
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// The client a new session is shown with in the owner's list of sessions.
    static func client(_ request: Request, _ context: AppRequestContext) -> SessionStore.SessionClient {
        SessionStore.SessionClient(userAgent: request.headers[.userAgent], address: context.clientAddress)
    }

    /// The answer to a request that issued a session: the user, the session cookie and
    /// the cookie of the session's new CSRF secret.
    func loggedIn(_ issued: SessionStore.Issued, status: HTTPResponse.Status) -> Response {
        let user = PublicUser(id: issued.session.userID, username: issued.session.username)
        var response = JSONResponse.make(status, UserEnvelope(user: user))
        response.headers[.cacheControl] = "no-store"
        response.setCookie(sessionCookie.cookie(value: issued.token))
        response.setCookie(csrf.makeCookie(secret: issued.session.csrfSecret))
        return response
    }
}
