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
/// - `GET` of the stream's path without a body: the connection task runs the application's
///   responder for it (every middleware, the route), writes the answer itself and ends. (A
///   `GET` with a body, which no stream's client sends, is Hummingbird's like any other
///   request, so its body is read and checked as on every route.) An answer other
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
        /// What `FirstRequest` decides. Held here rather than by the handler, so that the
        /// stream's request head goes with the connection task instead of staying in the
        /// pipeline for as long as the stream is open.
        let decision: EventLoopFuture<FirstRequest.Decision>
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
            let decision = channel.eventLoop.makePromise(of: FirstRequest.Decision.self)
            try pipeline.addHandler(FirstRequest(stream: stream, decision: decision))
            try pipeline.addHandler(
                HTTPConnectionStateHandler(
                    idleTimeout: configuration.idleTimeout.map { .nanoseconds($0.nanoseconds) }, logger: logger))
            return Value(channel: channel, decision: decision.futureResult)
        }
    }

    func handle(value: Value, logger: Logger) async {
        switch try? await value.decision.get() {
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
        logger[metadataKey: EventStreamSink.requestIDKey] = .stringConvertible(RequestID())
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

        private let stream: StreamRoute
        // Touched on the event loop only.
        /// Until the decision is made; then dropped (see `Value.decision`).
        private var decision: EventLoopPromise<Decision>?
        /// The connection is a stream's: the first request's parts go on, anything after is
        /// dropped or refused (`stopReadingRequests`).
        private var isStream = false
        private var firstRequestEnded = false
        /// The stream's answer has begun (its head has gone by, on its way out).
        private var headWritten = false

        init(stream: StreamRoute, decision: EventLoopPromise<Decision>) {
            self.stream = stream
            self.decision = decision
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if isStream {
                // The stream's own request, then nothing more: a stream's client sends no
                // further requests, and none would be answered (a request that came in the
                // same read as the stream's is dropped here; later bytes close the connection).
                guard !firstRequestEnded else { return }
                context.fireChannelRead(data)
                if case .end = unwrapInboundIn(data) {
                    firstRequestEnded = true
                    Self.stopReadingRequests(context.pipeline.syncOperations)
                }
                return
            }
            guard decision != nil, case .head(let head) = unwrapInboundIn(data) else {
                context.fireChannelRead(data)
                return
            }
            if stream.matches(head), !JSONBody.announcesBody(head.headerFields) {
                isStream = true
                decide(.stream(head))
                context.fireChannelRead(data)
                // Nothing after this request is answered (see `channelRead` and `errorCaught`),
                // so the guard has done its work, and an idle stream should not hold it.
                Self.remove(HTTP1RequestGuard.self, from: context.pipeline.syncOperations)
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

        /// On a stream's connection: bytes that are not HTTP while the stream's request is
        /// still being read close the connection (nothing would read past them); after it,
        /// nothing is parsed (`stopReadingRequests`).
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
            self.decision?.succeed(decision)
            self.decision = nil
        }

        /// Once the stream's request is read, its connection reads nothing more, and every idle
        /// stream would pay for the handlers that parse, time and track requests (~3.5 KiB
        /// with the parser's buffers; docs/performance.md). They go, and a byte the client
        /// still sends closes the connection unparsed (`StreamInputRefused`). The client
        /// closing its side, and the server's quiesce event, still reach this handler.
        private static func stopReadingRequests(_ pipeline: ChannelPipeline.SynchronousOperations) {
            try? pipeline.addHandler(StreamInputRefused(), position: .first)
            remove(ByteToMessageHandler<HTTPRequestDecoder>.self, from: pipeline)
            remove(RequestDeadlineHandler.self, from: pipeline)
            remove(HTTPConnectionStateHandler.self, from: pipeline)
        }

        /// Takes the pipeline's handler of this type out, if it has one.
        private static func remove<Handler: RemovableChannelHandler>(
            _ type: Handler.Type, from pipeline: ChannelPipeline.SynchronousOperations
        ) {
            if let context = try? pipeline.context(handlerType: type) {
                pipeline.removeHandler(context: context, promise: nil)
            }
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if isStream, case .head = unwrapOutboundIn(data) { headWritten = true }
            context.write(data, promise: promise)
        }
    }
}

/// First in an event stream's pipeline once its request is read (see
/// `EventStreamConnection.FirstRequest`). A stream's client has nothing more to send, and
/// nothing after its request would be answered: a byte from it, a further request or not,
/// closes the connection unparsed (the stream ends with it). Events (the client closing its
/// side) pass on.
final class StreamInputRefused: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.close(promise: nil)
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
