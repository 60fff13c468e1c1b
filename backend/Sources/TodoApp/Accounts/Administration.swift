import CrossOriginSecurity
import Logging

/// What the `todolist-server` subcommands do besides serving: operator tasks.
public enum Administration {
    /// A task failed for a reason the operator can fix; `message` says which.
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Applies pending migrations; returns a line per migration applied.
    public static func migrate(settings: AppSettings, logger: Logger) async throws -> [String] {
        let database = try await Database.open(url: settings.databaseURL, poolSize: 1, logger: logger)
        do {
            let applied = try await database.migrate()
            await database.close()
            return applied.map { "applied migration \($0.version): \($0.name)" }
        } catch {
            await database.close()
            throw error
        }
    }

    /// Creates a user with the sign-up rules; returns the new user's id.
    public static func createUser(
        settings: AppSettings, username: String, password: String, logger: Logger
    ) async throws -> Int64 {
        do {
            try CredentialRules.validateUsername(username)
            try CredentialRules.validatePassword(password, username: username)
        } catch {
            throw Failure(message: error.detail)
        }
        let hasher = PasswordHasher(cost: settings.bcryptCost, queueLimit: 1, queuePerAddress: 1, threads: 1)
        let passwordHash = try await hasher.withPlace(for: nil) { try await hasher.hash(password, in: $0) }
        let database = try await Database.open(url: settings.databaseURL, poolSize: 1, logger: logger)
        do {
            try await database.migrate()
            // The command runs no pool service, so it writes through the migration
            // connection, which both engines open on demand.
            let user = try await database.migrationTransaction { tx in
                try await UserStore.insert(in: tx, username: username, passwordHash: passwordHash)
            }
            await database.close()
            return user.id
        } catch is UsernameTaken {
            await database.close()
            throw Failure(message: "the username '\(username)' is already taken")
        } catch {
            await database.close()
            throw error
        }
    }
}
