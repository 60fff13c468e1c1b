import CrossOriginSecurity

/// Sign-up, log-in and log-out, password change and account deletion: who may have a
/// session, and issuing it.
///
/// Every successful call issues a brand-new session id bound to a new CSRF secret
/// (`Issued.session.csrfSecret`, for the caller's cookie), made only once the password
/// work is done, so a refused attempt costs none of it; the session the request
/// carried, if any, is deleted, never promoted.
struct AccountService: Sendable {
    let database: Database
    let users: UserStore
    let sessions: SessionStore
    let hasher: PasswordHasher
    let throttle: LoginThrottle
    /// Holds the answers to refused attempts (`429 throttled`, `503 busy`) for a moment.
    var refusals = RefusalDelay(milliseconds: 0)
    /// Told of every session that ends here, so its live update streams end too.
    var live: LiveUpdates? = nil

    static let invalidCredentials = JSONError(
        .badRequest, code: "invalid_credentials", detail: "The username or password is incorrect.")

    static func usernameTaken(_ username: String) -> JSONError {
        JSONError(.conflict, code: "username_taken", detail: "The username '\(username)' is already taken.")
    }

    /// Creates the user and logs them in. The username and password must have passed `CredentialRules`.
    /// - Throws: `503 busy` when hashing is at capacity, `429 throttled` past the address's sign-ups.
    func signUp(
        username: String, password: String, clientAddress: String?, client: SessionStore.SessionClient,
        replacing previous: AuthenticatedSession?
    ) async throws -> SessionStore.Issued {
        let passwordHash = try await withPasswordWork(for: clientAddress) { place in
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
        let csrfSecret = CSRFToken.makeSecret()
        do {
            let issued = try await database.transaction { tx in
                if let previous {
                    try await SessionStore.delete(in: tx, idHash: previous.id)
                }
                let user = try await UserStore.insert(in: tx, username: username, passwordHash: passwordHash)
                return try await SessionStore.issue(
                    in: tx, user: user, csrfSecret: csrfSecret, lifetime: lifetime, client: client)
            }
            if let previous { await ended(previous) }
            return issued
        } catch is UsernameTaken {
            throw Self.usernameTaken(username)
        }
    }

    /// Checks the credentials under the throttle and logs the user in.
    /// - Throws: `503 busy` when verification is at capacity, `429 throttled`, `400 invalid_credentials`.
    func logIn(
        username: String, password: String, clientAddress: String?, client: SessionStore.SessionClient,
        replacing previous: AuthenticatedSession?
    ) async throws -> SessionStore.Issued {
        let user = try await withPasswordWork(for: clientAddress) { place in
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
        let csrfSecret = CSRFToken.makeSecret()
        let issued = try await database.transaction { tx in
            if let previous {
                try await SessionStore.delete(in: tx, idHash: previous.id)
            }
            return try await SessionStore.issue(
                in: tx, user: user, csrfSecret: csrfSecret, lifetime: lifetime, client: client)
        }
        if let previous { await ended(previous) }
        return issued
    }

    /// A place in the hashing queue while `body` runs (`PasswordHasher.withPlace`); a refusal,
    /// by the queue or the throttle, is held by `refusals` before it is thrown.
    private func withPasswordWork<Result: Sendable>(
        for clientAddress: String?, _ body: (HashingQueue.Place) async throws -> Result
    ) async throws -> Result {
        do {
            return try await hasher.withPlace(for: clientAddress, body)
        } catch where RefusalDelay.holds(error) {
            await refusals.hold()
            throw error
        }
    }

    /// The session has ended: its live update streams end, on every instance.
    func ended(_ session: AuthenticatedSession) async {
        await live?.sessionEnded(userID: session.userID, publicID: session.publicID)
    }

    /// Every session of the user but `except` has ended.
    func userSessionsEnded(userID: Int64, except: Int64?) async {
        await live?.userSessionsEnded(userID: userID, except: except)
    }

    /// Ends the session server-side; nothing to do when there is none.
    func logOut(sessionIDHash: String?) async throws {
        guard let sessionIDHash else { return }
        try await sessions.delete(idHash: sessionIDHash)
    }

    static let wrongPassword = JSONError(
        .badRequest, code: "invalid_credentials", detail: "The password is incorrect.")

    static let sessionEnded = JSONError(
        .unauthorized, code: "not_authenticated", detail: "This session has ended; log in again.")

    /// Django's `update_session_auth_hash`, made stricter: after checking the current
    /// password, stores the new one's hash, ends every session of the user, and issues
    /// the caller's session again under a new id and a new CSRF secret, all in one
    /// transaction. The new password must have passed `CredentialRules`.
    /// - Throws: `400 invalid_credentials` (a counted log-in failure), `429 throttled`,
    ///   `503 busy`, `401 not_authenticated` when the session ended meanwhile.
    func changePassword(
        session: AuthenticatedSession, currentPassword: String, newPassword: String, clientAddress: String?,
        client: SessionStore.SessionClient
    ) async throws -> SessionStore.Issued {
        let newHash = try await withVerifiedPassword(of: session, password: currentPassword, clientAddress: clientAddress) {
            place in
            try await hasher.hash(newPassword, in: place)
        }
        let lifetime = sessions.lifetime
        let csrfSecret = CSRFToken.makeSecret()
        let issued = try await database.transaction { tx in
            // The caller's session must still be live: one ended from another device
            // (or by a concurrent password change) cannot change the password.
            guard try await SessionStore.delete(in: tx, idHash: session.id),
                try await UserStore.updatePassword(in: tx, userID: session.userID, passwordHash: newHash)
            else { throw Self.sessionEnded }
            try await SessionStore.deleteAll(in: tx, userID: session.userID)
            let user = UserRecord(id: session.userID, username: session.username, passwordHash: newHash)
            return try await SessionStore.issue(
                in: tx, user: user, csrfSecret: csrfSecret, lifetime: lifetime, client: client)
        }
        await userSessionsEnded(userID: session.userID, except: issued.session.publicID)
        return issued
    }

    /// Deletes the user with their todos, sessions and tokens in one transaction, after
    /// checking their password; the username is free again afterwards.
    /// - Throws: `400 invalid_credentials` (a counted log-in failure), `429 throttled`,
    ///   `503 busy`, `401 not_authenticated` when the account is already gone.
    func deleteAccount(session: AuthenticatedSession, password: String, clientAddress: String?) async throws {
        try await withVerifiedPassword(of: session, password: password, clientAddress: clientAddress) { _ in }
        let deleted = try await database.transaction { tx in
            try await UserStore.delete(in: tx, userID: session.userID)
        }
        guard deleted else { throw Self.sessionEnded }
        await userSessionsEnded(userID: session.userID, except: nil)
    }

    /// Checks the session user's own password as a log-in attempt is checked: reserved
    /// under the log-in throttle first (per username and per address), a wrong password
    /// kept as a counted failure, a right one forgiving the username's failures; then runs
    /// `body` in the same place of the hashing queue, for any further bcrypt work.
    /// - Throws: `401 not_authenticated`, uncounted, when the user or the session is gone by
    ///   the time the password is checked (another tab deleted the account or changed the
    ///   password); `400 invalid_credentials`, counted, when the password is wrong.
    private func withVerifiedPassword<Result: Sendable>(
        of session: AuthenticatedSession, password: String, clientAddress: String?,
        _ body: (HashingQueue.Place) async throws -> Result
    ) async throws -> Result {
        try await withPasswordWork(for: clientAddress) { place in
            let ticket = try await throttle.reserveLogIn(username: session.username, clientAddress: clientAddress)
            let matches: Bool
            do {
                // Deleted meanwhile (another tab's deletion won): the session has ended,
                // and the password was not wrong.
                guard let user = try await users.find(id: session.userID) else { throw Self.sessionEnded }
                matches = try await hasher.verify(password, against: user.passwordHash, in: place)
            } catch {
                await throttle.release(ticket)
                throw error
            }
            guard matches else {
                // Right a moment ago, perhaps: a password change made meanwhile from another
                // tab of this session checked against the new hash, and ended this session.
                if try await !sessions.list(userID: session.userID).contains(where: { $0.publicID == session.publicID }) {
                    await throttle.release(ticket)
                    throw Self.sessionEnded
                }
                throw Self.wrongPassword
            }
            try await throttle.logInSucceeded(ticket)
            return try await body(place)
        }
    }
}
