import CrossOriginSecurity
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The bound on bcrypt work: at most `limit` hashes and verifications waiting or running
/// in this process, at most `perAddress` of them for one client address; a request beyond
/// either is refused with `503 busy` at once instead of joining an ever longer queue.
///
/// A request takes its place before anything else that the computation would cost
/// (the throttle's database writes included), so refusing it costs nothing. Admitted
/// computations run on a thread pool of their own (so a flood never delays other blocking
/// work on NIO's shared pool), taking turns across client addresses: when a thread frees
/// up, the next address in line goes, not the next computation. So a client's log-in
/// waits for the computations running now and one turn per other waiting address,
/// however many one address has queued; the per-address share keeps one address from
/// taking every place.
final class HashingQueue: Sendable {
    let limit: Int
    let perAddress: Int
    let threads: Int
    /// The scheduling priority (nice, 0–19) of the computing threads: above 0, a core they
    /// share with event loops goes to the event loops first, so bcrypt work delays other
    /// requests less, and takes longer itself when the machine is busy.
    let nice: Int32
    /// What `Retry-After` says when full: seconds for a full queue to drain.
    let retryAfterSeconds: Int
    private let pool: NIOThreadPool
    private let admitted = NIOLockedValueBox(Admitted())
    private let turns = NIOLockedValueBox(Turns())

    private struct Admitted {
        var total = 0
        var byAddress: [String: Int] = [:]
    }

    /// Who computes next: at most `threads` running, the rest waiting by address.
    private struct Turns {
        var running = 0
        var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
        /// Addresses with computations waiting, in the order they are served next.
        var line: [String] = []
    }

    /// - Parameter secondsPerComputation: how long one bcrypt computation takes here, to
    ///   tell refused clients when to come back.
    init(limit: Int, perAddress: Int, threads: Int, nice: Int = 0, secondsPerComputation: Double) {
        self.limit = limit
        self.perAddress = min(perAddress, limit)
        self.threads = threads
        self.nice = Int32(nice)
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

    /// The default nice value of the computing threads: 0, the event loops' own. Measured
    /// under a log-in flood (docs/performance.md), 5 cut the list's p99 about threefold but
    /// more than doubled a legitimate log-in's wait, past the 2 s the flood scenario allows.
    static let defaultNice = 0

    /// Holds a place in the queue while `body` runs; the computations `body` starts
    /// through the place run on the pool, one after the other.
    /// - Throws: `503 busy` with `Retry-After` at once, before `body` runs, when the queue
    ///   or the address's share is full.
    func withPlace<Result: Sendable>(
        for clientAddress: String?, _ body: (Place) async throws -> Result
    ) async throws -> Result {
        let address = clientAddress ?? "unknown"
        try admit(address)
        defer { leave(address) }
        return try await body(Place(queue: self, address: address))
    }

    /// A place in the queue, held for the duration of `withPlace`.
    struct Place: Sendable {
        fileprivate let queue: HashingQueue
        fileprivate let address: String

        /// Waits for this address's turn, then runs `work` on the pool.
        func run<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async throws -> Result {
            await queue.takeTurn(address)
            defer { queue.endTurn() }
            let nice = queue.nice
            return try await queue.pool.runIfActive {
                HashingQueue.lowerCurrentThreadPriority(to: nice)
                return work()
            }
        }
    }

    /// Sets the calling thread's nice value: on Linux nice is per thread, and `who` 0 names
    /// the calling thread (see setpriority(2), "Bugs"); elsewhere this does nothing. Only the pool's own threads call it, before each computation: a
    /// system call, against a computation of tens to hundreds of milliseconds.
    private static func lowerCurrentThreadPriority(to nice: Int32) {
        #if os(Linux)
        guard nice > 0 else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
        #endif
    }

    private func takeTurn(_ address: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = turns.withLockedValue { turns in
                if turns.running < threads {
                    turns.running += 1
                    return true
                }
                if turns.waiting[address] == nil {
                    turns.line.append(address)
                }
                turns.waiting[address, default: []].append(continuation)
                return false
            }
            if now {
                continuation.resume()
            }
        }
    }

    /// Hands the thread to the first waiting address, which then goes to the back of the line.
    private func endTurn() {
        let next = turns.withLockedValue { turns -> CheckedContinuation<Void, Never>? in
            guard !turns.line.isEmpty else {
                turns.running -= 1
                return nil
            }
            let address = turns.line.removeFirst()
            var waiting = turns.waiting[address, default: []]
            let continuation = waiting.removeFirst()
            if waiting.isEmpty {
                turns.waiting[address] = nil
            } else {
                turns.waiting[address] = waiting
                turns.line.append(address)
            }
            return continuation
        }
        next?.resume()
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
