import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing
@testable import TodoApp

/// The pure pieces of live updates: the SSE framing, the notification payloads, and the
/// hub's ordering, limits and endings (the stream itself is tested over HTTP in test_events.py).
@Suite struct LiveUpdatesTests {
    static func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

    @Test func eventsAreFramedOnOneDataLine() {
        let todo = Todo(id: 7, title: "a\nb\r\u{2028}\"", completed: false, order: 1, createdAt: 0, updatedAt: 0)
        let event = LiveEvent(id: 42, kind: .todoUpdated, data: todo.jsonText)
        let framed = Self.text(ServerSentEvents.event(event))
        #expect(framed.hasPrefix("id: 42\nevent: todo.updated\ndata: {\"id\":7,\"title\":\"a\\nb\\r"))
        #expect(framed.hasSuffix("}\n\n"))
        // Exactly one line break per field and the blank line: none from the data.
        #expect(framed.filter { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }.count == 4)
        #expect(Self.text(ServerSentEvents.preamble(retryMilliseconds: 2000, lastEventID: 5)) == "retry: 2000\nid: 5\n\n")
        #expect(Self.text(ServerSentEvents.resync(id: 9, reason: "too_old")) == "id: 9\nevent: resync\ndata: {\"reason\":\"too_old\"}\n\n")
        #expect(Self.text(ServerSentEvents.heartbeat) == ":\n\n")
        #expect(
            Self.text(ServerSentEvents.closed(id: 9, reason: .tooManyStreams))
                == "id: 9\nevent: closed\ndata: {\"reason\":\"too_many_streams\"}\n\n")
    }

    @Test func bulkChangesNameTheirIds() {
        #expect(BulkChange(ids: [1, 2]).jsonText == "{\"ids\":[1,2]}")
        #expect(
            BulkChange(ids: [3], completed: true, updatedAt: 0).jsonText
                == "{\"ids\":[3],\"completed\":true,\"updatedAt\":\"1970-01-01T00:00:00.000Z\"}")
        #expect(DeletedTodo(id: 4).jsonText == "{\"id\":4}")
    }

    @Test func lastEventIDIsANonNegativeNumberOrUnknown() {
        #expect(ServerSentEvents.lastEventID(nil) == .absent)
        #expect(ServerSentEvents.lastEventID("12") == .id(12))
        #expect(ServerSentEvents.lastEventID(" 0 ") == .id(0))
        for bad in ["", "-1", "1.5", "abc", "99999999999999999999", "1e3"] {
            #expect(ServerSentEvents.lastEventID(bad) == .unknown, "\(bad)")
        }
    }

    @Test func notificationsRoundTripAndLargeDataIsLeftOut() {
        let event = LiveEvent(id: 3, kind: .todoCreated, data: "{\"id\":1,\"title\":\"a b c\"}")
        let cases: [LiveNotification] = [
            .event(userID: 5, event), .eventWithoutData(userID: 5, id: 4, kind: .todosCleared),
            .sessionEnded(userID: 5, publicID: 77), .userSessionsEnded(userID: 5, except: 8),
            .userSessionsEnded(userID: 5, except: nil),
        ]
        for notification in cases {
            #expect(LiveNotification(payload: notification.payload) == notification)
        }
        #expect(LiveNotification(payload: "x 1 2") == nil)
        #expect(LiveNotification(payload: "e 1 2 todo.unknown {}") == nil)
        #expect(LiveNotification(payload: "") == nil)

        let small = LiveNotification.eventPayload(userID: 5, kind: .todoCreated, data: event.data)
        #expect(small.prefix + "3" + small.suffix == LiveNotification.event(userID: 5, event).payload)
        let ids = BulkChange(ids: Array(1...3000)).jsonText
        let large = LiveNotification.eventPayload(userID: 5, kind: .todosCleared, data: ids)
        #expect(large.suffix == " todos.cleared")
        #expect(LiveNotification(payload: large.prefix + "9" + large.suffix) == .eventWithoutData(userID: 5, id: 9, kind: .todosCleared))
        // The largest single-todo event (500 code points, each escaped to six bytes) still fits.
        let title = String(repeating: "\u{1}", count: 500)
        let worst = Todo(id: .max, title: title, completed: true, order: .max, createdAt: 0, updatedAt: 0).jsonText
        #expect(LiveNotification.eventPayload(userID: .max, kind: .todoUpdated, data: worst).suffix.hasSuffix(worst))
    }

    static func hub(perUser: Int = 3, total: Int = 10) -> LiveHub {
        LiveHub(limits: .init(perUser: perUser, total: total))
    }

    static func owner(_ userID: Int64, session: Int64 = 1, expiresAt: Int64 = .max) -> LiveHub.Owner {
        .init(userID: userID, sessionPublicID: session, expiresAt: expiresAt)
    }

    static func event(_ id: Int64) -> LiveEvent { LiveEvent(id: id, kind: .todoDeleted, data: "{\"id\":\(id)}") }

    /// A stream that records what the hub hands it.
    final class RecordingSink: LiveStreamSink, @unchecked Sendable {
        private let lock = NIOLock()
        private var received: [LiveMessage] = []
        private var ended = false
        private var callbacks: [@Sendable () -> Void] = []

        var messages: [LiveMessage] { lock.withLock { received } }
        var isEnded: Bool { lock.withLock { ended } }

        func deliver(_ messages: [LiveMessage]) {
            lock.withLock { if !ended { received += messages } }
        }

        func end(_ reason: StreamEnd?) {
            let callbacks: [@Sendable () -> Void] = lock.withLock {
                guard !ended else { return [] }
                ended = true
                if let reason { received.append(.closed(reason)) }
                defer { self.callbacks = [] }
                return self.callbacks
            }
            for callback in callbacks { callback() }
        }

        func whenEnded(_ callback: @escaping @Sendable () -> Void) {
            let now = lock.withLock {
                if ended { return true }
                callbacks.append(callback)
                return false
            }
            if now { callback() }
        }
    }

    static func open(_ hub: LiveHub, _ owner: LiveHub.Owner) throws -> RecordingSink {
        let sink = RecordingSink()
        try hub.open(owner, sink: sink)
        return sink
    }

    @Test func eventsAreDeliveredInIdOrderWhateverOrderTheyArrive() throws {
        let hub = Self.hub()
        let stream = try Self.open(hub, Self.owner(1))
        hub.deliver(userID: 1, Self.event(5))
        hub.deliver(userID: 1, Self.event(7))
        hub.deliver(userID: 1, Self.event(6))
        hub.deliver(userID: 2, Self.event(1))
        #expect(stream.messages == [.event(Self.event(5)), .event(Self.event(6)), .event(Self.event(7))])
    }

    @Test func anEventThatNeverComesTurnsIntoAResync() throws {
        let hub = Self.hub()
        let stream = try Self.open(hub, Self.owner(1))
        hub.deliver(userID: 1, Self.event(1))
        hub.deliver(userID: 1, Self.event(3))
        hub.tick(now: 0)
        hub.tick(now: 0)
        hub.beat(slot: 0)
        #expect(stream.messages == [.event(Self.event(1)), .resync(reason: "missed_event"), .heartbeat])
    }

    @Test func theOldestStreamIsClosedPastThePerUserLimitAndTheCapRefuses() throws {
        let hub = Self.hub(perUser: 2, total: 3)
        let first = try Self.open(hub, Self.owner(1))
        let second = try Self.open(hub, Self.owner(1))
        _ = try Self.open(hub, Self.owner(1))
        // Told why, so its client does not reconnect and close the next oldest in turn.
        #expect(first.messages == [.closed(.tooManyStreams)])
        #expect(first.isEnded)
        #expect(hub.count == 2)
        _ = try Self.open(hub, Self.owner(2))
        #expect(throws: LiveHub.Full.self) { try Self.open(hub, Self.owner(3)) }
        second.end(nil)
        #expect(hub.count == 2)
    }

    @Test func endingSessionsAndExpiryCloseOnlyTheirStreams() throws {
        let hub = Self.hub(perUser: 5)
        let laptop = try Self.open(hub, Self.owner(1, session: 10))
        let phone = try Self.open(hub, Self.owner(1, session: 11))
        let tablet = try Self.open(hub, Self.owner(1, session: 12, expiresAt: 1000))
        let other = try Self.open(hub, Self.owner(2, session: 10))
        hub.endSession(userID: 1, publicID: 10)
        #expect(laptop.messages == [.closed(.sessionEnded)])
        hub.tick(now: 1000)
        #expect(tablet.messages == [.closed(.sessionExpired)])
        hub.endSessions(userID: 1, except: 11)
        hub.deliver(userID: 1, Self.event(1))
        hub.deliver(userID: 2, Self.event(1))
        #expect(phone.messages == [.event(Self.event(1))])
        #expect(other.messages == [.event(Self.event(1))])
        hub.endSessions(userID: 1, except: nil)
        #expect(phone.messages == [.event(Self.event(1)), .closed(.sessionEnded)])
        #expect(hub.count == 1)
    }

    @Test func eachBeatReachesOneSlotOfStreamsAndEverySlotIsSomeStreams() throws {
        let hub = LiveHub(limits: .init(perUser: 6, total: 6), heartbeatSlots: 3)
        // Opened together, as after a restart: they land in different slots.
        let streams = try (0..<6).map { _ in try Self.open(hub, Self.owner(1)) }
        hub.beat(slot: 0)
        hub.beat(slot: 1)
        hub.beat(slot: 2)
        hub.beat(slot: 0)
        hub.endAll()
        // Each stream is in exactly one slot; each slot holds two of the six.
        #expect(streams.map(\.messages.count).sorted() == [1, 1, 1, 1, 2, 2])
    }

    @Test func shutdownEndsEveryStreamWithoutAReasonSoClientsReconnect() throws {
        let hub = Self.hub()
        let stream = try Self.open(hub, Self.owner(1))
        hub.endAll()
        #expect(stream.messages.isEmpty)
        #expect(stream.isEnded)
        #expect(hub.count == 0)
    }

    @Test func aStreamThatEndsByItselfLeavesTheHub() throws {
        let hub = Self.hub()
        let stream = try Self.open(hub, Self.owner(1))
        stream.end(nil)  // as when its client goes
        #expect(hub.count == 0)
        #expect(!hub.hasStreams(userID: 1))
    }
}

