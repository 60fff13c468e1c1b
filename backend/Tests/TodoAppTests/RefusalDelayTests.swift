import CrossOriginSecurity
import Testing

@testable import TodoApp

/// What `RefusalDelay` holds, and its bound on answers waiting at once.
@Suite struct RefusalDelayTests {
    @Test func holdsThrottledAndBusyRefusalsOnly() {
        #expect(RefusalDelay.holds(JSONError(.tooManyRequests, code: "throttled", detail: "")))
        #expect(RefusalDelay.holds(JSONError(.serviceUnavailable, code: "busy", detail: "")))
        #expect(!RefusalDelay.holds(JSONError(.badRequest, code: "invalid_credentials", detail: "")))
        #expect(!RefusalDelay.holds(CancellationError()))
    }

    @Test func pastMaxWaitingARefusalIsAnsweredAtOnce() async {
        let delay = RefusalDelay(milliseconds: 60_000, maxWaiting: 1)
        let first = Task { await delay.hold() }
        // The first holds its place until cancelled; a second meets the bound and returns.
        while delay.waitingNow == 0 { await Task.yield() }
        await delay.hold()
        #expect(delay.waitingNow == 1)
        first.cancel()
        await first.value
        #expect(delay.waitingNow == 0)
    }

    @Test func offMeansAtOnce() async {
        let delay = RefusalDelay(milliseconds: 0)
        await delay.hold()
        #expect(delay.waitingNow == 0)
    }
}
