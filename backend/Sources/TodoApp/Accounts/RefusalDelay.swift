import CrossOriginSecurity
import NIOConcurrencyHelpers

/// Holds the answer to a refused password attempt (`429 throttled`, `503 busy`) for a moment
/// before it is sent: each wait is drawn at random from half to one and a half times
/// `milliseconds`.
///
/// A refusal is cheap to decide, but a client pouring attempts in on many connections gets
/// each one answered as fast as it sends, and its next attempts arrive together: bursts that
/// hold an event loop, and every other request on it, for tens of milliseconds. Held and
/// spread out, such a client gets a few refusals a second per connection, arriving evenly, so
/// what it costs the loops stays small and steady (measured in docs/performance.md). A
/// legitimate client meets the wait only when it is refused anyway.
///
/// At most `maxWaiting` answers wait at once; past that, refusals are answered at once, so
/// the requests held (each with its body) stay bounded whatever the number of connections.
final class RefusalDelay: Sendable {
    let milliseconds: Int
    let maxWaiting: Int
    private let waiting = NIOLockedValueBox(0)

    static let defaultMaxWaiting = 4096

    init(milliseconds: Int, maxWaiting: Int = RefusalDelay.defaultMaxWaiting) {
        self.milliseconds = milliseconds
        self.maxWaiting = maxWaiting
    }

    /// Whether `error` is a refusal this delay holds.
    static func holds(_ error: any Error) -> Bool {
        guard let error = error as? JSONError else { return false }
        return error.code == "throttled" || error.code == "busy"
    }

    /// How many answers wait now.
    var waitingNow: Int { waiting.withLockedValue { $0 } }

    /// Waits before a refusal is answered; returns at once when the delay is off or
    /// `maxWaiting` answers already wait. A cancelled task stops waiting.
    func hold() async {
        guard milliseconds > 0 else { return }
        let admitted = waiting.withLockedValue { count in
            guard count < maxWaiting else { return false }
            count += 1
            return true
        }
        guard admitted else { return }
        defer { waiting.withLockedValue { $0 -= 1 } }
        let wait = Int.random(in: milliseconds / 2...milliseconds + milliseconds / 2)
        try? await Task.sleep(for: .milliseconds(wait))
    }
}
