import CrossOriginSecurity
import HTTPTypes

/// Limits failed log-ins per username and per client address over a sliding window.
///
/// Unknown usernames are counted like known ones, so the answers reveal nothing about
/// which accounts exist; attempts refused while throttled are not counted, so a
/// throttled subject is free again one window after its last counted failure.
struct LoginThrottle: Sendable {
    let store: LoginThrottleStore
    let failuresPerUsername: Int
    let failuresPerAddress: Int
    /// Seconds.
    let window: Int

    /// Long usernames are cut for the key: nothing longer can be a real account.
    static let maxKeyLength = 200

    func subjects(username: String, clientAddress: String?) -> [LoginThrottleStore.Subject] {
        [
            .init(scope: .username, key: String(UserStore.key(for: username).prefix(Self.maxKeyLength)), limit: failuresPerUsername),
            .init(scope: .address, key: clientAddress ?? "unknown", limit: failuresPerAddress),
        ]
    }

    /// - Throws: `429 throttled` with `Retry-After` when any subject is at its limit.
    func check(_ subjects: [LoginThrottleStore.Subject]) async throws {
        guard let seconds = try await store.retryAfter(subjects, window: window) else { return }
        var headers = HTTPFields()
        headers[.retryAfter] = String(seconds)
        throw JSONError(
            .tooManyRequests, code: "throttled",
            detail: "Too many failed log-ins; try again in \(seconds) seconds.", headers: headers)
    }

    func recordFailure(_ subjects: [LoginThrottleStore.Subject]) async throws {
        try await store.recordFailure(subjects)
    }

    /// A successful log-in forgives the username's failures (not the address's).
    func clearUsername(_ username: String) async throws {
        try await store.clear(.username, key: String(UserStore.key(for: username).prefix(Self.maxKeyLength)))
    }
}
