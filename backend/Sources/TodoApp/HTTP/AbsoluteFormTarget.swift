import NIOCore
import NIOHTTP1

/// Gives a request sent in absolute form (`GET http://api.example.com/api/ping/ HTTP/1.1`)
/// the host its target names, as RFC 9112 (section 3.2.2) requires of an origin server: the
/// `Host` header is then ignored and replaced by the target's authority.
///
/// Why: the conversion to `HTTPRequest` keeps only the target's path and takes the authority
/// from `Host`, so without this the host checks (`ALLOWED_HOSTS`, the CSRF same-origin check)
/// would judge a host other than the one the request names. An authority that is no host
/// (`user@host`, empty) stays as written, and those checks refuse it as malformed.
final class AbsoluteFormTarget: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), let authority = Self.authority(ofTarget: head.uri) else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "Host", value: authority)
        context.fireChannelRead(wrapInboundOut(.head(head)))
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
