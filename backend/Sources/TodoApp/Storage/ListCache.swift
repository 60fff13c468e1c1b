import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// On PostgreSQL, the sessions, bearer tokens and todo lists `GET /api/todos/` reads, kept in
/// this process and served only when provably current (docs/list-cache.md).
///
/// Promised: a list served from here reflects every change committed before the request
/// arrived, on any instance, by any client of the database (another server, the
/// `todolist-server` commands, plain SQL); an ended session or a revoked token is never
/// served. How:
/// - Triggers on `sessions`, `api_tokens`, `todos` and `users` (migration 8) `NOTIFY
///   todolist_cache` with the user's id in the changing transaction, so PostgreSQL delivers
///   it once the change commits, to every listener, in commit order.
/// - This process's listener (`ListCacheListener`) drops the user's entries when the
///   notification arrives, on the connection's event loop, before anything that arrives after it.
/// - Before a request reads an entry it waits for a *barrier*: a `SELECT 1` sent on the
///   listening connection after the request arrived. A committed transaction has signalled
///   every listening backend before its client got the commit, so the backend sends its
///   notifications before it answers a query that arrives later; when the barrier's answer
///   is read, every change committed before the request is applied here. Barriers are
///   shared: one is in flight at a time, and the requests that arrive meanwhile wait for
///   the next one together.
/// - When the listener is not listening, or a barrier fails or is not answered within
///   `barrierTimeout`, nothing is served or stored, and requests read the database; the
///   entries are dropped whenever listening stops or starts.
/// - A list read from the database is kept only when no notification for its user arrived
///   after the read was asked for (`Ticket`): a change the read may have missed has always
///   announced itself by then.
final class ListCache: Sendable {
    /// The most todos kept, across all lists; the oldest entries go beyond it.
    let capacity: Int
    let barrierTimeout: TimeAmount
    static let channel = "todolist_cache"
    /// The payload that drops every entry (a `TRUNCATE`).
    static let everyone = "*"

    private let state = NIOLockedValueBox(State())
    private let barriers = NIOLockedValueBox(Barriers())

    init(capacity: Int, barrierTimeout: Duration = .seconds(1)) {
        self.capacity = capacity
        self.barrierTimeout = TimeAmount(barrierTimeout)
    }

    /// A list read from the database may be kept if its ticket is still good afterwards.
    struct Ticket: Sendable {
        fileprivate let epoch: Int
        fileprivate let notifications: UInt64
    }

    /// What a request presents, by its hash: a session cookie or a bearer token.
    private enum Key: Hashable {
        case session(String)
        case token(String)
    }

    private enum Credential {
        case session(LoadSession.Row)
        case token(LoadToken.Row)

        var userID: Int64 {
            switch self {
            case .session(let row): row.userID
            case .token(let row): row.userID
            }
        }

        /// Whether the database's condition (`liveSessionCondition`, `liveTokenCondition`) holds at `now`.
        func isLive(at now: Int64) -> Bool {
            switch self {
            case .session(let row): row.expiresAt > now
            case .token(let row): row.expiresAt.map { $0 > now } ?? true
            }
        }
    }

    private struct Entry {
        let credential: Credential
        let age: UInt64
    }

    private struct State {
        var isListening = false
        /// Changes whenever listening starts or stops: tickets from before are void.
        var epoch = 0
        /// Notifications received while listening, counted.
        var notifications: UInt64 = 0
        /// The count at each user's latest notification (while listening).
        var notifiedAt: [Int64: UInt64] = [:]
        /// Tickets from before this count are void (`notifiedAt` was pruned or all dropped).
        var validFrom: UInt64 = 0
        var credentials: [Key: Entry] = [:]
        var credentialsByUser: [Int64: Set<Key>] = [:]
        var lists: [Int64: [Todo]] = [:]
        var todoCount = 0
        var stores: UInt64 = 0

        mutating func drop(userID: Int64) {
            if let keys = credentialsByUser.removeValue(forKey: userID) {
                for key in keys { credentials[key] = nil }
            }
            if let list = lists.removeValue(forKey: userID) { todoCount -= list.count }
        }

        mutating func dropAll() {
            credentials = [:]
            credentialsByUser = [:]
            lists = [:]
            todoCount = 0
            notifiedAt = [:]
            validFrom = notifications
        }
    }

    private struct Barriers {
        var connection: PostgresConnection?
        var round = 0
        var inFlight = false
        var current: [CheckedContinuation<Bool, Never>] = []
        var next: [CheckedContinuation<Bool, Never>] = []
    }

    // MARK: Requests

    /// What a request reads its list from: the entry kept for its credential, or the
    /// database, with a ticket when the result may be kept.
    enum Lookup<Row> {
        case kept(Row, [Todo])
        /// Read the credential and its user's whole list, and `keep` them with the ticket;
        /// without one (the cache not listening), read as asked and keep nothing.
        case read(Ticket?)
    }

    /// The session named by `idHash` and its user's todos, as kept once a barrier has passed.
    func lookUp(idHash: String, now: Int64) async -> Lookup<LoadSession.Row> {
        guard await synchronize() else { return .read(nil) }
        if let (session, todos) = entry(idHash: idHash, now: now) { return .kept(session, todos) }
        return .read(ticket())
    }

