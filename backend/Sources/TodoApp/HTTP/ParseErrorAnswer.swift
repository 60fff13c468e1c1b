import CrossOriginSecurity
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers bytes that are not an HTTP/1.1 request as JSON, like every other refusal, then
/// closes the connection: `431 headers_too_large` for a head over the size limit, `400
/// bad_request` for anything else the decoder refuses (an unknown method, `HTTP/2.0` on the
/// request line, two `Content-Length`s, a control character in a header).
///
/// The decoder reads nothing after such bytes, so the connection cannot go on. Answers to
/// requests read before them come first: the refusal is written once every one of those has
/// ended. The error goes no further, so nothing else answers it (Hummingbird would, with
/// an empty `400`; before the first request, nothing would, and the connection would wait
/// for the idle timeout).
final class ParseErrorAnswer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let headersTooLarge = JSONError(
        .init(code: 431, reasonPhrase: "Request Header Fields Too Large"), code: "headers_too_large",
        detail: "The request's head is larger than this server accepts.")
    static let badRequest = JSONError(
        .badRequest, code: "bad_request", detail: "The request is not valid HTTP/1.1.")

    /// Requests read whose answers have not ended yet.
    private var unanswered = 0
    /// The refusal to write once `unanswered` reaches 0.
    private var pending: JSONError?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { unanswered += 1 }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard pending == nil else { return }
        pending = parserError == .headerOverflow ? Self.headersTooLarge : Self.badRequest
        if unanswered == 0 { refuse(context: context) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        unanswered = max(0, unanswered - 1)
        guard unanswered == 0, pending != nil else {
            context.write(data, promise: promise)
            return
        }
        context.write(data, promise: promise)
        refuse(context: context)
    }

    /// Writes the pending refusal, then closes the connection once it is written.
    private func refuse(context: ChannelHandlerContext) {
        guard let error = pending else { return }
        let body = error.body
        var head = error.makeResponse().head
        head.headerFields[.connection] = "close"
        head.headerFields[.cacheControl] = "no-store"
        head.headerFields[.date] = HTTPDate.now()
        head.headerFields[.contentLength] = String(body.readableBytes)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
