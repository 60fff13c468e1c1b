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
/// up, the address holding the fewest computations (running and waiting) goes next, the
/// longest in line among equals. So a client's log-in waits only for the computations
/// running now, however many one address has queued; the per-address share keeps one
/// address from taking every place.
///
/// The computing threads run at idle priority (Linux's `SCHED_IDLE`): the kernel gives them
/// only what no other thread wants, and counts a core that runs nothing else as idle, so an
/// event loop that wakes up takes that core at once instead of queueing behind another
/// loop on the other one. A log-in flood's bcrypt work then costs the rest of the server
/// almost nothing (docs/performance.md, "bcrypt at idle priority"). So that a machine busy
/// with requests cannot starve log-ins, a computation that idle priority has not finished
/// within `rescueAfter` is run again by a thread of normal priority (`nice`); the first
/// result is the answer, and a copy not yet started is skipped.
final class HashingQueue: Sendable {
    let limit: Int
    let perAddress: Int
    let threads: Int
    /// The scheduling priority (nice, 0–19) of the thread that takes over computations idle
    /// priority has not finished in time.
    let nice: Int32
    /// How long a computation may take at idle priority before the normal-priority thread
    /// runs it too.
    let rescueAfter: Duration
    /// What `Retry-After` says when full: seconds for a full queue to drain.
    let retryAfterSeconds: Int
    /// The computing threads, at idle priority.
    private let pool: NIOThreadPool
    /// One thread at `nice`, for computations idle priority has not finished in time.
    private let rescuePool: NIOThreadPool
    private let admitted = NIOLockedValueBox(Admitted())
    private let turns = NIOLockedValueBox(Turns())

    private struct Admitted {
        var total = 0
        var byAddress: [String: Int] = [:]
    }

    /// Who computes next: at most `threads` running, the rest waiting by address.
    private struct Turns {
        var runningByAddress: [String: Int] = [:]
        var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
        /// Addresses with computations waiting, longest waiting first; an address served
        /// goes to the back if it has more.
        var line: [String] = []

        /// How many computations run now (at most `threads` entries to add up).
        var running: Int { runningByAddress.values.reduce(0, +) }

        /// How many computations `address` holds, running and waiting.
        func held(by address: String) -> Int {
            runningByAddress[address, default: 0] + (waiting[address]?.count ?? 0)
        }

        mutating func start(_ address: String) {
            runningByAddress[address, default: 0] += 1
        }

        mutating func end(_ address: String) {
            let remaining = runningByAddress[address, default: 1] - 1
            runningByAddress[address] = remaining > 0 ? remaining : nil
        }

        /// Takes the next waiting computation out of the line: the first address in line
        /// among those holding the fewest.
        mutating func takeNext() -> (address: String, continuation: CheckedContinuation<Void, Never>)? {
            guard let index = line.indices.min(by: { held(by: line[$0]) < held(by: line[$1]) }) else { return nil }
            let address = line.remove(at: index)
            var queued = waiting[address, default: []]
            let continuation = queued.removeFirst()
            if queued.isEmpty {
                waiting[address] = nil
            } else {
                waiting[address] = queued
                line.append(address)
            }
            return (address, continuation)
        }
    }

    /// - Parameters:
    ///   - secondsPerComputation: how long one bcrypt computation takes here (on an idle
    ///     core), to tell refused clients when to come back.
    ///   - rescueAfter: by default `rescueFactor` computations' time.
    init(
        limit: Int, perAddress: Int, threads: Int, nice: Int = 0, secondsPerComputation: Double,
        rescueAfter: Duration? = nil
    ) {
        self.limit = limit
        self.perAddress = min(perAddress, limit)
        self.threads = threads
        self.nice = Int32(nice)
        self.rescueAfter = rescueAfter ?? .seconds(secondsPerComputation * Self.rescueFactor)
        let drain = Double(limit) * secondsPerComputation / Double(threads)
        self.retryAfterSeconds = max(1, Int(drain.rounded(.up)))
        self.pool = NIOThreadPool(numberOfThreads: threads)
        self.rescuePool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        rescuePool.start()
    }

    deinit {
        pool.shutdownGracefully { _ in }
        rescuePool.shutdownGracefully { _ in }
    }

    /// The default thread count: every core where the threads run at idle priority (they
    /// take no core another thread wants); elsewhere every core but one, which stays with
    /// the event loops.
    static var defaultThreads: Int {
        #if os(Linux)
        System.coreCount
        #else
        max(1, System.coreCount - 1)
        #endif
    }

