import CrossOriginSecurity
import HTTPTypes
import Hummingbird

/// Account management for the logged-in browser session: its sessions, its password,
/// the account itself.
///
/// Every route here needs the browser session (see `Authentication.requireSession`):
/// what it guards (other sessions, the password, the account) is worth more than the todos.
struct AccountController {
    let accounts: AccountService
    let sessions: SessionStore
    let csrf: CSRFProtection
    let sessionCookie: CookiePolicy
    let auth: AuthController

    func register(in routes: RouteTable) {
        routes.on("/api/auth/sessions/", .get, precheck: Authentication.sessionPrecheck, use: listSessions)
        routes.on("/api/auth/sessions/", .delete, precheck: Authentication.sessionPrecheck, use: endOtherSessions)
        routes.on("/api/auth/sessions/:id/", .delete, precheck: Self.sessionPathAndSession, use: endSession)
        routes.on("/api/auth/password/", .post, precheck: Authentication.sessionPrecheck, readsBody: true, use: changePassword)
        routes.on("/api/auth/me/", .delete, precheck: Authentication.sessionPrecheck, readsBody: true, use: deleteAccount)
    }

    /// A path that can never name a session is 404 for everyone (routing comes before
    /// authentication); then the session check.
    @Sendable static func sessionPathAndSession(_: Request, _ context: AppRequestContext) throws {
        _ = try sessionID(context)
        _ = try Authentication.requireSession(context)
    }

    static let sessionNotFound = JSONError(.notFound, code: "not_found", detail: "No such session.")

    /// The public id in the path: a decimal integer in 1...2^53-1, else no session has it.
    static func sessionID(_ context: AppRequestContext) throws(JSONError) -> Int64 {
        guard let id = Authentication.pathID(context, max: SessionStore.maxPublicID) else { throw sessionNotFound }
        return id
    }

    // MARK: Sessions

    struct SessionList: JSONRepresentable {
        let sessions: [SessionStore.Summary]
        let current: Int64

        func write(to json: inout JSONOutput) {
            json.beginObject()
            json.key("sessions")
            json.beginArray()
            for session in sessions {
                json.beginObject()
                json.key("id")
                json.integer(session.publicID)
                json.key("createdAt")
                json.timestamp(milliseconds: session.createdAt)
                json.key("lastSeenAt")
                json.timestamp(milliseconds: session.lastSeenAt)
                json.key("client")
                json.string(session.client)
                json.key("address")
                if session.address.isEmpty { json.null() } else { json.string(session.address) }
                json.key("current")
                json.bool(session.publicID == current)
                json.endObject()
            }
            json.endArray()
            json.endObject()
        }
    }

    @Sendable func listSessions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try Authentication.requireSession(context)
        let list = try await sessions.list(userID: session.userID)
        return JSONResponse.make(.ok, SessionList(sessions: list, current: session.publicID))
    }

    /// Ends one session; ending the caller's own is a log-out (cookie cleared, CSRF secret rotated).
    @Sendable func endSession(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try Authentication.requireSession(context)
        let id = try Self.sessionID(context)
        guard try await sessions.end(userID: session.userID, publicID: id) else { throw Self.sessionNotFound }
        await accounts.live?.sessionEnded(userID: session.userID, publicID: id)
        var response = JSONResponse.noContent()
        if id == session.publicID {
            response.setCookie(sessionCookie.expiredCookie())
            response.setCookie(csrf.rotate().cookie)
        }
        return response
    }

    /// "Log out everywhere else": every session of the user but the caller's.
    @Sendable func endOtherSessions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try Authentication.requireSession(context)
        let ended = try await sessions.endAll(userID: session.userID, keeping: session.id)
        await accounts.userSessionsEnded(userID: session.userID, except: session.publicID)
        return JSONResponse.make(.ok, TodoController.Count(key: "ended", count: ended))
    }

    // MARK: Password and account

    /// `{"currentPassword", "newPassword"}`: the new one follows the sign-up rules; on
    /// success every other session ends and this one continues under a new id and a new
    /// CSRF secret, both cookies set in the answer.
    @Sendable func changePassword(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try Authentication.requireSession(context)
        let body = try await JSONBody.object(from: request, context: context)
        let currentPassword = try body.string("currentPassword")
        let newPassword = try body.string("newPassword")
        // The new password's rules are checked first (docs/openapi.yaml): a request that
        // cannot succeed costs no bcrypt and counts as no failed attempt.
        try CredentialRules.validatePassword(newPassword ?? "", username: session.username)
        guard let currentPassword, !currentPassword.isEmpty else { throw AccountService.wrongPassword }
        let issued = try await accounts.changePassword(
            session: session, currentPassword: currentPassword, newPassword: newPassword ?? "",
            clientAddress: context.clientAddress, client: AuthController.client(request, context))
        return auth.loggedIn(issued, status: .ok)
    }

    /// `{"password"}`: deletes the user, their todos, sessions and tokens; clears the cookies.
    @Sendable func deleteAccount(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try Authentication.requireSession(context)
        let body = try await JSONBody.object(from: request, context: context)
        guard let password = try body.string("password"), !password.isEmpty else { throw AccountService.wrongPassword }
        try await accounts.deleteAccount(session: session, password: password, clientAddress: context.clientAddress)
        var response = JSONResponse.noContent()
        response.setCookie(sessionCookie.expiredCookie())
        response.setCookie(csrf.rotate().cookie)
        return response
    }
}
