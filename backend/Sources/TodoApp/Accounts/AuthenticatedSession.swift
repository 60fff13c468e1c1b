/// A logged-in session, as loaded for one request: who the user is and which CSRF
/// secret the session was issued with.
public struct AuthenticatedSession: Sendable, Equatable {
    /// The SHA-256 of the cookie value: the table's key, never shown to anyone.
    public let id: String
    /// The id the session's owner sees and names it by (`/api/auth/sessions/<id>/`):
    /// random, unrelated to the cookie value.
    public let publicID: Int64
    public let userID: Int64
    public let username: String
    public let csrfSecret: String
    /// When the session expires (milliseconds since 1970), as stored once this request's
    /// refresh, if any, is written: a session is live until then unless something ends it.
    public let expiresAt: Int64

    public init(id: String, publicID: Int64, userID: Int64, username: String, csrfSecret: String, expiresAt: Int64) {
        self.id = id
        self.publicID = publicID
        self.userID = userID
        self.username = username
        self.csrfSecret = csrfSecret
        self.expiresAt = expiresAt
    }
}
