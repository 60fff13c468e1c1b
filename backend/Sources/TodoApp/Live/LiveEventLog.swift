import GRDB
import SQLKit

/// Each user's recent events, kept in the database: the bounded per-user buffer a
/// reconnecting stream replays from, shared by every instance on one database.
///
/// `record` runs inside the transaction that makes the change. It takes the user's next
/// event number from `live_event_counters` (an upsert, which on PostgreSQL holds the
/// counter row's lock until commit, so one user's events commit in number order and the
/// numbers have no gaps), stores the event, drops the user's events older than the last
/// `kept`, and on PostgreSQL sends the `NOTIFY` that other instances (and this one)
/// receive on commit, never for a change that rolled back.
struct LiveEventLog: Sendable {
    let database: Database
    /// Events kept per user for replay (`EVENTS_KEPT_PER_USER`).
    let kept: Int

    /// Records `data` as the user's next event, in the caller's PostgreSQL transaction `sql`:
    /// one round trip, counting, storing, pruning and notifying in one statement.
    static func recordOnPostgres(
        on sql: any SQLDatabase, userID: Int64, kind: LiveEvent.Kind, data: String, kept: Int
    ) async throws -> LiveEvent {
        let now = Clock.milliseconds()
            let notification = LiveNotification.eventPayload(userID: userID, kind: kind, data: data)
            let row = try await sql.raw(
                """
                WITH counter AS (
                    INSERT INTO live_event_counters AS c (user_id, last_id) VALUES (\(bind: userID), 1)
                    ON CONFLICT (user_id) DO UPDATE SET last_id = c.last_id + 1 RETURNING last_id
                ), event AS (
                    INSERT INTO live_events (user_id, id, kind, data, created_at)
                    SELECT \(bind: userID), last_id, \(bind: kind.rawValue), \(bind: data), \(bind: now) FROM counter
                    RETURNING id
                ), pruned AS (
                    DELETE FROM live_events WHERE user_id = \(bind: userID)
                    AND id <= (SELECT last_id FROM counter) - \(bind: Int64(kept))
                )
                SELECT id, pg_notify('\(unsafeRaw: LiveNotification.channel)',
                    \(bind: notification.prefix) || id::text || \(bind: notification.suffix)) AS notified
                FROM event
                """
            ).first()
            guard let row else { throw MissingRow(table: "live_events") }
            return LiveEvent(id: try row.decode(column: "id", as: Int64.self), kind: kind, data: data)
    }

