import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1.1 connection (`HTTP1Channel`: the same pipeline and the same
/// `handleHTTP`), except for a connection whose first request opens an event stream: that
/// one is answered without a task left behind.
///
/// Why: Hummingbird serves a connection in one task, which lives as long as the connection
/// (`handleHTTP` runs inside `NIOAsyncChannel.executeThenClose` and waits for the channel to
/// close), and Swift's task allocator keeps every slab that task ever needed until it ends:
/// ~10 KiB for an idle stream, half of what it cost (docs/performance.md, "Memory per idle
/// stream"). Here the first request of every connection is looked at by `FirstRequest`:
/// - any other request: it steps aside and the connection is Hummingbird's, as before;
/// - `GET` of the stream's path: the connection task runs the application's responder for
///   it (every middleware, the route), writes the answer itself and ends. An answer other
///   than the stream (401, 403, 503) closes the connection after it; the stream's route
///   hands the connection to its `EventStreamSink`, which writes events on the channel's
///   event loop and ends the response and the connection when the stream ends.
///
/// A stream opened on a connection that served other requests first (a browser reusing a
/// keep-alive connection) is served by Hummingbird as any request, and costs what it did.
struct EventStreamConnection: ServerChildChannel, HTTPChannelHandler {
    /// The stream's route: its path, and the application's responder to run for it.
    struct StreamRoute: Sendable {
        /// With its slash; the same path without it is the stream's too.
        let path: String
        let respond: @Sendable (Request, any Channel, Logger) async throws -> Response

        /// Whether a request is the stream's: `path` without its query. Asked of every
        /// request (`StreamOpeningTaskResponder`), so it allocates nothing.
        func matches(method: HTTPRequest.Method, path: some StringProtocol) -> Bool {
            method == .get && (path == self.path || path == self.path.dropLast())
        }

        func matches(_ head: HTTPRequest) -> Bool {
            guard let target = head.path else { return false }
            return matches(method: head.method, path: target.prefix { $0 != "?" })
        }
    }

    struct Value: ServerChildChannelValue {
        let channel: any Channel
        let firstRequest: FirstRequest
    }

    typealias AsyncChannel = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    /// Hummingbird's, for every connection but a stream's.
    let responder: HTTPChannelHandler.Responder
    let configuration: HTTP1Channel.Configuration
    let stream: StreamRoute

    /// `HTTP1Channel.setup`'s pipeline, with:
    /// - `HTTP1RequestGuard` before the codec, so a parse error is answered as JSON (before
    ///   the first request too) and an absolute-form target's host is not lost;
    /// - `FirstRequest` before the connection-state handler, so it sees a quiesce event,
    ///   which that handler does not pass on;
    /// - no `NIOAsyncChannel` at its end until a request shows the connection is not a
    ///   stream's: its writer may not be released unfinished, and finishing it closes the
    ///   connection.
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = configuration.httpDecoder.maxHeaderFieldSize
            limits.maxHeaderListSize = configuration.httpDecoder.maxHeaderListSize
            limits.maxHeaderFieldCount = configuration.httpDecoder.maxHeaderFieldCount
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try pipeline.addHandler(HTTP1RequestGuard())
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandlers(configuration.additionalChannelHandlers())
            let firstRequest = FirstRequest(stream: stream, eventLoop: channel.eventLoop)
            try pipeline.addHandler(firstRequest)
            try pipeline.addHandler(
                HTTPConnectionStateHandler(
                    idleTimeout: configuration.idleTimeout.map { .nanoseconds($0.nanoseconds) }, logger: logger))
            return Value(channel: channel, firstRequest: firstRequest)
        }
    }

    func handle(value: Value, logger: Logger) async {
        switch try? await value.firstRequest.decision.get() {
        case .http(let asyncChannel):
            await handleHTTP(asyncChannel: asyncChannel, logger: logger)
        case .stream(let head):
            await answerStream(head, channel: value.channel, logger: logger)
        case .closed, nil:
            break
        }
    }

    /// The stream's request through the application, answered on the channel; returns
    /// without waiting for the answer to be written.
    private func answerStream(_ head: HTTPRequest, channel: any Channel, logger: Logger) async {
        var logger = logger
        logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
        var response: Response
        do {
            response = try await stream.respond(Request(head: head, body: RequestBody(buffer: ByteBuffer())), channel, logger)
        } catch {
            // As Hummingbird answers an error no middleware turned into a response.
            logger.debug("Unrecognised Error", metadata: ["error.type": "\(error)"])
            response = Response(status: .internalServerError, body: .init())
        }
        response.headers[.date] = HTTPDate.now()
        if response.status != .ok {
            response.headers[.connection] = "close"
        }
        channel.writeAndFlush(HTTPResponsePart.head(response.head), promise: nil)
        try? await response.body.write(BodyWriter(channel: channel))
    }

    /// Writes a response body straight to the channel; `finish` ends the response and
    /// closes the connection. The stream's body recognises it and hands the connection to
    /// its sink instead of finishing.
    struct BodyWriter: ResponseBodyWriter {
        let channel: any Channel

        mutating func write(_ buffer: ByteBuffer) async throws {
            channel.writeAndFlush(HTTPResponsePart.body(buffer), promise: nil)
        }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
            EventStreamConnection.endResponse(on: channel, trailers: trailingHeaders)
        }
    }

    /// Ends the response in progress on `channel`, then closes the connection once that is
    /// written: how a connection of the stream's own ends, whatever ends it.
    static func endResponse(on channel: any Channel, trailers: HTTPFields? = nil) {
        channel.writeAndFlush(HTTPResponsePart.end(trailers)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Looks at a connection's first request, on its event loop (see `EventStreamConnection`).
    final class FirstRequest: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        enum Decision: Sendable {
            /// Hummingbird serves the connection, through this async channel.
            case http(AsyncChannel)
            /// The connection is the stream's.
            case stream(HTTPRequest)
            /// Closed before a request arrived.
            case closed
        }

        let decision: EventLoopFuture<Decision>
        private let promise: EventLoopPromise<Decision>
        private let stream: StreamRoute
        // Touched on the event loop only.
        private var decided = false
        /// The connection is a stream's: the first request's parts go on (so the
        /// connection-state handler knows a response is in progress), anything after is dropped.
        private var isStream = false
        private var firstRequestEnded = false
        /// The stream's answer has begun (its head has gone by, on its way out).
        private var headWritten = false

        init(stream: StreamRoute, eventLoop: any EventLoop) {
            self.stream = stream
            self.promise = eventLoop.makePromise()
            self.decision = promise.futureResult
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if isStream {
                // The stream's own request, then nothing more: a stream's client sends no
                // further requests, and none would be answered.
                guard !firstRequestEnded else { return }
                if case .end = unwrapInboundIn(data) { firstRequestEnded = true }
                context.fireChannelRead(data)
                return
            }
            guard !decided, case .head(let head) = unwrapInboundIn(data) else {
                context.fireChannelRead(data)
                return
            }
            if stream.matches(head) {
                isStream = true
                decide(.stream(head))
                context.fireChannelRead(data)
                // Nothing after this request is answered (see `channelRead` and `errorCaught`),
                // so the guard has done its work, and an idle stream should not hold it.
                if let guardContext = try? context.pipeline.syncOperations.context(handlerType: HTTP1RequestGuard.self) {
                    context.pipeline.syncOperations.removeHandler(context: guardContext, promise: nil)
                }
            } else {
                // As `HTTP1Channel.setup` makes it, here rather than there (see `setup`).
                do {
                    let asyncChannel = try AsyncChannel(
                        wrappingChannelSynchronously: context.channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                    decide(.http(asyncChannel))
                    context.fireChannelRead(data)
                    context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                } catch {
                    decide(.closed)
                    context.close(promise: nil)
                }
            }
        }

        /// On a stream's connection: bytes that are not HTTP after the stream's request
        /// close the connection (the stream ends with it); nothing would read past them.
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if isStream, error is HTTPParserError {
                context.close(promise: nil)
                return
            }
            context.fireErrorCaught(error)
        }

        func channelInactive(context: ChannelHandlerContext) {
            decide(.closed)
            context.fireChannelInactive()
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            decide(.closed)
        }

        /// On a stream's connection: the client closing its side (the server allows
        /// half-closed connections) closes the connection, so the stream ends at once. The
        /// server shutting down ends the response and closes the connection (its sink sees the
        /// channel close); its client reconnects, to another instance or to this one once it
        /// is back.
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if isStream, case .some(.inputClosed) = event as? ChannelEvent {
                context.close(promise: nil)
                return
            }
            if isStream, event is ChannelShouldQuiesceEvent {
                if headWritten {
                    EventStreamConnection.endResponse(on: context.channel)
                } else {
                    context.close(promise: nil)
                }
                return
            }
            context.fireUserInboundEventTriggered(event)
        }

        /// The first decision is the connection's; later ones (the channel closing after it) do nothing.
        private func decide(_ decision: Decision) {
            guard !decided else { return }
            decided = true
            promise.succeed(decision)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if isStream, case .head = unwrapOutboundIn(data) { headWritten = true }
            context.write(data, promise: promise)
        }
    }
}

/// On a connection Hummingbird serves, a stream's client closing its side ends the stream at
/// once, as on a stream's own connection (`EventStreamConnection.FirstRequest`), rather than at
/// the next heartbeat's write: a browser often opens `EventSource` on a keep-alive connection
/// that served requests before, and a tab that goes must stop counting toward its user's
/// streams before the reloaded tab opens its own. In the pipeline only while the stream lasts.
final class StreamClientGone: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPRequestPart

    private static let name = "todolist.stream-client-gone"
    private let sink: EventStreamSink

    private init(sink: EventStreamSink) {
        self.sink = sink
    }

    /// Added after the connection's other handlers (the async channel's passes the event on).
    static func watch(_ channel: any Channel, ending sink: EventStreamSink) {
        channel.pipeline.addHandler(StreamClientGone(sink: sink), name: name).whenSuccess {
            sink.whenEnded { channel.pipeline.removeHandler(name: name, promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            sink.end(nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// The `Date` header's format (RFC 9110, IMF-fixdate), for answers written outside
/// Hummingbird's response writer, which adds it to the others.
enum HTTPDate {
    static func now() -> String {
        var seconds = time_t(Date().timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 40)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
