import Foundation
import NIOCore

/// One change to a user's todos, as every stream of that user sees it.
///
/// `id` is the user's event number: assigned by the database in the transaction that made
/// the change (see `LiveEventLog`), one more than the user's previous event, so it means
/// the same on every server instance sharing the database, and a user's events commit in
/// `id` order. `data` is the event's JSON, one line (`JSONOutput` escapes every control
/// character, so it never holds CR or LF, which would end an SSE field).
struct LiveEvent: Sendable, Equatable {
    enum Kind: String, Sendable, CaseIterable {
        /// data: the todo as `POST /api/todos/` returns it.
        case todoCreated = "todo.created"
        /// data: the todo as `PATCH /api/todos/<id>/` returns it.
        case todoUpdated = "todo.updated"
        /// data: `{"id"}`.
        case todoDeleted = "todo.deleted"
        /// Toggle all. data: `{"ids": [...], "completed", "updatedAt"}`: the todos whose state changed.
        case todosCompleted = "todos.completed"
        /// Clear completed. data: `{"ids": [...]}`: the todos deleted.
        case todosCleared = "todos.cleared"
    }

    let id: Int64
    let kind: Kind
    let data: String
}

/// What a stream is told besides events.
enum LiveMessage: Sendable, Equatable {
    case event(LiveEvent)
    /// Events may have been missed (the PostgreSQL listener reconnected, the stream fell
    /// behind, events arrived out of order): the client re-reads its list.
    case resync(reason: String)
    /// A comment line, so proxies and the client see the stream alive.
    case heartbeat
    /// The stream's last message: the server ends it on purpose, and the client must not
    /// reconnect by itself (see `StreamEnd`).
    case closed(StreamEnd)
}

/// Why the server ended a stream, sent as a final `closed` event before the end of the
/// response. A stream ended without one (server shutting down, client too slow to read)
/// is simply reconnected by the browser. With one, reconnecting at once would be refused
/// (401) or would end another stream, so the client stops and decides.
enum StreamEnd: String, Sendable, Equatable {
    /// The user opened more than `STREAMS_PER_USER` streams; this was the oldest. The client
    /// stays paused until a person asks to resume (which ends the next oldest elsewhere).
    case tooManyStreams = "too_many_streams"
    /// The session was ended (log-out, from the session list, a password change, account
    /// deletion). The client checks with a JSON request: logged out, or still logged in
    /// with a newer session (this browser changed the password) and then opens a new stream.
    case sessionEnded = "session_ended"
    /// The session's expiry, as known when the stream opened, has passed. Other requests may
    /// have extended it since; the client checks as for `sessionEnded`.
    case sessionExpired = "session_expired"
}

/// The `text/event-stream` framing (WHATWG HTML, "Server-sent events").
enum ServerSentEvents {
    /// The stream's first bytes: the reconnection delay, and the id of the newest event the
    /// stream starts after (an `id` field alone dispatches nothing but sets the browser's
    /// last event id, so a reconnect before any event still names where to resume).
    static func preamble(retryMilliseconds: Int, lastEventID: Int64) -> ByteBuffer {
        ByteBuffer(string: "retry: \(retryMilliseconds)\nid: \(lastEventID)\n\n")
    }

    static func event(_ event: LiveEvent) -> ByteBuffer {
        frame(id: event.id, name: event.kind.rawValue, data: event.data)
    }

    /// A `resync` event; its id is the last one the stream delivered, so a later reconnect
    /// resumes from there.
    static func resync(id: Int64, reason: String) -> ByteBuffer {
        frame(id: id, name: "resync", data: reasonData(reason))
    }

    static let heartbeat = ByteBuffer(string: ":\n\n")

    /// The final `closed` event; like `resync`, its id is the last one the stream delivered.
    static func closed(id: Int64, reason: StreamEnd) -> ByteBuffer {
        frame(id: id, name: "closed", data: reasonData(reason.rawValue))
    }

    /// `{"reason": ...}`, the data of `resync` and `closed`.
    private static func reasonData(_ reason: String) -> String {
        var json = JSONOutput(capacity: 64)
        json.beginObject()
        json.key("reason")
        json.string(reason)
        json.endObject()
        return String(decoding: json.bytes, as: UTF8.self)
    }

    private static func frame(id: Int64, name: String, data: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(data.utf8.count + name.utf8.count + 32)
        buffer.writeString("id: \(id)\nevent: \(name)\ndata: ")
        buffer.writeString(data)
        buffer.writeString("\n\n")
        return buffer
    }

    /// The `Last-Event-ID` header's value: a non-negative event number, else `nil`
    /// (absent, or not one of ours: the stream starts with a `resync`).
    static func lastEventID(_ header: String?) -> LastEventID {
        guard let header else { return .absent }
        let text = header.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let id = Int64(text)
        else { return .unknown }
        return .id(id)
    }

    enum LastEventID: Equatable {
        case absent
        case unknown
        case id(Int64)
    }
}

// MARK: Event data

/// `{"id"}` of a deleted todo.
struct DeletedTodo: JSONRepresentable {
    let id: Int64

    func write(to json: inout JSONOutput) {
        json.beginObject()
        json.key("id")
        json.integer(id)
        json.endObject()
    }
}

/// The todos a bulk change touched: `{"ids": [...]}`, with `completed` and `updatedAt` for toggle all.
struct BulkChange: JSONRepresentable {
    let ids: [Int64]
    var completed: Bool?
    var updatedAt: Int64?

    func write(to json: inout JSONOutput) {
        json.beginObject()
        json.key("ids")
        json.beginArray()
        for id in ids { json.integer(id) }
        json.endArray()
        if let completed {
            json.key("completed")
            json.bool(completed)
        }
        if let updatedAt {
            json.key("updatedAt")
            json.timestamp(milliseconds: updatedAt)
        }
        json.endObject()
    }
}

extension JSONRepresentable {
    /// The value as one line of JSON text.
    var jsonText: String {
        var json = JSONOutput()
        write(to: &json)
        return String(decoding: json.bytes, as: UTF8.self)
    }
}
