import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import ServiceLifecycle

/// Live updates for one process: where changes and ended sessions are announced, and the
/// services that carry them to the streams (see `docs/live-updates.md`).
///
/// On SQLite (one process) the request that committed a change hands its event to the
/// hub itself. On PostgreSQL the change's transaction sent a `NOTIFY`, which reaches every
/// instance's listener (this one's included) on commit; the hub hears of it there only, so
/// every instance delivers the same events in the same order.
final class LiveUpdates: Sendable {
    struct Settings: Sendable {
        var heartbeat: Duration = .seconds(15)
        var streamsPerUser: Int = 10
        var streamsMax: Int = 10_000
        var eventsKeptPerUser: Int = 200
        /// The reconnection delay the stream asks browsers for (`retry:`).
        var retryMilliseconds: Int = 2000
    }

    let settings: Settings
    let hub: LiveHub
    let log: LiveEventLog
    let database: Database
    let logger: Logger

    init(database: Database, settings: Settings, logger: Logger) {
        self.settings = settings
        self.database = database
        self.logger = logger
        self.hub = LiveHub(
            limits: .init(perUser: settings.streamsPerUser, total: settings.streamsMax),
            heartbeatSlots: LiveTicker.slots(heartbeat: settings.heartbeat))
        self.log = LiveEventLog(database: database, kept: settings.eventsKeptPerUser)
    }

    /// Records an event for the user in the caller's transaction (see `LiveEventLog`).
    func record(in tx: any StoreConnection, userID: Int64, kind: LiveEvent.Kind, data: String) async throws -> LiveEvent {
        try await LiveEventLog.record(in: tx, userID: userID, kind: kind, data: data, kept: settings.eventsKeptPerUser)
    }

    /// Called once the event's transaction has committed.
    func committed(userID: Int64, _ event: LiveEvent) {
        if database.kind == .sqlite {
            hub.deliver(userID: userID, event)
        }
    }

    /// A session ended (log-out, deleted from the session list): its streams end, here at
    /// once and on the other instances through the database.
    func sessionEnded(userID: Int64, publicID: Int64) async {
        hub.endSession(userID: userID, publicID: publicID)
        await announce(.sessionEnded(userID: userID, publicID: publicID))
    }

    /// Every session of the user but `except` ended (password change, "log out everywhere
    /// else", account deletion).
    func userSessionsEnded(userID: Int64, except: Int64?) async {
        hub.endSessions(userID: userID, except: except)
        await announce(.userSessionsEnded(userID: userID, except: except))
    }

    /// Sent after the ending has committed. A failure is logged, not answered: the
    /// sessions have ended, and a stream of theirs on another instance can no longer
    /// authenticate a reconnect.
    private func announce(_ notification: LiveNotification) async {
        guard database.kind == .postgres else { return }
        do {
            _ = try await database.fetch(Notify(payload: notification.payload))
        } catch {
            logger.warning(
                "could not announce ended sessions to other instances",
                metadata: ["error": .string(LoggedError.describe(error))])
        }
    }

    /// Ends the streams of sessions that have ended without this process hearing of it (the
    /// listener was away when another instance announced it): each open session is looked
    /// up again. Run after the listener reconnects.
    func endVanishedSessions() async {
        let open = hub.openSessions()
        guard !open.isEmpty else { return }
        let now = Clock.milliseconds()
        do {
            var live = Set<Int64>()
            for start in stride(from: 0, to: open.count, by: 500) {
                let ids = open[start..<min(start + 500, open.count)].map(\.publicID)
                live.formUnion(try await database.fetch(LiveSessionsAmong(publicIDs: Array(ids), now: now)))
            }
            for session in open where !live.contains(session.publicID) {
                hub.endSession(userID: session.userID, publicID: session.publicID)
            }
        } catch {
            logger.warning(
                "live updates: could not check the open streams' sessions",
                metadata: ["error": .string(LoggedError.describe(error))])
        }
    }

    /// The heartbeat and expiry ticker, and on PostgreSQL the listener.
    func services(engine: PostgresEngine?) -> [any Service] {
        var services: [any Service] = [LiveTicker(hub: hub)]
        if let engine {
            services.append(PostgresListener(engine: engine, live: self, logger: logger))
        }
        return services
    }
}

/// Every `slotDuration`, sends the heartbeat to the next of the hub's heartbeat slots (so
/// each stream gets one every heartbeat interval, and the streams' beats are spread over
/// it); once a second, closes streams of expired sessions. At shutdown, ends every stream
/// so the server's graceful shutdown does not wait on them.
struct LiveTicker: Service {
    /// Short, so that each slot's burst of writes is small (10,000 streams at 15 s: 13
    /// writes every 20 ms), and long enough that an idle server's ticker costs nothing.
    static let slotDuration: Duration = .milliseconds(20)
    static let housekeepingEvery = 50  // slots: once a second

    /// The slots a heartbeat interval is divided into: one per `slotDuration`.
    static func slots(heartbeat: Duration) -> Int {
        max(1, Int((heartbeat / slotDuration).rounded(.down)))
    }

    let hub: LiveHub

    func run() async throws {
        // The ticks are an event loop's timer, which that loop's own thread runs: a Task.sleep
        // is libdispatch's timer, which wakes its timer thread and a worker thread every tick,
        // streams or not, to put the task back on a loop.
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        // Returns at graceful shutdown, like every service, so the group can finish.
        try? await cancelWhenGracefulShutdown {
            var deadline = NIODeadline.now()
            var count = 0
            while true {
                // Deadlines, not sleeps, so the interval does not drift with each tick's work.
                deadline = deadline + TimeAmount(Self.slotDuration)
                try await loop.scheduleTask(deadline: deadline) {}.futureResult.get()
                // A timer's future does not end at cancellation: the next tick checks it.
                try Task.checkCancellation()
                count += 1
                hub.beat(slot: count % hub.heartbeatSlots)
                if count % Self.housekeepingEvery == 0 {
                    hub.tick(now: Clock.milliseconds())
                }
            }
        }
        hub.endAll()
    }
}

// MARK: Queries

/// Tells every instance's listener, on commit (at once, outside a transaction).
struct Notify: StoreCommand {
    static let name = "todolist_notify"
    static let text = QueryText(postgresOnly: "SELECT pg_notify('\(LiveNotification.channel)', $1)")
    static let isReadOnly = false
    let payload: String
    var binds: [QueryValue] { [.text(payload)] }
}

/// Which of these sessions are live.
struct LiveSessionsAmong: IntegerRowsQuery {
    static let name = "todolist_live_sessions_among"
    static let text = QueryText(
        "SELECT public_id FROM sessions WHERE public_id IN (SELECT value FROM json_each($1)) AND expires_at > $2",
        postgres: "SELECT public_id FROM sessions WHERE public_id = ANY($1) AND expires_at > $2")
    static let isReadOnly = true
    let publicIDs: [Int64]
    let now: Int64
    var binds: [QueryValue] { [.integers(publicIDs), .integer(now)] }
}