    /// As `lookUp(idHash:now:)`, for a bearer token (only tokens that may read the todos are kept).
    func lookUp(tokenHash: String, now: Int64) async -> Lookup<LoadToken.Row> {
        guard await synchronize() else { return .read(nil) }
        if let (token, todos) = entry(tokenHash: tokenHash, now: now) { return .kept(token, todos) }
        return .read(ticket())
    }

    /// Waits for a barrier sent after this call; true when it was answered on the listening
    /// connection, so entries may be read and tickets taken.
    func synchronize() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let send = barriers.withLockedValue { barriers -> (PostgresConnection, Int)? in
                guard let connection = barriers.connection else { return nil }
                if barriers.inFlight {
                    barriers.next.append(continuation)
                    return (connection, -1)
                }
                barriers.inFlight = true
                barriers.round += 1
                barriers.current = [continuation]
                return (connection, barriers.round)
            }
            guard let (connection, round) = send else {
                continuation.resume(returning: false)
                return
            }
            if round >= 0 { sendBarrier(on: connection, round: round) }
        }
    }

    /// The session named by `idHash`, live at `now`, and all its user's todos, if kept.
    func entry(idHash: String, now: Int64) -> (session: LoadSession.Row, todos: [Todo])? {
        guard let (credential, todos) = entry(.session(idHash), now: now), case .session(let row) = credential else {
            return nil
        }
        return (row, todos)
    }

    /// The token whose hash is `tokenHash`, live at `now`, and all its user's todos, if kept
    /// (only tokens that may read them are).
    func entry(tokenHash: String, now: Int64) -> (token: LoadToken.Row, todos: [Todo])? {
        guard let (credential, todos) = entry(.token(tokenHash), now: now), case .token(let row) = credential else {
            return nil
        }
        return (row, todos)
    }

    private func entry(_ key: Key, now: Int64) -> (Credential, [Todo])? {
        state.withLockedValue { state in
            guard state.isListening, let entry = state.credentials[key], entry.credential.isLive(at: now),
                let todos = state.lists[entry.credential.userID]
            else { return nil }
            return (entry.credential, todos)
        }
    }

    /// Taken before a read whose result `keep` may store; `nil` when nothing may be kept.
    func ticket() -> Ticket? {
        state.withLockedValue { state in
            state.isListening ? Ticket(epoch: state.epoch, notifications: state.notifications) : nil
        }
    }

    /// Keeps a session and its user's whole list, read after `ticket` was taken, unless a
    /// notification for the user (or for everyone) has arrived since, or listening restarted.
    func keep(_ ticket: Ticket, idHash: String, session: LoadSession.Row, todos: [Todo]) {
        keep(ticket, .session(idHash), .session(session), todos: todos)
    }

    /// As `keep(_:idHash:session:todos:)`, for a bearer token that may read the todos.
    func keep(_ ticket: Ticket, tokenHash: String, token: LoadToken.Row, todos: [Todo]) {
        keep(ticket, .token(tokenHash), .token(token), todos: todos)
    }

    private func keep(_ ticket: Ticket, _ key: Key, _ credential: Credential, todos: [Todo]) {
        guard todos.count <= capacity else { return }
        state.withLockedValue { state in
            let userID = credential.userID
            guard state.isListening, ticket.epoch == state.epoch, ticket.notifications >= state.validFrom,
                state.notifiedAt[userID, default: 0] <= ticket.notifications
            else { return }
            // The user's other kept credentials stay: no notification for the user has come
            // since the ticket, so they are as current as this one.
            state.stores += 1
            state.credentials[key] = Entry(credential: credential, age: state.stores)
            state.credentialsByUser[userID, default: []].insert(key)
            state.todoCount += todos.count - (state.lists.updateValue(todos, forKey: userID)?.count ?? 0)
            if state.todoCount > capacity || state.credentials.count > capacity {
                evictOldest(&state, keeping: userID)
            }
        }
    }

    /// Drops the users of the older half of the kept credentials, `keeping` the one just stored.
    private func evictOldest(_ state: inout State, keeping: Int64) {
        let others = state.credentials.values.filter { $0.credential.userID != keeping }
        let ages = others.map(\.age).sorted()
        guard !ages.isEmpty else { return }
        let cut = ages[ages.count / 2]
        for userID in Set(others.filter { $0.age <= cut }.map(\.credential.userID)) {
            state.drop(userID: userID)
        }
    }

    // MARK: The listener's side (on the listening connection's event loop)

    /// A notification's payload: a user's id, or `everyone`.
    func notified(_ payload: String) {
        state.withLockedValue { state in
            guard state.isListening else { return }
            state.notifications += 1
            if let userID = Int64(payload) {
                state.drop(userID: userID)
                state.notifiedAt[userID] = state.notifications
                if state.notifiedAt.count > 100_000 {
                    state.dropAll()
                }
            } else {
                state.dropAll()
            }
        }
    }

    /// `LISTEN` succeeded on `connection`: barriers go to it, and entries may be kept (with
    /// no connection, as in tests, entries are kept but no barrier passes).
    func startedListening(on connection: PostgresConnection?) {
        state.withLockedValue { state in
            state.dropAll()
            state.epoch += 1
            state.isListening = true
        }
        barriers.withLockedValue { $0.connection = connection }
    }

    /// Listening stopped (or is about to): nothing is served or kept, waiting barriers fail.
    /// With `connection`, only if the cache still listens on it: a late failure of a
    /// connection it has given up on changes nothing.
    func stoppedListening(on connection: PostgresConnection? = nil) {
        let waiting = barriers.withLockedValue { barriers -> [CheckedContinuation<Bool, Never>]? in
            if let connection, barriers.connection !== connection { return nil }
            barriers.connection = nil
            barriers.inFlight = false
            defer {
                barriers.current = []
                barriers.next = []
            }
            return barriers.current + barriers.next
        }
        guard let waiting else { return }
        state.withLockedValue { state in
            state.isListening = false
            state.epoch += 1
            state.dropAll()
        }
        for continuation in waiting { continuation.resume(returning: false) }
    }

    /// Kept counts, for tests and diagnostics.
    var keptCounts: (credentials: Int, todos: Int) {
        state.withLockedValue { ($0.credentials.count, $0.todoCount) }
    }

    private func sendBarrier(on connection: PostgresConnection, round: Int) {
        let timer = connection.eventLoop.scheduleTask(in: barrierTimeout) {
            // Unanswered: the connection is presumed dead (PostgresNIO never answers a query
            // written to a connection that closed meanwhile); closing it restarts listening.
            guard self.barriers.withLockedValue({ $0.round == round && $0.inFlight }) else { return }
            self.stoppedListening(on: connection)
            connection.close().whenComplete { _ in }
        }
        connection.query("SELECT 1", logger: ListCacheListener.quietLogger).whenComplete { result in
            timer.cancel()
            guard case .success = result else {
                // The connection failed: whoever waits reads the database, and closing the
                // connection restarts listening (unless that has already happened).
                self.stoppedListening(on: connection)
                connection.close().whenComplete { _ in }
                return
            }
            let (done, again) = self.barriers.withLockedValue {
                barriers -> ([CheckedContinuation<Bool, Never>], (PostgresConnection, Int)?) in
                // Not this round's (it timed out, or listening stopped): already answered.
                guard barriers.round == round, barriers.inFlight else { return ([], nil) }
                let done = barriers.current
                barriers.current = barriers.next
                barriers.next = []
                guard !barriers.current.isEmpty, let connection = barriers.connection else {
                    barriers.inFlight = false
                    return (done, nil)
                }
                barriers.round += 1
                return (done, (connection, barriers.round))
            }
            if let (connection, next) = again { self.sendBarrier(on: connection, round: next) }
            for continuation in done { continuation.resume(returning: true) }
        }
    }
}

