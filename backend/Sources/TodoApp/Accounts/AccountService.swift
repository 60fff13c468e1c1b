import CrossOriginSecurity

/// Sign-up, log-in and log-out: who may have a session, and issuing it.
///
/// Every successful call issues a brand-new session id and binds it to the CSRF
/// secret the caller has just rotated; the session the request carried, if any, is
/// deleted, never promoted.
struct AccountService: Sendable {
    let database: Database
    let users: UserStore
    let sessions: SessionStore
    let hasher: PasswordHasher
    let throttle: LoginThrottle

    static let invalidCredentials = JSONError(
        .badRequest, code: "invalid_credentials", detail: "The username or password is incorrect.")

    static func usernameTaken(_ username: String) -> JSONError {
        JSONError(.conflict, code: "username_taken", detail: "The username '\(username)' is already taken.")
    }

    /// Creates the user and logs them in. The username and password must have passed `CredentialRules`.
    /// - Throws: `503 busy` when hashing is at capacity, `429 throttled` past the address's sign-ups.
    func signUp(
        username: String, password: String, clientAddress: String?, csrfSecret: String,
        replacing previous: AuthenticatedSession?
    ) async throws -> SessionStore.Issued {
        let passwordHash = try await hasher.withPlace(for: clientAddress) { place in
            let ticket = try await throttle.reserveSignUp(clientAddress: clientAddress)
            // Checked before hashing so a taken name costs no bcrypt; the UNIQUE
            // constraint still decides a race between two sign-ups.
            if try await users.exists(username: username) {
                throw Self.usernameTaken(username)
            }
            do {
                return try await hasher.hash(password, in: place)
            } catch {
                await throttle.release(ticket)
                throw error
            }
        }
        let lifetime = sessions.lifetime
        do {
            return try await database.transaction { sql in
                if let previous {
                    try await SessionStore.delete(on: sql, idHash: previous.id)
                }
                let user = try await UserStore.insert(on: sql, username: username, passwordHash: passwordHash)
                return try await SessionStore.issue(on: sql, user: user, csrfSecret: csrfSecret, lifetime: lifetime)
            }
        } catch is UsernameTaken {
            throw Self.usernameTaken(username)
        }
    }

    /// Checks the credentials under the throttle and logs the user in.
    /// - Throws: `503 busy` when verification is at capacity, `429 throttled`, `400 invalid_credentials`.
    func logIn(
        username: String, password: String, clientAddress: String?, csrfSecret: String,
        replacing previous: AuthenticatedSession?
    ) async throws -> SessionStore.Issued {
        let user = try await hasher.withPlace(for: clientAddress) { place in
            let ticket = try await throttle.reserveLogIn(username: username, clientAddress: clientAddress)
            let user: UserRecord?
            let matches: Bool
            do {
                user = try await users.find(username: username)
                matches = try await hasher.verify(password, against: user?.passwordHash, in: place)
            } catch {
                await throttle.release(ticket)
                throw error
            }
            // A failure keeps its reservation: it is the counted failure.
            guard matches, let user else { throw Self.invalidCredentials }
            try await throttle.logInSucceeded(ticket)
            return user
        }
        let lifetime = sessions.lifetime
        return try await database.transaction { sql in
            if let previous {
                try await SessionStore.delete(on: sql, idHash: previous.id)
            }
            return try await SessionStore.issue(on: sql, user: user, csrfSecret: csrfSecret, lifetime: lifetime)
        }
    }

    /// Ends the session server-side; nothing to do when there is none.
    func logOut(sessionIDHash: String?) async throws {
        guard let sessionIDHash else { return }
        try await sessions.delete(idHash: sessionIDHash)
    }
}
