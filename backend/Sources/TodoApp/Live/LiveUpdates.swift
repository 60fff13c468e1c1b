import GRDB
import Logging
import PostgresNIO
import SQLKit
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
        self.hub = LiveHub(limits: .init(perUser: settings.streamsPerUser, total: settings.streamsMax), logger: logger)
        self.log = LiveEventLog(database: database, kept: settings.eventsKeptPerUser)
    }

    /// Records an event for the user in the caller's PostgreSQL transaction (see `LiveEventLog`).
    func recordOnPostgres(on sql: any SQLDatabase, userID: Int64, kind: LiveEvent.Kind, data: String) async throws -> LiveEvent {
        try await LiveEventLog.recordOnPostgres(
            on: sql, userID: userID, kind: kind, data: data, kept: settings.eventsKeptPerUser)
    }

    /// Records an event for the user in the SQLite transaction open on the writer `db`.
    func recordOnSQLite(on db: GRDB.Database, userID: Int64, kind: LiveEvent.Kind, data: String) throws -> LiveEvent {
        try LiveEventLog.recordOnSQLite(on: db, userID: userID, kind: kind, data: data, kept: settings.eventsKeptPerUser)
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
            try await database.read { sql in
                try await sql.raw(
                    "SELECT pg_notify('\(unsafeRaw: LiveNotification.channel)', \(bind: notification.payload))"
                ).run()
            }
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
                let rows = try await database.read { sql in
                    try await sql.select().column("public_id").from("sessions")
                        .where("public_id", .in, ids).where("expires_at", .greaterThan, now).all()
                }
                for row in rows { live.insert(try row.decode(column: "public_id", as: Int64.self)) }
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

    /// The session's expiry, as stored (milliseconds since 1970); `nil` when it has ended.
    func sessionExpiry(idHash: String) async throws -> Int64? {
        try await database.read { sql in
            try await sql.raw("SELECT expires_at FROM sessions WHERE id_hash = \(bind: idHash)")
                .first()?.decode(column: "expires_at", as: Int64.self)
        }
    }

    /// The heartbeat and expiry ticker, and on PostgreSQL the listener.
    func services(engine: PostgresEngine?) -> [any Service] {
        var services: [any Service] = [LiveTicker(hub: hub, heartbeat: settings.heartbeat)]
        if let engine {
            services.append(PostgresListener(engine: engine, live: self, logger: logger))
        }
        return services
    }
}

/// Once a second (or each heartbeat, when shorter): closes streams of expired sessions and
/// sends heartbeats; at shutdown, ends every stream so the server's graceful shutdown
/// does not wait on them.
struct LiveTicker: Service {
    let hub: LiveHub
    let heartbeat: Duration

    func run() async throws {
        let tick = min(heartbeat, .seconds(1))
        let ticksPerHeartbeat = max(1, Int((heartbeat / tick).rounded(.down)))
        // Returns at graceful shutdown, like every service, so the group can finish.
        try? await cancelWhenGracefulShutdown {
            var count = 0
            while true {
                try await Task.sleep(for: tick)
                count += 1
                hub.tick(now: Clock.milliseconds(), heartbeat: count % ticksPerHeartbeat == 0)
            }
        }
        hub.endAll()
    }
}
