import CrossOriginSecurity
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// What HTTP/1.1 asks of a server that the conversion to `HTTPRequest` would lose, in one
/// handler between the HTTP/1.1 decoder and that conversion (one rather than two: every
/// keep-alive connection holds each handler in its pipeline; an event stream's connection
/// drops this one once its request is read, see `EventStreamConnection.FirstRequest`).
///
/// - **Bytes that are not a request** are answered as JSON, like every other refusal, and the
///   connection is closed: `431 headers_too_large` for a head over the size limit, `400
///   bad_request` for anything else the decoder refuses (`HTTP/2.0` on the request line, two
///   `Content-Length`s, a control character in a header, a method it does not know). The
///   decoder knows llhttp's list of methods, case-sensitively, and reports bytes that are no
///   method at all (a TLS handshake) the same way, so an unknown method cannot be told apart
///   for RFC 9110's `501`; a known method a route does not serve is the router's `405`. The decoder reads
///   nothing after such bytes, so the connection cannot go on; answers to requests read before
///   them come first. The error goes no further, so nothing else answers it (Hummingbird would,
///   with an empty `400`; before the first request nothing would, and the connection would
///   wait for the idle timeout). Bad bytes inside a request's body (a malformed chunk) end
///   that body with the `400` as its error instead, so the application answers it (with its
///   CORS headers), and the connection is closed after that answer: the request can never be
///   whole, and its reader must not wait for the rest.
/// - **A request in absolute form** (`GET http://api.example.com/api/ping/ HTTP/1.1`) gets the
///   host its target names as its `Host`, as RFC 9112 (3.2.2) requires of an origin server.
///   The conversion keeps only the target's path and takes the authority from `Host`, so the
///   host checks (`ALLOWED_HOSTS`, the CSRF same-origin check) would otherwise judge a host
///   other than the one the request names. An authority that is no host (`user@host`, empty)
///   stays as written, and those checks refuse it as malformed. A target that is neither a
///   path, `*` (`OPTIONS`), an authority (`CONNECT`) nor an `http`/`https` URL is `400
///   bad_request`.
/// - **A request that does not keep the connection alive** (`Connection: close` in any letter
///   case or among other options; HTTP/1.0 without `keep-alive`) is answered with
///   `Connection: close` and the connection is closed after it. (Hummingbird closes only on a
///   header that is exactly `close`, so this one is made so.)
/// - **`Expect: 100-continue`** gets its `100 Continue` at once, so a client that waits for
///   it before sending the body does not stall; not when the declared body is over the limit
///   (the application refuses it with `413` without reading it), and not while an earlier
///   request is still being answered (its answer would be split).
/// - **A transfer coding other than `chunked`** (`Transfer-Encoding: gzip, chunked`) is `501
///   not_implemented` (RFC 9112 6.1): a body this server cannot decode is not read as if it
///   were plain, and the connection is closed after the answer.
final class HTTP1RequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let headersTooLarge = JSONError(
        .init(code: 431, reasonPhrase: "Request Header Fields Too Large"), code: "headers_too_large",
        detail: "The request's head is larger than this server accepts.")
    static let badRequest = JSONError(.badRequest, code: "bad_request", detail: "The request is not valid HTTP/1.1.")
    static let unsupportedTransferCoding = JSONError(
        .notImplemented, code: "not_implemented", detail: "Request bodies may be sent as they are or chunked, nothing else.")

    /// Requests read whose answers have not ended yet.
    private var unanswered = 0
    /// A request's head has been read and its end has not.
    private var readingBody = false
    /// The refusal to write once `unanswered` reaches 0.
    private var refusal: JSONError?
    /// Close the connection once `unanswered` reaches 0 (a request's body was cut short).
    private var closesAfterAnswers = false
    /// Input is dropped: from a refused request's head on, and after the end of the request
    /// that closes the connection.
    private var discardsInput = false
    /// Requests read, and answers begun, since the connection opened.
    private var requestsRead = 0
    private var answersBegun = 0
    /// The number of the request whose answer must say `Connection: close`.
    private var lastRequest: Int?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !discardsInput else { return }
        let part = unwrapInboundIn(data)
        guard case .head(var head) = part else {
            if case .end = part {
                readingBody = false
                // Nothing after the request that closes the connection is answered.
                discardsInput = lastRequest != nil
            }
            context.fireChannelRead(data)
            return
        }
        let authority = Self.authority(ofTarget: head.uri)
        if let refused = Self.refusal(of: head, authority: authority) {
            discardsInput = true
            refusal = refused
            if unanswered == 0 { refuse(context: context) }
            return
        }
        unanswered += 1
        requestsRead += 1
        readingBody = true
        var changed = false
        if let authority {
            head.headers.replaceOrAdd(name: "Host", value: authority)
            changed = true
        }
        if !head.isKeepAlive {
            lastRequest = requestsRead
            if head.headers["connection"] != ["close"] {
                head.headers.replaceOrAdd(name: "Connection", value: "close")
                changed = true
            }
        }
        if unanswered == 1, Self.expectsContinue(head) {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        context.fireChannelRead(changed ? wrapInboundOut(.head(head)) : data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard refusal == nil, !closesAfterAnswers else { return }
        let answer = parserError == .headerOverflow ? Self.headersTooLarge : Self.badRequest
        if readingBody {
            closesAfterAnswers = true
            context.fireErrorCaught(answer)
            if unanswered == 0 { context.close(promise: nil) }
            return
        }
        // Bytes after the request that closes the connection: nothing after it is answered.
        guard lastRequest == nil else { return }
        refusal = answer
        if unanswered == 0 { refuse(context: context) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        if case .head(var head) = part, head.status.code >= 200 {
            answersBegun += 1
            if answersBegun == lastRequest {
                head.headers.replaceOrAdd(name: "Connection", value: "close")
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        }
        guard case .end = part else {
            context.write(data, promise: promise)
            return
        }
        unanswered = max(0, unanswered - 1)
        guard unanswered == 0, closesAfterAnswers else {
            context.write(data, promise: promise)
            if unanswered == 0 { refuse(context: context) }
            return
        }
        let channel = context.channel
        context.writeAndFlush(data).whenComplete { result in
            promise?.completeWith(result)
            channel.close(promise: nil)
        }
    }

    /// Writes the refusal, if there is one, then closes the connection once it is written.
    private func refuse(context: ChannelHandlerContext) {
        guard let refusal else { return }
        let body = refusal.body
        var head = refusal.makeResponse().head
        head.headerFields[.connection] = "close"
        head.headerFields[.cacheControl] = "no-store"
        // Every response varies by Origin (API.md), these too: they carry no CORS headers,
        // since no Origin could be read, and must not be cached for a request that has one.
        head.headerFields[.vary] = "Origin"
        head.headerFields[.date] = HTTPDate.now()
        head.headerFields[.contentLength] = String(body.readableBytes)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(head))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Why a request is refused before it reaches the application, if it is; `authority` is
    /// its target's (`authority(ofTarget:)`). Every request passes here: the header lists are
    /// split only when the header is there.
    static func refusal(of head: HTTPRequestHead, authority: String?) -> JSONError? {
        if head.headers.contains(name: "transfer-encoding"),
            !head.headers[canonicalForm: "transfer-encoding"].allSatisfy({ $0.lowercased() == "chunked" })
        {
            return unsupportedTransferCoding
        }
        switch head.uri.utf8.first {
        case UInt8(ascii: "/"), UInt8(ascii: "*"):
            return nil
        default:
            return head.method == .CONNECT || authority != nil ? nil : badRequest
        }
    }

    /// Whether the client waits for `100 Continue` before sending a body it may send.
    static func expectsContinue(_ head: HTTPRequestHead) -> Bool {
        guard head.version == .http1_1, head.headers.contains(name: "expect"),
            head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" })
        else { return false }
        let declared = head.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
        return declared <= JSONBody.maxSize
    }

    /// The authority of an absolute-form target (`http://` or `https://`, any letter case):
    /// what follows the scheme up to the path, query or end. `nil` for any other target.
    static func authority(ofTarget target: String) -> String? {
        guard let first = target.utf8.first, first != UInt8(ascii: "/"), first != UInt8(ascii: "*") else { return nil }
        guard let separator = target.range(of: "://") else { return nil }
        let scheme = target[..<separator.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        let rest = target[separator.upperBound...]
        return String(rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" })
    }
}