/// The process's `LISTEN todolist_cache` connection for `ListCache`, outside the pool:
/// it reconnects by itself (backing off up to `maxBackoff`) whenever the connection is lost
/// or a barrier goes unanswered.
struct ListCacheListener: Service {
    let engine: PostgresEngine
    let cache: ListCache
    let logger: Logger
    var maxBackoff: Duration = .seconds(5)

    /// Barriers are the hot path: their queries are not logged.
    static let quietLogger = Logger(label: "todolist.list-cache", factory: { _ in SwiftLogNoOpLogHandler() })

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff: Duration = .milliseconds(100)
            var failures = 0
            while !Task.isCancelled {
                do {
                    let connection = try await engine.connect(logger: Self.quietLogger)
                    await listen(on: connection)
                    backoff = .milliseconds(100)
                    failures = 0
                } catch {
                    failures += 1
                    if failures == 1 {
                        logger.warning(
                            "list cache: cannot listen; lists are read from the database",
                            metadata: ["error": .string(LoggedError.describe(error))])
                    }
                }
                if Task.isCancelled { break }
                do {
                    try await Task.sleep(for: backoff)
                } catch {
                    break
                }
                backoff = min(backoff * 2, maxBackoff)
            }
        }
        cache.stoppedListening()
    }

    /// Listens until the connection closes (or the task is cancelled), then closes it.
    private func listen(on connection: PostgresConnection) async {
        let cache = self.cache
        let listener = connection.addListener(channel: ListCache.channel) { _, notification in
            cache.notified(notification.payload)
        }
        var failure: (any Error)?
        do {
            _ = try await connection.query("LISTEN \(unescaped: ListCache.channel)", logger: Self.quietLogger).get()
            cache.startedListening(on: connection)
            try await withTaskCancellationHandler {
                try await connection.closeFuture.get()
            } onCancel: {
                connection.close().whenComplete { _ in }
            }
        } catch {
            failure = error
        }
        if !Task.isCancelled {
            logger.warning(
                "list cache: listener lost; lists are read from the database until it is back",
                metadata: failure.map { ["error": .string(LoggedError.describe($0))] } ?? [:])
        }
        cache.stoppedListening()
        listener.stop()
        try? await connection.close()
    }
}
