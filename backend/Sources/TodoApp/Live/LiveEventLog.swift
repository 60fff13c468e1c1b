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

    /// Records `data` as the user's next event in the caller's transaction `tx`.
    ///
    /// PostgreSQL does it in one statement, so a change and its event cost one round trip
    /// more, not four; SQLite cannot return rows from a CTE's insert, so it runs three
    /// statements, which cost no round trips there (they run synchronously on the writer).
    static func record(
        in tx: any StoreConnection, userID: Int64, kind: LiveEvent.Kind, data: String, kept: Int
    ) async throws -> LiveEvent {
        let now = Clock.milliseconds()
        let id: Int64?
        switch tx.kind {
        case .postgres:
            let notification = LiveNotification.eventPayload(userID: userID, kind: kind, data: data)
            id = try await tx.fetchFirst(
                RecordLiveEvent(
                    userID: userID, kind: kind, data: data, now: now, kept: Int64(kept),
                    notificationPrefix: notification.prefix, notificationSuffix: notification.suffix))
        case .sqlite:
            id = try await tx.fetchFirst(NextLiveEventID(userID: userID))
            if let id {
                _ = try await tx.fetch(InsertLiveEvent(userID: userID, id: id, kind: kind, data: data, now: now))
                _ = try await tx.fetch(PruneLiveEvents(userID: userID, keptAfter: id - Int64(kept)))
            }
        }
        guard let id else { throw MissingRow(table: "live_events") }
        return LiveEvent(id: id, kind: kind, data: data)
    }

    /// The user's newest event number (0 before their first event).
    func currentID(userID: Int64) async throws -> Int64 {
        try await database.fetchFirst(CurrentLiveEventID(userID: userID)) ?? 0
    }

    /// What a stream resuming after `lastID` must be sent.
    enum Replay: Equatable {
        /// Every event after `lastID`, in order (none when the client is up to date).
        case events([LiveEvent], current: Int64)
        /// The gap is older than the kept events: the client must re-read its list.
        case resync(current: Int64)
        /// `lastID` is ahead of this user's newest event, so not one of theirs (another
        /// database, a re-created account): the client must re-read its list.
        case unknown(current: Int64)
    }

    func replay(userID: Int64, after lastID: Int64) async throws -> Replay {
        let current = try await currentID(userID: userID)
        if lastID == current { return .events([], current: current) }
        if lastID > current { return .unknown(current: current) }
        let rows = try await database.fetch(LiveEventsAfter(userID: userID, after: lastID, upTo: current))
        let events = rows.compactMap { row -> LiveEvent? in
            guard let kind = LiveEvent.Kind(rawValue: row.kind) else { return nil }
            return LiveEvent(id: row.id, kind: kind, data: row.data)
        }
        // Complete only when nothing between `lastID` and `current` was pruned.
        guard events.count == rows.count, events.first?.id == lastID + 1, events.last?.id == current,
            events.count == Int(current - lastID)
        else { return .resync(current: current) }
        return .events(events, current: current)
    }

    /// One event, for a notification too large to carry its data.
    func event(userID: Int64, id: Int64) async throws -> LiveEvent? {
        guard let row = try await database.fetchFirst(FindLiveEvent(userID: userID, id: id)),
            let kind = LiveEvent.Kind(rawValue: row.kind)
        else { return nil }
        return LiveEvent(id: id, kind: kind, data: row.data)
    }
}

// MARK: Queries

/// PostgreSQL's `record`: counts, stores, prunes and notifies in one statement.
struct RecordLiveEvent: IntegerRowsQuery {
    static let name = "todolist_record_live_event"
    static let text = QueryText(
        postgresOnly: """
            WITH counter AS (
                INSERT INTO live_event_counters AS c (user_id, last_id) VALUES ($1, 1)
                ON CONFLICT (user_id) DO UPDATE SET last_id = c.last_id + 1 RETURNING last_id
            ), event AS (
                INSERT INTO live_events (user_id, id, kind, data, created_at)
                SELECT $1, last_id, $2, $3, $4 FROM counter
                RETURNING id
            ), pruned AS (
                DELETE FROM live_events WHERE user_id = $1
                AND id <= (SELECT last_id FROM counter) - $5
            )
            SELECT id, pg_notify('\(LiveNotification.channel)', $6 || id::text || $7) FROM event
            """)
    static let isReadOnly = false
    let userID: Int64
    let kind: LiveEvent.Kind
    let data: String
    let now: Int64
    let kept: Int64
    let notificationPrefix: String
    let notificationSuffix: String
    var binds: [QueryValue] {
        [.integer(userID), .text(kind.rawValue), .text(data), .integer(now), .integer(kept),
         .text(notificationPrefix), .text(notificationSuffix)]
    }
}

/// SQLite's `record`, first step: the user's next event number.
struct NextLiveEventID: IntegerRowsQuery {
    static let name = "todolist_next_live_event_id"
    static let text = QueryText(
        """
        INSERT INTO live_event_counters (user_id, last_id) VALUES ($1, 1) \
        ON CONFLICT (user_id) DO UPDATE SET last_id = live_event_counters.last_id + 1 RETURNING last_id
        """)
    static let isReadOnly = false
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID)] }
}

struct InsertLiveEvent: StoreCommand {
    static let name = "todolist_insert_live_event"
    static let text = QueryText("INSERT INTO live_events (user_id, id, kind, data, created_at) VALUES ($1, $2, $3, $4, $5)")
    static let isReadOnly = false
    let userID: Int64
    let id: Int64
    let kind: LiveEvent.Kind
    let data: String
    let now: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(id), .text(kind.rawValue), .text(data), .integer(now)] }
}

/// Drops the user's events numbered `keptAfter` or lower.
struct PruneLiveEvents: StoreCommand {
    static let name = "todolist_prune_live_events"
    static let text = QueryText("DELETE FROM live_events WHERE user_id = $1 AND id <= $2")
    static let isReadOnly = false
    let userID: Int64
    let keptAfter: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(keptAfter)] }
}

struct CurrentLiveEventID: IntegerRowsQuery {
    static let name = "todolist_current_live_event_id"
    static let text = QueryText("SELECT last_id FROM live_event_counters WHERE user_id = $1")
    static let isReadOnly = true
    let userID: Int64
    var binds: [QueryValue] { [.integer(userID)] }
}

/// A stored event's columns.
struct StoredLiveEvent: Sendable {
    let id: Int64
    let kind: String
    let data: String
}

struct LiveEventsAfter: StoreQuery {
    static let name = "todolist_live_events_after"
    static let text = QueryText(
        "SELECT id, kind, data FROM live_events WHERE user_id = $1 AND id > $2 AND id <= $3 ORDER BY id")
    static let isReadOnly = true
    let userID: Int64
    let after: Int64
    let upTo: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(after), .integer(upTo)] }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> StoredLiveEvent {
        StoredLiveEvent(id: try columns.integer(), kind: try columns.text(), data: try columns.text())
    }
}

struct FindLiveEvent: StoreQuery {
    static let name = "todolist_find_live_event"
    static let text = QueryText("SELECT id, kind, data FROM live_events WHERE user_id = $1 AND id = $2")
    static let isReadOnly = true
    let userID: Int64
    let id: Int64
    var binds: [QueryValue] { [.integer(userID), .integer(id)] }

    static func decode<Columns: ColumnReader>(_ columns: inout Columns) throws -> StoredLiveEvent {
        StoredLiveEvent(id: try columns.integer(), kind: try columns.text(), data: try columns.text())
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
