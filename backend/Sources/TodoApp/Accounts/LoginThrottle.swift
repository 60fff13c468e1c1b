import CrossOriginSecurity
import HTTPTypes

/// Limits log-in failures per username and per client address, and sign-ups per
/// client address, each over a sliding window.
///
/// Every attempt is reserved before its password is hashed or verified, so each limit
/// bounds how many are ever verified, however many arrive at once. A failed log-in keeps
/// its reservation (it is the failure); a successful one forgives the username's failures
/// and gives the address's reservation back; an attempt that failed before its answer
/// (a database failure, a cancelled request) gives back both. `503 busy` is decided before
/// any reservation (see `HashingQueue`). Unknown usernames are counted like
/// known ones, so the answers reveal nothing about which accounts exist; attempts refused
/// while throttled are not counted, so a throttled subject is free again one window after
/// its last counted attempt. A sign-up counts whatever its outcome (a taken name included):
/// creating accounts in bulk is what the limit stops.
struct LoginThrottle: Sendable {
    let store: LoginThrottleStore
    let failuresPerUsername: Int
    let failuresPerAddress: Int
    /// Seconds.
    let window: Int
    let signupsPerAddress: Int
    /// Seconds.
    let signupWindow: Int

    /// Long usernames are cut for the key: nothing longer can be a real account.
    static let maxKeyLength = 200

    /// Counted attempts, to settle once the outcome is known.
    struct Ticket: Sendable {
        let rows: [LoginThrottleStore.Subject.Scope: Int64]
        let usernameKey: String?
    }

    /// - Throws: `429 throttled` with `Retry-After` when the username or the address is at its limit.
    func reserveLogIn(username: String, clientAddress: String?) async throws -> Ticket {
        let usernameKey = Self.key(username)
        let subjects: [LoginThrottleStore.Subject] = [
            .init(scope: .username, key: usernameKey, limit: failuresPerUsername),
            .init(scope: .address, key: clientAddress ?? "unknown", limit: failuresPerAddress),
        ]
        return Ticket(
            rows: try await reserve(subjects, window: window, what: "failed log-ins"), usernameKey: usernameKey)
    }

    /// - Throws: `429 throttled` with `Retry-After` when the address is at its limit.
    func reserveSignUp(clientAddress: String?) async throws -> Ticket {
        let subject = LoginThrottleStore.Subject(
            scope: .signup, key: clientAddress ?? "unknown", limit: signupsPerAddress)
        return Ticket(rows: try await reserve([subject], window: signupWindow, what: "sign-ups"), usernameKey: nil)
    }

    /// A successful log-in forgives the username's failures (not the address's) and does
    /// not count against the address.
    func logInSucceeded(_ ticket: Ticket) async throws {
        if let usernameKey = ticket.usernameKey {
            try await store.clear(.username, key: usernameKey)
        }
        if let address = ticket.rows[.address] {
            try await store.release([address])
        }
    }

    /// The attempt never reached bcrypt: it does not count. Best effort: when the
    /// database cannot take it back, the attempt stays counted, erring on the safe side.
    func release(_ ticket: Ticket) async {
        try? await store.release(Array(ticket.rows.values))
    }

    /// ASCII lower-casing, as `UserStore` keys accounts. A NUL, which no username has and
    /// PostgreSQL text cannot hold, is kept as `?` (no username has that either).
    private static func key(_ username: String) -> String {
        let key = UserStore.key(for: username).prefix(maxKeyLength)
        guard key.utf8.contains(0) else { return String(key) }
        return String(decoding: key.utf8.map { $0 == 0 ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }

    private func reserve(
        _ subjects: [LoginThrottleStore.Subject], window: Int, what: String
    ) async throws -> [LoginThrottleStore.Subject.Scope: Int64] {
        switch try await store.reserve(subjects, window: window) {
        case .reserved(let rows):
            return rows
        case .throttled(let seconds):
            var headers = HTTPFields()
            headers[.retryAfter] = String(seconds)
            throw JSONError(
                .tooManyRequests, code: "throttled",
                detail: "Too many \(what); try again in \(secondsPhrase(seconds)).", headers: headers)
        }
    }
}
