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
}

extension BearerAuthentication? {
    /// Whether the request authenticates by a bearer token alone (valid or not), with no
    /// session cookie: then nothing about it is ambient.
    var isBearerOnly: Bool {
        switch self {
        case .authenticated?, .invalid?: true
        case .ambiguous?, nil: false
        }
    }
}