    /// Records `data` as the user's next event in the SQLite transaction open on `db` (the
    /// writer, held synchronously: see `SQLiteEngine.writeTransaction`).
    static func recordOnSQLite(
        on db: GRDB.Database, userID: Int64, kind: LiveEvent.Kind, data: String, kept: Int
    ) throws -> LiveEvent {
        let now = Clock.milliseconds()
        let next = try Int64.fetchOne(
            db,
            sql: """
                INSERT INTO live_event_counters (user_id, last_id) VALUES (?, 1)
                ON CONFLICT (user_id) DO UPDATE SET last_id = live_event_counters.last_id + 1 RETURNING last_id
                """,
            arguments: [userID])
        guard let id = next else { throw MissingRow(table: "live_event_counters") }
        try db.execute(
            sql: "INSERT INTO live_events (user_id, id, kind, data, created_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [userID, id, kind.rawValue, data, now])
        try db.execute(sql: "DELETE FROM live_events WHERE user_id = ? AND id <= ?", arguments: [userID, id - Int64(kept)])
        return LiveEvent(id: id, kind: kind, data: data)
    }

    /// The user's newest event number (0 before their first event).
    func currentID(userID: Int64) async throws -> Int64 {
        try await database.read { sql in
            try await sql.raw("SELECT last_id FROM live_event_counters WHERE user_id = \(bind: userID)")
                .first()?.decode(column: "last_id", as: Int64.self) ?? 0
        }
    }

    /// What a stream resuming after `lastID` must be sent.
    enum Replay: Equatable {
        /// Every event after `lastID`, in order (none when the client is up to date).
        case events([LiveEvent], current: Int64)
        /// The gap is older than the kept events, or `lastID` is not one of this user's
        /// event numbers: the client must re-read its list.
        case resync(current: Int64)
    }

    func replay(userID: Int64, after lastID: Int64) async throws -> Replay {
        try await database.read { sql in
            let current =
                try await sql.raw("SELECT last_id FROM live_event_counters WHERE user_id = \(bind: userID)")
                .first()?.decode(column: "last_id", as: Int64.self) ?? 0
            if lastID == current { return .events([], current: current) }
            if lastID > current { return .resync(current: current) }
            let rows = try await sql.raw(
                """
                SELECT id, kind, data FROM live_events WHERE user_id = \(bind: userID) AND id > \(bind: lastID) \
                AND id <= \(bind: current) ORDER BY id
                """
            ).all()
            let events = try rows.compactMap { row -> LiveEvent? in
                guard let kind = LiveEvent.Kind(rawValue: try row.decode(column: "kind", as: String.self)) else { return nil }
                return LiveEvent(
                    id: try row.decode(column: "id", as: Int64.self), kind: kind,
                    data: try row.decode(column: "data", as: String.self))
            }
            // Complete only when nothing between `lastID` and `current` was pruned.
            guard events.count == rows.count, events.first?.id == lastID + 1, events.last?.id == current,
                events.count == Int(current - lastID)
            else { return .resync(current: current) }
            return .events(events, current: current)
        }
    }

    /// One event, for a notification too large to carry its data.
    func event(userID: Int64, id: Int64) async throws -> LiveEvent? {
        try await database.read { sql in
            guard
                let row = try await sql.raw(
                    "SELECT kind, data FROM live_events WHERE user_id = \(bind: userID) AND id = \(bind: id)"
                ).first(),
                let kind = LiveEvent.Kind(rawValue: try row.decode(column: "kind", as: String.self))
            else { return nil }
            return LiveEvent(id: id, kind: kind, data: try row.decode(column: "data", as: String.self))
        }
    }
}

/// What instances tell each other on PostgreSQL's `todolist_live` channel, one line of text:
/// - `e <user> <event id> <kind> [<data>]`: an event; the data is left out when the payload
///   would pass `maxPayload` (a bulk change naming thousands of ids), and each instance with
///   a stream of that user reads it from `live_events`;
/// - `s <user> <session public id>`: that session ended;
/// - `u <user> [<session public id>]`: every session of the user ended, but the one named.
enum LiveNotification: Equatable {
    case event(userID: Int64, LiveEvent)
    case eventWithoutData(userID: Int64, id: Int64, kind: LiveEvent.Kind)
    case sessionEnded(userID: Int64, publicID: Int64)
    case userSessionsEnded(userID: Int64, except: Int64?)

    static let channel = "todolist_live"
    /// PostgreSQL refuses payloads of 8000 bytes or more; this leaves room for the prefix.
    static let maxPayload = 7900

    /// The payload around the event id, which only the database knows when it sends it.
    static func eventPayload(userID: Int64, kind: LiveEvent.Kind, data: String) -> (prefix: String, suffix: String) {
        let prefix = "e \(userID) "
        let bare = " \(kind.rawValue)"
        let fits = prefix.utf8.count + 20 + bare.utf8.count + 1 + data.utf8.count <= maxPayload
        return (prefix, fits ? bare + " " + data : bare)
    }

    var payload: String {
        switch self {
        case .event(let userID, let event): "e \(userID) \(event.id) \(event.kind.rawValue) \(event.data)"
        case .eventWithoutData(let userID, let id, let kind): "e \(userID) \(id) \(kind.rawValue)"
        case .sessionEnded(let userID, let publicID): "s \(userID) \(publicID)"
        case .userSessionsEnded(let userID, let except): "u \(userID)" + (except.map { " \($0)" } ?? "")
        }
    }

    /// `nil` for a payload this version does not know (a newer server sharing the database).
    init?(payload: String) {
        let parts = payload.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count >= 2, let userID = Int64(parts[1]) else { return nil }
        switch parts[0] {
        case "e":
            guard parts.count >= 4, let id = Int64(parts[2]), let kind = LiveEvent.Kind(rawValue: String(parts[3])) else {
                return nil
            }
            if parts.count == 5 {
                self = .event(userID: userID, LiveEvent(id: id, kind: kind, data: String(parts[4])))
            } else {
                self = .eventWithoutData(userID: userID, id: id, kind: kind)
            }
        case "s":
            guard parts.count == 3, let publicID = Int64(parts[2]) else { return nil }
            self = .sessionEnded(userID: userID, publicID: publicID)
        case "u":
            guard parts.count <= 3 else { return nil }
            if parts.count == 3 {
                guard let except = Int64(parts[2]) else { return nil }
                self = .userSessionsEnded(userID: userID, except: except)
            } else {
                self = .userSessionsEnded(userID: userID, except: nil)
            }
        default:
            return nil
        }
    }
}
