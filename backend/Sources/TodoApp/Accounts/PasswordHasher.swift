import Foundation
import HummingbirdBcrypt

/// bcrypt through the `HashingQueue`: a hash costs tens to hundreds of milliseconds of
/// CPU, which must not stall an event loop serving other requests, and how many wait for
/// it is bounded.
struct PasswordHasher: Sendable {
    let cost: UInt8
    let queue: HashingQueue
    /// A hash of a random password at the same cost, verified against when the username
    /// is unknown so that answer takes as long as a wrong password.
    let decoyHash: String

    /// Computes the decoy hash, which also measures what one computation costs here.
    init(
        cost: UInt8, queueLimit: Int, queuePerAddress: Int, threads: Int = HashingQueue.defaultThreads,
        nice: Int = HashingQueue.defaultNice
    ) {
        self.cost = cost
        let started = ContinuousClock.now
        self.decoyHash = Bcrypt.hash(SessionStore.makeToken(), cost: cost)
        let elapsed = ContinuousClock.now - started
        self.queue = HashingQueue(
            limit: queueLimit, perAddress: queuePerAddress, threads: threads, nice: nice,
            secondsPerComputation: elapsed.seconds)
    }

    /// Holds a place in the hashing queue while `body` runs (see `HashingQueue.withPlace`).
    /// - Throws: `503 busy` when the queue is full, before `body` runs.
    func withPlace<Result: Sendable>(
        for clientAddress: String?, _ body: (HashingQueue.Place) async throws -> Result
    ) async throws -> Result {
        try await queue.withPlace(for: clientAddress, body)
    }

    func hash(_ password: String, in place: HashingQueue.Place) async throws -> String {
        let cost = self.cost
        return try await place.run {
            Bcrypt.hash(password, cost: cost)
        }
    }

    /// Whether `password` matches `hash`; with no hash (unknown user), checks the decoy and answers false.
    func verify(_ password: String, against hash: String?, in place: HashingQueue.Place) async throws -> Bool {
        let target = hash ?? decoyHash
        let verifiable = CredentialRules.isVerifiable(password)
        // An unverifiable password (over 72 bytes, NUL) still costs one verification,
        // of a stand-in, so its answer takes as long as any other.
        let candidate = verifiable ? password : "unverifiable"
        let matches = try await place.run {
            Bcrypt.verify(candidate, hash: target)
        }
        return matches && verifiable && hash != nil
    }
}
