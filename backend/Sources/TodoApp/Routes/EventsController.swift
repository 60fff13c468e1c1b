import CrossOriginSecurity
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// `GET /api/events/`: the logged-in session's live updates, as Server-Sent Events.
///
/// Everything that can refuse the stream is checked before its first byte, and answered
/// as JSON: a foreign `Origin` (403), no session (401; a bearer token gets 403
/// `session_required`: the stream is for the app's own pages), the process's stream cap
/// (503 with `Retry-After`), the database (503). Then the stream sends `retry:` and the id
/// it starts after, what a `Last-Event-ID` missed (or `resync`), and then live events and
/// heartbeats until the client goes, the session ends, or the server shuts down. A stream
/// the server ends on purpose gets a final `closed` event first (see `StreamEnd`).
struct EventsController {
    let live: LiveUpdates
    let csrf: CSRFProtection

    func register(in routes: RouteTable) {
        routes.on("/api/events/", .get, precheck: refusal, use: stream)
    }

    /// The refusals that come before a body is read, as for every route (a GET may carry
    /// one): a simple GET needs no preflight, so a page on any origin could open the stream
    /// with the user's cookies; CORS would only hide the answer, the stream would still run.
    /// So a foreign page is refused first (403), then a request without a session (401, or
    /// 403 `session_required` for a bearer token).
    @Sendable func refusal(_ request: Request, context: AppRequestContext) throws {
        if csrf.isFromForeignPage(request, isSecure: context.isSecureRequest) {
            throw Self.foreignOrigin
        }
        _ = try Self.session(context)
    }

    static func session(_ context: AppRequestContext) throws -> AuthenticatedSession {
        try Authentication.requireSession(context, to: "receive live updates")
    }

    static let foreignOrigin = JSONError(
        .forbidden, code: "origin_not_allowed",
        detail: "Live updates are only served to this application's own pages.")

    static let busy: JSONError = {
        var headers = HTTPFields()
        headers[.retryAfter] = "5"
        return JSONError(
            .serviceUnavailable, code: "busy", detail: "The server holds as many live streams as it can; try again shortly.",
            headers: headers)
    }()

    static let streamHeaders: HTTPFields = {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // nginx: pass each event on at once rather than buffering the response.
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return headers
    }()

    @Sendable func stream(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)  // `refusal` has let only a session through
        if request.method == .head {
            // The stream's headers, and nothing opened: HEAD has no body to stream into.
            return Response(status: .ok, headers: Self.streamHeaders)
        }
        let lastEventID = ServerSentEvents.lastEventID(request.headers[.lastEventID])

        // Subscribed before the replay is read, so no event falls between the two; the
        // sink holds live events until the opening is written and skips those it carried.
        let sink = EventStreamSink(
            channel: context.channel, logger: live.logger,
            requestID: context.logger[metadataKey: EventStreamSink.requestIDKey])
        do {
            try live.hub.open(
                .init(userID: session.userID, sessionPublicID: session.publicID, expiresAt: session.expiresAt), sink: sink)
        } catch {
            throw Self.busy
        }
        let start: Start
        do {
            start = try await Self.start(live: live, userID: session.userID, lastEventID: lastEventID)
        } catch {
            sink.end(nil)
            throw error
        }

        // Handed to the body through a box it empties: what the closure captures lives as
        // long as the stream, and a replay can be large.
        let opening = NIOLockedValueBox<ByteBuffer?>(Self.opening(start, retryMilliseconds: live.settings.retryMilliseconds))
        let lastSent = start.lastID
        let channel = context.channel
        let body = ResponseBody { writer in
            if let bytes = opening.withLockedValue({ buffer in defer { buffer = nil }; return buffer }) {
                do {
                    try await writer.write(bytes)
                } catch {
                    sink.end(nil)
                    throw error
                }
            }
            if writer is EventStreamConnection.BodyWriter {
                // The connection is the stream's alone: the sink writes the rest, and this
                // returns with no task left behind (see `EventStreamConnection`).
                sink.start(lastSent: lastSent, ending: .connection)
                return
            }
            // A connection Hummingbird serves: its task waits here, and ends the response.
            sink.start(lastSent: lastSent, ending: .response)
            StreamClientGone.watch(channel, ending: sink)
            await withGracefulShutdownHandler {
                try? await sink.ended.get()
            } onGracefulShutdown: {
                sink.end(nil)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: Self.streamHeaders, body: body)
    }

    /// The stream's first bytes: `retry:` and the id it resumes from, the replay or a `resync`.
    static func opening(_ start: Start, retryMilliseconds: Int) -> ByteBuffer {
        var opening = ServerSentEvents.preamble(retryMilliseconds: retryMilliseconds, lastEventID: start.resumeID)
        for event in start.replay {
            var frame = ServerSentEvents.event(event)
            opening.writeBuffer(&frame)
        }
        if let reason = start.resync {
            var frame = ServerSentEvents.resync(id: start.lastID, reason: reason)
            opening.writeBuffer(&frame)
        }
        return opening
    }

    /// Where a stream starts.
    struct Start {
        /// The id the preamble names (where a reconnect resumes before any event arrives).
        var resumeID: Int64
        /// The newest event id the client has, once the opening is sent.
        var lastID: Int64
        var replay: [LiveEvent] = []
        /// Set when the client must re-read its list first.
        var resync: String?
    }

    static func start(live: LiveUpdates, userID: Int64, lastEventID: ServerSentEvents.LastEventID) async throws -> Start {
        switch lastEventID {
        case .absent:
            let current = try await live.log.currentID(userID: userID)
            return Start(resumeID: current, lastID: current)
        case .unknown:
            let current = try await live.log.currentID(userID: userID)
            return Start(resumeID: current, lastID: current, resync: "unknown_last_event_id")
        case .id(let id):
            switch try await live.log.replay(userID: userID, after: id) {
            case .events(let events, let current):
                return Start(resumeID: id, lastID: current, replay: events)
            case .resync(let current):
                return Start(resumeID: current, lastID: current, resync: "too_old")
            case .unknown(let current):
                return Start(resumeID: current, lastID: current, resync: "unknown_last_event_id")
            }
        }
    }
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
}