/// `EventStreamSink` on an embedded channel: what reaches the connection, in which order.
@Suite struct EventStreamSinkTests {
    static func event(_ id: Int64) -> LiveEvent { LiveUpdatesTests.event(id) }

    static func connectedChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8000)).wait()
        return channel
    }

    /// The body bytes written so far, and whether the response was ended.
    static func written(_ channel: EmbeddedChannel) throws -> (text: String, ended: Bool) {
        var text = ""
        var ended = false
        while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
            switch part {
            case .body(let buffer): text += String(buffer: buffer)
            case .end: ended = true
            case .head: break
            }
        }
        return (text, ended)
    }

    @Test func heldMessagesFollowTheOpeningWithoutTheEventsItCarried() throws {
        let channel = try Self.connectedChannel()
        let sink = EventStreamSink(channel: channel, logger: Logger(label: "test"), requestID: nil)
        sink.deliver([.event(Self.event(4)), .event(Self.event(5))])
        sink.deliver([.heartbeat])
        channel.embeddedEventLoop.run()
        #expect(try Self.written(channel).text == "")
        sink.start(lastSent: 4, ending: .response)
        sink.deliver([.event(Self.event(6))])
        channel.embeddedEventLoop.run()
        let written = try Self.written(channel)
        #expect(written.text == String(buffer: ServerSentEvents.event(Self.event(5))) + ":\n\n"
            + String(buffer: ServerSentEvents.event(Self.event(6))))
        #expect(!written.ended)
    }

    /// Each delivery waits for a turn of the loop, after every earlier one: a delivery that
    /// ran at once on the loop's own thread overtook one queued from another thread, and
    /// the stream dropped the earlier event as already sent.
    @Test func deliveriesAreWrittenInTheOrderTheyWereMadeNeverInline() throws {
        let channel = try Self.connectedChannel()
        let sink = EventStreamSink(channel: channel, logger: Logger(label: "test"), requestID: nil)
        sink.start(lastSent: 0, ending: .response)
        sink.deliver([.event(Self.event(1))])
        sink.deliver([.event(Self.event(2)), .event(Self.event(3))])
        #expect(try Self.written(channel).text == "")
        channel.embeddedEventLoop.run()
        #expect(try Self.written(channel).text == [1, 2, 3].map { String(buffer: ServerSentEvents.event(Self.event($0))) }.joined())
    }

    @Test func anEndWhileHeldSaysWhyAfterTheOpening() throws {
        let channel = try Self.connectedChannel()
        let sink = EventStreamSink(channel: channel, logger: Logger(label: "test"), requestID: nil)
        sink.end(.tooManyStreams)
        sink.start(lastSent: 9, ending: .connection)
        let written = try Self.written(channel)
        #expect(written.text == String(buffer: ServerSentEvents.closed(id: 9, reason: .tooManyStreams)))
        // Its own connection: the response ends and the connection closes.
        #expect(written.ended)
        #expect(!channel.isActive)
    }

    @Test func aClientThatStopsReadingIsLetGoWithoutAClosedEvent() throws {
        let channel = try Self.connectedChannel()
        let sink = EventStreamSink(channel: channel, logger: Logger(label: "test"), requestID: nil)
        let ended = NIOLockedValueBox(false)
        sink.whenEnded { ended.withLockedValue { $0 = true } }
        sink.start(lastSent: 0, ending: .response)
        sink.deliver([.heartbeat])
        channel.embeddedEventLoop.run()
        channel.isWritable = false
        sink.deliver([.event(Self.event(1))])
        channel.embeddedEventLoop.run()
        #expect(ended.withLockedValue { $0 })
        channel.isWritable = true
        sink.end(.sessionEnded)
        let written = try Self.written(channel)
        #expect(written.text == ":\n\n")
        // Hummingbird's response: it ends the response, not the sink.
        #expect(!written.ended)
        #expect(channel.isActive)
    }

    @Test func theChannelClosingEndsTheStream() throws {
        let channel = try Self.connectedChannel()
        let sink = EventStreamSink(channel: channel, logger: Logger(label: "test"), requestID: nil)
        sink.start(lastSent: 0, ending: .response)
        let ended = NIOLockedValueBox(false)
        sink.whenEnded { ended.withLockedValue { $0 = true } }
        #expect(!ended.withLockedValue { $0 })
        try channel.close().wait()
        channel.embeddedEventLoop.run()
        #expect(ended.withLockedValue { $0 })
    }
}
