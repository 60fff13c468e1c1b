import Testing

@testable import TodoApp

#if canImport(Glibc)
import Glibc
#endif

/// `HASHING_NICE`: the computing threads run at the configured scheduling priority, and
/// the event loops' threads (everything else) keep theirs.
@Suite struct HashingQueueTests {
    @Test func computationsRunAtTheConfiguredNiceValue() async throws {
        #if os(Linux)
        let queue = HashingQueue(limit: 4, perAddress: 4, threads: 1, nice: 7, secondsPerComputation: 0.01)
        let seen = try await queue.withPlace(for: "192.0.2.1") { place in
            try await place.run { Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)) }
        }
        #expect(seen == 7)
        let callers = Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        #expect(callers == 0)
        #endif
    }

    @Test func theDefaultLeavesThePriorityAlone() async throws {
        #if os(Linux)
        let queue = HashingQueue(limit: 4, perAddress: 4, threads: 1, secondsPerComputation: 0.01)
        let seen = try await queue.withPlace(for: "192.0.2.1") { place in
            try await place.run { Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)) }
        }
        #expect(seen == 0)
        #endif
    }
}
