import NIOConcurrencyHelpers
import Testing

@testable import TodoApp

#if canImport(Glibc)
import Glibc
#endif

/// The computing threads' priority: bcrypt runs at idle priority, and a computation idle
/// priority cannot finish in time (a machine busy with requests) is taken over by a thread
/// at `HASHING_NICE`; the event loops' threads (everything else) keep their priority.
@Suite struct HashingQueueTests {
    @Test func computationsRunAtIdlePriority() async throws {
        #if os(Linux)
        let queue = HashingQueue(limit: 4, perAddress: 4, threads: 1, secondsPerComputation: 0.01)
        let policy = try await queue.withPlace(for: "192.0.2.1") { place in
            try await place.run { sched_getscheduler(0) }
        }
        #expect(policy == HashingQueue.schedIdle)
        #expect(sched_getscheduler(0) == SCHED_OTHER)
        #endif
    }

    @Test func aComputationIdlePriorityCannotRunIsTakenOverAtTheConfiguredNiceValue() async throws {
        #if os(Linux)
        let queue = HashingQueue(
            limit: 4, perAddress: 4, threads: 1, nice: 7, secondsPerComputation: 0.01, rescueAfter: .milliseconds(100))
        // The first copy stalls on the idle-priority thread, as it would on a machine whose
        // cores are all taken by requests, until the test ends.
        let copies = NIOLockedValueBox(0)
        let stall = ConditionLock(value: false)
        let seen = try await queue.withPlace(for: "192.0.2.1") { place in
            try await place.run { () -> (copy: Int, policy: Int32, nice: Int) in
                let copy = copies.withLockedValue { copies in
                    copies += 1
                    return copies
                }
                if copy == 1 {
                    stall.lock(whenValue: true)
                    stall.unlock()
                }
                return (copy, sched_getscheduler(0), Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)))
            }
        }
        stall.lock()
        stall.unlock(withValue: true)
        #expect(seen.copy == 2)
        #expect(seen.policy == SCHED_OTHER)
        #expect(seen.nice == 7)
        #expect(Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)) == 0)
        #endif
    }

    @Test func aComputationFinishedAtIdlePriorityIsNotRunAgain() async throws {
        let queue = HashingQueue(
            limit: 4, perAddress: 4, threads: 1, secondsPerComputation: 0.01, rescueAfter: .milliseconds(50))
        let copies = NIOLockedValueBox(0)
        let answer = try await queue.withPlace(for: "192.0.2.1") { place in
            try await place.run {
                copies.withLockedValue { copies in
                    copies += 1
                    return copies
                }
            }
        }
        try await Task.sleep(for: .milliseconds(300))  // past rescueAfter: the takeover was called off
        #expect(answer == 1)
        #expect(copies.withLockedValue { $0 } == 1)
    }
}

/// Turns: when a thread frees up, the address holding the fewest computations goes next.
@Suite struct HashingQueueTurnTests {
    @Test func anAddressWithOneComputationGoesBeforeOneWithMore() async throws {
        let queue = HashingQueue(
            limit: 8, perAddress: 4, threads: 1, secondsPerComputation: 0.01, rescueAfter: .seconds(600))
        let order = NIOLockedValueBox<[String]>([])
        let hold = ConditionLock(value: false)
        let holding = NIOLockedValueBox(false)
        @Sendable func compute(_ name: String, address: String, holds: Bool = false) async throws {
            try await queue.withPlace(for: address) { place in
                try await place.run {
                    if holds {
                        holding.withLockedValue { $0 = true }
                        hold.lock(whenValue: true)
                        hold.unlock()
                    }
                    order.withLockedValue { $0.append(name) }
                }
            }
        }
        // A flooding address takes the one thread and queues two more; then another address comes.
        let first = Task { try await compute("flood 1", address: "203.0.113.66", holds: true) }
        while !holding.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        let more = [
            Task { try await compute("flood 2", address: "203.0.113.66") },
            Task { try await compute("flood 3", address: "203.0.113.66") },
        ]
        while queue.waitingNow < 2 { try await Task.sleep(for: .milliseconds(5)) }
        let user = Task { try await compute("user", address: "198.51.100.7") }
        while queue.waitingNow < 3 { try await Task.sleep(for: .milliseconds(5)) }
        hold.lock()
        hold.unlock(withValue: true)
        try await first.value
        try await user.value
        for task in more { try await task.value }
        #expect(order.withLockedValue { $0 } == ["flood 1", "user", "flood 2", "flood 3"])
    }
}
