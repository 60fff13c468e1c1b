import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// How long a connection may take over its requests, and how large their heads may be.
///
/// - A connection with no request in progress — idle between requests, or still sending
///   a request's head, however slowly — is closed `idleTimeout` after its last activity
///   (Hummingbird's idle timer: a head counts as read only when it is complete).
/// - Once a head has arrived, the whole body must follow within `requestTimeout`, or the
///   connection is closed (`RequestDeadlineHandler`): a body trickled a byte at a time
///   cannot hold a connection and its buffer forever.
/// - A request head over `maxHeaderSize` bytes is refused by the HTTP decoder.
struct ConnectionLimits: Sendable {
    var idleTimeout: Duration
    var requestTimeout: Duration
    var maxHeaderSize: Int

    /// The HTTP/1.1 server that enforces these limits, and answers a connection opened for
    /// `stream` without a task of its own (`EventStreamConnection`).
    func server(logger: Logger, stream: EventStreamConnection.StreamRoute) -> HTTPServerBuilder {
        let requestTimeout = TimeAmount(requestTimeout)
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestDeadlineHandler(timeout: requestTimeout, logger: logger)],
            idleTimeout: TimeAmount(idleTimeout),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: maxHeaderSize, maxHeaderListSize: maxHeaderSize, maxHeaderFieldCount: 200))
        return HTTPServerBuilder { responder in
            EventStreamConnection(responder: responder, configuration: configuration, stream: stream)
        }
    }
}

/// Closes a connection whose request body has not arrived in full within `timeout`
/// of its head. Lives on the connection's event loop, like every channel handler.
///
/// The timer starts only when a read ends with a request still incomplete: a request
/// whose head and end come in one read, as nearly all do, costs no timer.
///
/// It also puts a `TunnelRequestCloser` behind itself when a `CONNECT` head arrives, so
/// that only those rare requests pay for a handler on the way out.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let timeout: TimeAmount
    let logger: Logger
    /// The path of the request whose body is still arriving.
    private var incompletePath: String?
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            incompletePath = head.path ?? ""
            if head.method == .connect {
                try? context.pipeline.syncOperations.addHandler(TunnelRequestCloser(), position: .after(self))
            }
        case .end:
            incompletePath = nil
            cancelDeadline()
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let path = incompletePath, deadline == nil {
            deadline = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) {
                self.deadline = nil
                self.logger.warning(
                    "request body not received in time; closing the connection",
                    metadata: ["http.path": .string(path), "timeout": .stringConvertible(self.timeout)])
                context.close(promise: nil)
            }
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelDeadline()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelDeadline()
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }
}

/// Closes the connection after answering a `CONNECT` request.
///
/// The HTTP decoder treats whatever follows a `CONNECT` head as tunnel bytes and never
/// parses them, so a request sent after it on the same connection would wait unanswered
/// until the idle timeout. The answer (405 from the router) says `Connection: close`, and
/// the connection is closed once it is written. (NIO writes no body in any answer to
/// `CONNECT`, so the JSON error's body is not sent.)
final class TunnelRequestCloser: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            context.writeAndFlush(data, promise: promise)
            context.close(promise: nil)
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