    /// The default nice value of the thread that takes over: 0, the event loops' own, since
    /// it runs only when the machine is too busy for idle priority to get anywhere.
    static let defaultNice = 0

    /// How many computations' time one may take at idle priority before it is taken over.
    /// Under the flood scenario's load, idle priority gets about 60 % of each core, so a
    /// computation takes about 1.7 times its time on an idle core.
    static let rescueFactor = 3.0

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

        /// Waits for this address's turn, then runs `work` at idle priority, or at normal
        /// priority if idle priority has not finished it within `rescueAfter`.
        /// - Throws: when the queue's threads have stopped.
        func run<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async throws -> Result {
            await queue.takeTurn(address)
            defer { queue.endTurn(address) }
            return try await queue.compute(work)
        }
    }

    /// Runs `work` on the idle-priority pool and, once `rescueAfter` has passed without a
    /// result, on the rescue thread too; answers with the first result. Whichever copy has
    /// not started when the other finishes is skipped; one that has started runs to its end
    /// (a bcrypt computation cannot be interrupted) and its result is dropped.
    private func compute<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async throws -> Result {
        let nice = self.nice
        return try await withCheckedThrowingContinuation { continuation in
            let answer = FirstAnswer(continuation)
            pool.submit { state in
                guard case .active = state else { return answer.fail(NIOThreadPoolError.ThreadPoolInactive()) }
                guard answer.isPending else { return }
                HashingQueue.enterIdlePriority()
                answer.give(work())
            }
            let rescue = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(rescueAfter)) {
                [rescuePool] in
                rescuePool.submit { state in
                    guard case .active = state, answer.isPending else { return }
                    HashingQueue.lowerCurrentThreadPriority(to: nice)
                    answer.give(work())
                }
            }
            answer.whenGiven { rescue.cancel() }
        }
    }

    /// The answer to one computation: the first result given, or failure; later ones are dropped.
    private final class FirstAnswer<Result: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<Result, any Error>?
            var onAnswer: (@Sendable () -> Void)?
        }
        private let state: NIOLockedValueBox<State>

        init(_ continuation: CheckedContinuation<Result, any Error>) {
            state = NIOLockedValueBox(State(continuation: continuation))
        }

        var isPending: Bool { state.withLockedValue { $0.continuation != nil } }

        func give(_ result: Result) { settle(.success(result)) }

        func fail(_ error: any Error) { settle(.failure(error)) }

        /// Runs `body` once the answer is given (at once if it already is).
        func whenGiven(_ body: @escaping @Sendable () -> Void) {
            let now = state.withLockedValue { state in
                guard state.continuation != nil else { return true }
                state.onAnswer = body
                return false
            }
            if now { body() }
        }

        private func settle(_ result: Swift.Result<Result, any Error>) {
            let taken = state.withLockedValue { state in
                defer { (state.continuation, state.onAnswer) = (nil, nil) }
                return (state.continuation, state.onAnswer)
            }
            taken.0?.resume(with: result)
            if taken.0 != nil { taken.1?() }
        }
    }

    /// Puts the calling thread at idle priority (`SCHED_IDLE`, which any thread may enter):
    /// on Linux the policy is per thread, and pid 0 names the calling thread; elsewhere this
    /// does nothing. Called before each computation: a system call, against a computation
    /// of tens to hundreds of milliseconds.
    private static func enterIdlePriority() {
        #if os(Linux)
        var parameters = sched_param(sched_priority: 0)
        _ = sched_setscheduler(0, schedIdle, &parameters)
        #endif
    }

    /// `SCHED_IDLE` from <sched.h>, which Swift's Glibc module does not export.
    static let schedIdle: Int32 = 5

    /// Sets the calling thread's nice value: on Linux nice is per thread, and `who` 0 names
    /// the calling thread (see setpriority(2), "Bugs"); elsewhere this does nothing.
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
                    turns.start(address)
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

    /// Hands `address`'s thread to the next waiting computation (`Turns.takeNext`).
    private func endTurn(_ address: String) {
        let next = turns.withLockedValue { turns -> CheckedContinuation<Void, Never>? in
            turns.end(address)
            guard let next = turns.takeNext() else { return nil }
            turns.start(next.address)
            return next.continuation
        }
        next?.resume()
    }

    /// How many computations wait for a thread now.
    var waitingNow: Int { turns.withLockedValue { $0.waiting.values.reduce(0) { $0 + $1.count } } }

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
            detail: "The server is busy checking passwords; try again in \(secondsPhrase(retryAfterSeconds)).",
            headers: headers)
    }
}
