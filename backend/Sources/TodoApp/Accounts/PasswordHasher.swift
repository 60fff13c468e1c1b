import HummingbirdBcrypt
import NIOPosix

/// bcrypt on NIO's blocking-work thread pool: a hash costs tens to hundreds of
/// milliseconds of CPU, which must not stall an event loop serving other requests.
struct PasswordHasher: Sendable {
    let cost: UInt8
    /// A hash of a random password at the same cost, verified against when the username
    /// is unknown so that answer takes as long as a wrong password.
    let decoyHash: String

    init(cost: UInt8) {
        self.cost = cost
        self.decoyHash = Bcrypt.hash(SessionStore.makeToken(), cost: cost)
    }

    func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive {
            Bcrypt.hash(password, cost: cost)
        }
    }

    /// Whether `password` matches `hash`; with no hash (unknown user), checks the decoy and answers false.
    func verify(_ password: String, against hash: String?) async throws -> Bool {
        let target = hash ?? decoyHash
        let verifiable = CredentialRules.isVerifiable(password)
        // An unverifiable password (over 72 bytes, NUL) still costs one verification,
        // of a stand-in, so its answer takes as long as any other.
        let candidate = verifiable ? password : "unverifiable"
        let matches = try await NIOThreadPool.singleton.runIfActive {
            Bcrypt.verify(candidate, hash: target)
        }
        return matches && verifiable && hash != nil
    }
}
