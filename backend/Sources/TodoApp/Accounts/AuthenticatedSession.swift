/// A logged-in session, as loaded for one request: who the user is and which CSRF
/// secret the session was issued with.
public struct AuthenticatedSession: Sendable, Equatable {
    public let id: String
    public let userID: Int64
    public let username: String
    public let csrfSecret: String

    public init(id: String, userID: Int64, username: String, csrfSecret: String) {
        self.id = id
        self.userID = userID
        self.username = username
        self.csrfSecret = csrfSecret
    }
}
