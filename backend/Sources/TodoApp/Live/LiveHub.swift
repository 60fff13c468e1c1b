import NIOConcurrencyHelpers

/// This process's open event streams, and the fan-out of messages to them.
///
/// Every stream is a `LiveStreamSink` (`EventStreamSink`: its connection, written on its
/// event loop); the hub hands it messages and never waits on a client. A sink whose client
/// stopped reading ends itself: its client reconnects with `Last-Event-ID` and is replayed
/// to, or told to resync.
///
/// Events reach the hub once per process: on SQLite from the request that committed the
/// change, on PostgreSQL from the one listening connection (`PostgresListener`). They may
/// arrive out of order on SQLite (two requests commit, then publish in the other order),
/// so the hub delivers each user's events in id order: ids have no gaps, an event ahead
/// of the next expected one waits, and one that is still waiting at the next tick (the
/// event before it never came) turns into a `resync`.
///
/// Heartbeats are spread: each stream belongs to one of `heartbeatSlots` slots (by its id,
/// scattered so that streams opened together land in slots spread over the whole
/// interval), and the ticker beats one slot at a time, cycling through them once per
/// heartbeat interval. Beating every stream at once
/// made thousands of writes in one burst, which stalled other requests on the same event
/// loops (docs/performance.md, "Idle streams and the list's latency").
final class LiveHub: Sendable {
    struct Limits: Sendable {
        /// Streams one user may hold; opening one more closes their oldest.
        var perUser: Int
        /// Streams this process holds at most; past it, opening is refused (503).
        var total: Int
    }

    /// The session (or expiry) a stream belongs to, so ending the session ends it.
    struct Owner: Sendable {
        let userID: Int64
        let sessionPublicID: Int64
        /// Milliseconds since 1970 after which the session is no longer valid, as loaded
        /// when the stream opened; a session refreshed since is still valid, and its
        /// client's reconnect opens a new stream.
        let expiresAt: Int64
    }

    /// Opening refused: the process holds `Limits.total` streams.
    struct Full: Error {}

    private struct Stream {
        let id: UInt64
        let owner: Owner
        let sink: any LiveStreamSink

        /// Ends the stream with a final `closed` message saying why, so its client does not
        /// reconnect by itself; the message is lost only if the stream is stuck.
        func end(_ reason: StreamEnd) {
            sink.end(reason)
        }
    }

    private struct UserStreams {
        /// Oldest first.
        var streams: [Stream] = []
        /// The id the next event must have to be delivered now; `nil` until the first one.
        var nextEventID: Int64?
        /// Events ahead of `nextEventID`, with whether a tick has already seen them wait.
        var waiting: [Int64: (event: LiveEvent, seenByTick: Bool)] = [:]
    }

    private struct State {
        var nextStreamID: UInt64 = 1
        var users: [Int64: UserStreams] = [:]
        var count = 0
        /// Every open stream by heartbeat slot, then by id; empty slots are left out.
        var heartbeatSlots: [Int: [UInt64: Stream]] = [:]
    }

    let limits: Limits
    /// How many slots the heartbeat interval is divided into (see the type's comment).
    let heartbeatSlots: Int
    private let state = NIOLockedValueBox(State())

    init(limits: Limits, heartbeatSlots: Int = 1) {
        self.limits = limits
        self.heartbeatSlots = max(1, heartbeatSlots)
    }

    /// The fractional part of `id` × the golden ratio, scaled to the slots (Fibonacci
    /// hashing): consecutive ids fall far apart, and any run of them covers the slots evenly.
    private func slot(of id: UInt64) -> Int {
        let fraction = (id &* 0x9E37_79B9_7F4A_7C15) >> 32
        return Int((fraction &* UInt64(heartbeatSlots)) >> 32)
    }

    var count: Int { state.withLockedValue { $0.count } }

    /// Registers `sink` as a stream of `owner`, or throws `Full`. From then on the hub hands
    /// it the user's messages until it ends: after a final `.closed` when the session ended
    /// or expired or the stream was replaced as the user's oldest; without one when it was
    /// stuck, its client went, or the server shuts down (its client reconnects).
    /// `sink.end(nil)` closes it; it leaves the hub however it ends.
    func open(_ owner: Owner, sink: any LiveStreamSink) throws(Full) {
        let userID = owner.userID
        let registered: (id: UInt64, evicted: [Stream])? = state.withLockedValue { state in
            guard state.count < limits.total else { return nil }
            let id = state.nextStreamID
            state.nextStreamID += 1
            var user = state.users[userID] ?? UserStreams()
            var evicted: [Stream] = []
            while user.streams.count >= limits.perUser {
                evicted.append(user.streams.removeFirst())
            }
            let stream = Stream(id: id, owner: owner, sink: sink)
            user.streams.append(stream)
            state.users[userID] = user
            state.count += 1 - evicted.count
            state.heartbeatSlots[slot(of: id), default: [:]][id] = stream
            return (id, evicted)
        }
        guard let registered else { throw Full() }
        // Outside the lock: a sink that has already ended runs the callback at once.
        sink.whenEnded { [weak self] in self?.remove(id: registered.id, userID: userID) }
        for stream in registered.evicted { stream.end(.tooManyStreams) }
    }

    /// Called when the stream has ended, however it ended (by the hub, or its client gone).
    private func remove(id: UInt64, userID: Int64) {
        state.withLockedValue { state in
            let slot = slot(of: id)
            if state.heartbeatSlots[slot]?.removeValue(forKey: id) != nil, state.heartbeatSlots[slot]?.isEmpty == true {
                state.heartbeatSlots[slot] = nil
            }
            guard var user = state.users[userID], let index = user.streams.firstIndex(where: { $0.id == id }) else {
                return
            }
            user.streams.remove(at: index)
            state.count -= 1
            state.users[userID] = user.streams.isEmpty ? nil : user
        }
    }

