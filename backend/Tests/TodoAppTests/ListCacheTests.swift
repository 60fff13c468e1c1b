import Testing

@testable import TodoApp

/// `ListCache`'s bookkeeping without a database: what a ticket allows, what a notification
/// drops, what listening stopping or restarting voids, and the bound. (Barriers and the
/// triggers are tested over HTTP against PostgreSQL: test_list_cache.py.)
@Suite struct ListCacheTests {
    static func session(user: Int64, expiresAt: Int64 = 10_000) -> LoadSession.Row {
        LoadSession.Row(
            userID: user, csrfSecret: "secret", expiresAt: expiresAt, username: "user\(user)", publicID: user,
            lastSeenAt: 0)
    }

    static func todos(_ count: Int, user: Int64) -> [Todo] {
        (0..<count).map { index in
            Todo(id: user * 1000 + Int64(index), title: "t\(index)", completed: index % 2 == 0, order: Int64(index),
                createdAt: 0, updatedAt: 0)
        }
    }

    static func listening(capacity: Int = 1000) -> ListCache {
        let cache = ListCache(capacity: capacity)
        cache.startedListening(on: nil)
        return cache
    }

    @Test func nothingIsKeptOrServedWhileNotListening() throws {
        let cache = ListCache(capacity: 1000)
        #expect(cache.ticket() == nil)
        let listening = Self.listening()
        let ticket = try #require(listening.ticket())
        listening.stoppedListening()
        listening.keep(ticket, idHash: "a", session: Self.session(user: 1), todos: Self.todos(2, user: 1))
        #expect(listening.entry(idHash: "a", now: 0) == nil)
    }

    @Test func aKeptListIsServedWhileItsSessionLives() throws {
        let cache = Self.listening()
        let ticket = try #require(cache.ticket())
        cache.keep(ticket, idHash: "a", session: Self.session(user: 1, expiresAt: 500), todos: Self.todos(3, user: 1))
        let entry = try #require(cache.entry(idHash: "a", now: 499))
        #expect(entry.todos == Self.todos(3, user: 1))
        #expect(entry.session.userID == 1)
        #expect(cache.entry(idHash: "a", now: 500) == nil)
        #expect(cache.entry(idHash: "b", now: 0) == nil)
    }

    @Test func aNotificationDropsTheUsersEntriesOnly() throws {
        let cache = Self.listening()
        let ticket = try #require(cache.ticket())
        cache.keep(ticket, idHash: "a1", session: Self.session(user: 1), todos: Self.todos(2, user: 1))
        cache.keep(ticket, idHash: "a2", session: Self.session(user: 1), todos: Self.todos(2, user: 1))
        cache.keep(ticket, idHash: "b", session: Self.session(user: 2), todos: Self.todos(2, user: 2))
        #expect(cache.entry(idHash: "a1", now: 0) != nil && cache.entry(idHash: "a2", now: 0) != nil)
        cache.notified("1")
        #expect(cache.entry(idHash: "a1", now: 0) == nil)
        #expect(cache.entry(idHash: "a2", now: 0) == nil)
        #expect(cache.entry(idHash: "b", now: 0) != nil)
        cache.notified(ListCache.everyone)
        #expect(cache.entry(idHash: "b", now: 0) == nil)
        #expect(cache.keptCounts.credentials == 0 && cache.keptCounts.todos == 0)
    }

    @Test func aReadOvertakenByANotificationForItsUserIsNotKept() throws {
        let cache = Self.listening()
        let ticket = try #require(cache.ticket())
        cache.notified("1")
        cache.keep(ticket, idHash: "a", session: Self.session(user: 1), todos: Self.todos(2, user: 1))
        #expect(cache.entry(idHash: "a", now: 0) == nil)
        // Another user's notification does not void it.
        cache.notified("2")
        cache.keep(ticket, idHash: "c", session: Self.session(user: 3), todos: Self.todos(1, user: 3))
        #expect(cache.entry(idHash: "c", now: 0) != nil)
        // A notification for everyone voids every earlier ticket.
        let before = try #require(cache.ticket())
        cache.notified(ListCache.everyone)
        cache.keep(before, idHash: "d", session: Self.session(user: 4), todos: Self.todos(1, user: 4))
        #expect(cache.entry(idHash: "d", now: 0) == nil)
        // A ticket taken after the notification keeps.
        let after = try #require(cache.ticket())
        cache.keep(after, idHash: "a", session: Self.session(user: 1), todos: Self.todos(2, user: 1))
        #expect(cache.entry(idHash: "a", now: 0) != nil)
    }

    @Test func listeningAgainEmptiesTheCacheAndVoidsEarlierTickets() throws {
        let cache = Self.listening()
        let ticket = try #require(cache.ticket())
        cache.keep(ticket, idHash: "a", session: Self.session(user: 1), todos: Self.todos(2, user: 1))
        cache.stoppedListening()
        #expect(cache.entry(idHash: "a", now: 0) == nil)
        cache.startedListening(on: nil)
        #expect(cache.entry(idHash: "a", now: 0) == nil)
        cache.keep(ticket, idHash: "a", session: Self.session(user: 1), todos: Self.todos(2, user: 1))
        #expect(cache.entry(idHash: "a", now: 0) == nil)
    }

    @Test func theTodoBoundEvictsTheOlderEntries() throws {
        let cache = Self.listening(capacity: 10)
        for user in Int64(1)...5 {
            let ticket = try #require(cache.ticket())
            cache.keep(ticket, idHash: "s\(user)", session: Self.session(user: user), todos: Self.todos(3, user: user))
            #expect(cache.keptCounts.todos <= 10)
            #expect(cache.entry(idHash: "s\(user)", now: 0) != nil)
        }
        #expect(cache.entry(idHash: "s1", now: 0) == nil)
        // A list longer than the bound is never kept.
        let ticket = try #require(cache.ticket())
        cache.keep(ticket, idHash: "big", session: Self.session(user: 9), todos: Self.todos(11, user: 9))
        #expect(cache.entry(idHash: "big", now: 0) == nil)
    }

    @Test func aTokenIsServedWhileLiveAndDroppedWithItsUser() throws {
        let cache = Self.listening()
        let ticket = try #require(cache.ticket())
        func token(expiresAt: Int64?) -> LoadToken.Row {
            LoadToken.Row(id: 7, userID: 1, username: "user1", abilities: "todos:read", lastUsedAt: 0, expiresAt: expiresAt)
        }
        cache.keep(ticket, tokenHash: "forever", token: token(expiresAt: nil), todos: Self.todos(2, user: 1))
        cache.keep(ticket, tokenHash: "soon", token: token(expiresAt: 100), todos: Self.todos(2, user: 1))
        #expect(cache.entry(tokenHash: "forever", now: 1_000_000)?.todos == Self.todos(2, user: 1))
        #expect(cache.entry(tokenHash: "soon", now: 99) != nil)
        #expect(cache.entry(tokenHash: "soon", now: 100) == nil)
        // A token's hash is not a session's.
        #expect(cache.entry(idHash: "forever", now: 0) == nil)
        cache.notified("1")
        #expect(cache.entry(tokenHash: "forever", now: 0) == nil)
    }

    @Test func withoutAListenerNoBarrierPasses() async {
        #expect(await ListCache(capacity: 10).synchronize() == false)
        #expect(await Self.listening().synchronize() == false)
    }
}
