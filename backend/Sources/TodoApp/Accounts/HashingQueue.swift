import CrossOriginSecurity
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The bound on bcrypt work: at most `limit` hashes and verifications waiting or running
/// in this process, at most `perAddress` of them for one client address; a request beyond
/// either is refused with `503 busy` at once instead of joining an ever longer queue.
///
/// Work runs first come, first served on a thread pool of its own, so a flood of
/// log-ins never delays other blocking work on NIO's shared pool. The per-address share
/// keeps one client from filling the queue: someone else's log-in waits behind at most
/// `limit` computations, however hard one address floods.
final class HashingQueue: Sendable {
    let limit: Int
    let perAddress: Int
    let threads: Int
    /// What `Retry-After` says when full: seconds for a full queue to drain.
    let retryAfterSeconds: Int
    private let pool: NIOThreadPool
    private let admitted = NIOLockedValueBox(Admitted())

    private struct Admitted {
        var total = 0
        var byAddress: [String: Int] = [:]
    }

    /// - Parameter secondsPerComputation: how long one bcrypt computation takes here, to
    ///   tell refused clients when to come back.
    init(limit: Int, perAddress: Int, threads: Int, secondsPerComputation: Double) {
        self.limit = limit
        self.perAddress = min(perAddress, limit)
        self.threads = threads
        let drain = Double(limit) * secondsPerComputation / Double(threads)
        self.retryAfterSeconds = max(1, Int(drain.rounded(.up)))
        self.pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    deinit {
        pool.shutdownGracefully { _ in }
    }

    /// The default thread count: every core but one, which stays with the event loops.
    static var defaultThreads: Int { max(1, System.coreCount - 1) }

    /// Runs `work` on the pool once admitted.
    /// - Throws: `503 busy` with `Retry-After` when the queue or the address's share is full.
    func run<Result: Sendable>(
        for clientAddress: String?, _ work: @escaping @Sendable () -> Result
    ) async throws -> Result {
        let address = clientAddress ?? "unknown"
        try admit(address)
        defer { leave(address) }
        return try await pool.runIfActive(work)
    }

    private func admit(_ address: String) throws(JSONError) {
        let admittedNow = admitted.withLockedValue { admitted in
            let forAddress = admitted.byAddress[address, default: 0]
            guard admitted.total < limit, forAddress < perAddress else { return false }
            admitted.total += 1
            admitted.byAddress[address] = forAddress + 1
            return true
        }
        guard admittedNow else { throw busy() }
    }

    private func leave(_ address: String) {
        admitted.withLockedValue { admitted in
            admitted.total -= 1
            let remaining = admitted.byAddress[address, default: 1] - 1
            admitted.byAddress[address] = remaining > 0 ? remaining : nil
        }
    }

    private func busy() -> JSONError {
        var headers = HTTPFields()
        headers[.retryAfter] = String(retryAfterSeconds)
        return JSONError(
            .serviceUnavailable, code: "busy",
            detail: "The server is busy checking passwords; try again in \(retryAfterSeconds) seconds.",
            headers: headers)
    }
}