    // MARK: Delivery

    /// Delivers a committed event to the user's streams, in id order.
    func deliver(userID: Int64, _ event: LiveEvent) {
        state.withLockedValue { state in
            guard var user = state.users[userID] else { return }
            defer { state.users[userID] = user }
            guard let next = user.nextEventID else {
                user.nextEventID = event.id + 1
                send([.event(event)], to: user.streams)
                return
            }
            if event.id < next {
                // Overtaken by a later event (only possible before the user's first
                // delivered event fixed the order): the client cannot tell which state
                // is newer, so it re-reads.
                send([.resync(reason: "out_of_order")], to: user.streams)
                return
            }
            user.waiting[event.id] = (event, false)
            var messages: [LiveMessage] = []
            while let ready = user.waiting.removeValue(forKey: user.nextEventID!) {
                messages.append(.event(ready.event))
                user.nextEventID! += 1
            }
            send(messages, to: user.streams)
        }
    }

    func hasStreams(userID: Int64) -> Bool {
        state.withLockedValue { $0.users[userID] != nil }
    }

    /// Tells the user's streams to resync (an event of theirs could not be read).
    func resync(userID: Int64, reason: String) {
        state.withLockedValue { state in
            guard var user = state.users[userID] else { return }
            user.nextEventID = nil
            user.waiting = [:]
            state.users[userID] = user
            send([.resync(reason: reason)], to: user.streams)
        }
    }

    /// Tells every stream of every user to resync (their events may have been lost).
    func resyncAll(reason: String) {
        state.withLockedValue { state in
            for (userID, var user) in state.users {
                user.nextEventID = nil
                user.waiting = [:]
                state.users[userID] = user
                send([.resync(reason: reason)], to: user.streams)
            }
        }
    }

    /// Housekeeping, once a second: closes streams whose session has expired and turns
    /// events still waiting for an earlier one since the last tick into a `resync`.
    func tick(now: Int64) {
        var expired: [Stream] = []
        state.withLockedValue { state in
            for (userID, user) in state.users {
                // Most ticks change nothing: a user's entry is rewritten (its stream list
                // copied) only when one of its streams expired or an event waits.
                guard user.streams.contains(where: { $0.owner.expiresAt <= now }) || !user.waiting.isEmpty else {
                    continue
                }
                var user = user
                let before = user.streams.count
                user.streams.removeAll { stream in
                    guard stream.owner.expiresAt <= now else { return false }
                    expired.append(stream)
                    return true
                }
                state.count -= before - user.streams.count
                if !user.waiting.isEmpty {
                    if user.waiting.values.contains(where: \.seenByTick) {
                        user.waiting = [:]
                        user.nextEventID = nil
                        send([.resync(reason: "missed_event")], to: user.streams)
                    } else {
                        for key in user.waiting.keys { user.waiting[key]!.seenByTick = true }
                    }
                }
                state.users[userID] = user.streams.isEmpty ? nil : user
            }
        }
        for stream in expired { stream.end(.sessionExpired) }
    }

    /// Sends the heartbeat to the streams of one slot (`0..<heartbeatSlots`).
    func beat(slot: Int) {
        // Outside the lock: a heartbeat's place among events does not matter.
        let targets = state.withLockedValue { state in state.heartbeatSlots[slot].map { Array($0.values) } ?? [] }
        for stream in targets { stream.sink.deliver([.heartbeat]) }
    }

    // MARK: Ending streams

    /// Ends the streams of one session.
    func endSession(userID: Int64, publicID: Int64) {
        end(userID: userID) { $0.sessionPublicID == publicID }
    }

    /// Ends the streams of every session of the user but `except`.
    func endSessions(userID: Int64, except: Int64?) {
        end(userID: userID) { $0.sessionPublicID != except }
    }

    /// The sessions that have streams here: (user, session public id) pairs.
    func openSessions() -> [(userID: Int64, publicID: Int64)] {
        state.withLockedValue { state in
            var seen = Set<Int64>()
            var sessions: [(userID: Int64, publicID: Int64)] = []
            for (userID, user) in state.users {
                for stream in user.streams where seen.insert(stream.owner.sessionPublicID).inserted {
                    sessions.append((userID, stream.owner.sessionPublicID))
                }
            }
            return sessions
        }
    }

    /// Ends every stream (the server is shutting down), with no reason: clients reconnect,
    /// to another instance or to this one once it is back.
    func endAll() {
        let all: [Stream] = state.withLockedValue { state in
            defer {
                state.users = [:]
                state.count = 0
                state.heartbeatSlots = [:]
            }
            return state.users.values.flatMap(\.streams)
        }
        for stream in all { stream.sink.end(nil) }
    }

    /// Ends the user's streams whose owner `matches`, saying their session ended.
    private func end(userID: Int64, where matches: (Owner) -> Bool) {
        let ended: [Stream] = state.withLockedValue { state in
            guard var user = state.users[userID] else { return [] }
            var ended: [Stream] = []
            user.streams.removeAll { stream in
                guard matches(stream.owner) else { return false }
                ended.append(stream)
                return true
            }
            state.count -= ended.count
            state.users[userID] = user.streams.isEmpty ? nil : user
            return ended
        }
        for stream in ended { stream.end(.sessionEnded) }
    }

    /// Hands the messages to the streams; called under the lock, so every stream queues
    /// them in the order the hub decided (see `LiveStreamSink.deliver`).
    private func send(_ messages: [LiveMessage], to streams: [Stream]) {
        guard !messages.isEmpty else { return }
        for stream in streams { stream.sink.deliver(messages) }
    }
}
