import Logging
import NIOCore
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
        LiveHub(limits: .init(perUser: perUser, total: total), logger: Logger(label: "test"))
    }

    static func owner(_ userID: Int64, session: Int64 = 1, expiresAt: Int64 = .max) -> LiveHub.Owner {
        .init(userID: userID, sessionPublicID: session, expiresAt: expiresAt)
    }

    static func event(_ id: Int64) -> LiveEvent { LiveEvent(id: id, kind: .todoDeleted, data: "{\"id\":\(id)}") }

    /// What a subscription has received so far, without waiting (ends at a finished stream).
    static func drain(_ subscription: LiveHub.Subscription, count: Int) async -> [LiveMessage] {
        var received: [LiveMessage] = []
        var iterator = subscription.messages.makeAsyncIterator()
        while received.count < count, let message = await iterator.next() { received.append(message) }
        return received
    }

    @Test func eventsAreDeliveredInIdOrderWhateverOrderTheyArrive() async throws {
        let hub = Self.hub()
        let subscription = try hub.open(Self.owner(1))
        hub.deliver(userID: 1, Self.event(5))
        hub.deliver(userID: 1, Self.event(7))
        hub.deliver(userID: 1, Self.event(6))
        hub.deliver(userID: 2, Self.event(1))
        let received = await Self.drain(subscription, count: 3)
        #expect(received == [.event(Self.event(5)), .event(Self.event(6)), .event(Self.event(7))])
    }

    @Test func anEventThatNeverComesTurnsIntoAResync() async throws {
        let hub = Self.hub()
        let subscription = try hub.open(Self.owner(1))
        hub.deliver(userID: 1, Self.event(1))
        hub.deliver(userID: 1, Self.event(3))
        hub.tick(now: 0)
        hub.tick(now: 0)
        hub.beat(slot: 0)
        let received = await Self.drain(subscription, count: 3)
        #expect(received == [.event(Self.event(1)), .resync(reason: "missed_event"), .heartbeat])
    }

    @Test func theOldestStreamIsClosedPastThePerUserLimitAndTheCapRefuses() async throws {
        let hub = Self.hub(perUser: 2, total: 3)
        // Held: a subscription whose stream is dropped is removed.
        let first = try hub.open(Self.owner(1))
        let second = try hub.open(Self.owner(1))
        let third = try hub.open(Self.owner(1))
        // Told why, so its client does not reconnect and close the next oldest in turn.
        #expect(await Self.drain(first, count: 2) == [.closed(.tooManyStreams)])
        #expect(hub.count == 2)
        let other = try hub.open(Self.owner(2))
        #expect(throws: LiveHub.Full.self) { try hub.open(Self.owner(3)) }
        second.close()
        #expect(hub.count == 2)
        withExtendedLifetime((third, other)) {}
    }

    @Test func endingSessionsAndExpiryCloseOnlyTheirStreams() async throws {
        let hub = Self.hub(perUser: 5)
        let laptop = try hub.open(Self.owner(1, session: 10))
        let phone = try hub.open(Self.owner(1, session: 11))
        let tablet = try hub.open(Self.owner(1, session: 12, expiresAt: 1000))
        let other = try hub.open(Self.owner(2, session: 10))
        hub.endSession(userID: 1, publicID: 10)
        #expect(await Self.drain(laptop, count: 2) == [.closed(.sessionEnded)])
        hub.tick(now: 1000)
        #expect(await Self.drain(tablet, count: 2) == [.closed(.sessionExpired)])
        hub.endSessions(userID: 1, except: 11)
        hub.deliver(userID: 1, Self.event(1))
        hub.deliver(userID: 2, Self.event(1))
        #expect(await Self.drain(phone, count: 1) == [.event(Self.event(1))])
        #expect(await Self.drain(other, count: 1) == [.event(Self.event(1))])
        hub.endSessions(userID: 1, except: nil)
        #expect(await Self.drain(phone, count: 2) == [.closed(.sessionEnded)])
        #expect(hub.count == 1)
    }

    @Test func eachBeatReachesOneSlotOfStreamsAndEverySlotIsSomeStreams() async throws {
        let hub = LiveHub(limits: .init(perUser: 6, total: 6), heartbeatSlots: 3, logger: Logger(label: "test"))
        // Opened together, as after a restart: they land in different slots.
        let streams = try (0..<6).map { _ in try hub.open(Self.owner(1)) }
        hub.beat(slot: 0)
        hub.beat(slot: 1)
        hub.beat(slot: 2)
        hub.beat(slot: 0)
        hub.endAll()
        var beats: [Int] = []
        for stream in streams { beats.append(await Self.drain(stream, count: 10).count) }
        // Each stream is in exactly one slot; each slot holds two of the six.
        #expect(beats.sorted() == [1, 1, 1, 1, 2, 2])
    }

    @Test func shutdownEndsEveryStreamWithoutAReasonSoClientsReconnect() async throws {
        let hub = Self.hub()
        let subscription = try hub.open(Self.owner(1))
        hub.endAll()
        #expect(await Self.drain(subscription, count: 1).isEmpty)
        #expect(hub.count == 0)
    }

    @Test func aStreamThatStopsReadingIsClosed() async throws {
        let hub = LiveHub(limits: .init(perUser: 2, total: 2, bufferLimit: 2), logger: Logger(label: "test"))
        let stuck = try hub.open(Self.owner(1))
        for id in 1...3 { hub.deliver(userID: 1, Self.event(Int64(id))) }
        #expect(await Self.drain(stuck, count: 5) == [.event(Self.event(1)), .event(Self.event(2))])
        #expect(hub.count == 0)
    }
}
