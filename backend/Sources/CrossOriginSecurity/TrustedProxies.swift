import Foundation
import HTTPTypes
import Hummingbird

/// Which peers may speak for the client through `X-Forwarded-Proto` and
/// `X-Forwarded-For`. Anyone else could forge those headers, so they are read only
/// when the TCP peer is one of the configured proxy addresses.
public struct TrustedProxies: Sendable, Equatable {
    public let addresses: Set<String>

    public init(_ addresses: some Sequence<String>) {
        self.addresses = Set(addresses.map { Self.address($0[...]) ?? $0.lowercased() })
    }

    public static let none = TrustedProxies([])

    public func trusts(_ peer: String?) -> Bool {
        guard let peer else { return false }
        return addresses.contains(peer.lowercased())
    }

    /// Whether the client's own connection used HTTPS: behind a trusted proxy, the
    /// right-most `X-Forwarded-Proto` value, the one that proxy appended. Earlier values
    /// came with the request and are the client's to choose.
    public func isSecure(_ request: Request, peer: String?, directlySecure: Bool = false) -> Bool {
        if directlySecure { return true }
        guard trusts(peer), let field = request.headers[values: .xForwardedProto].last,
            let proto = field.split(separator: ",", omittingEmptySubsequences: false).last
        else { return false }
        return proto.trimmingCharacters(in: .whitespaces).lowercased() == "https"
    }

    /// The client's address: the peer itself, or behind trusted proxies the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy, as an address in one
    /// spelling (`address(_:)`), so that the throttles count one client once. An entry
    /// that is no address ends the walk: what lies left of it cannot be told from what
    /// the client wrote, so the client is known only as the peer.
    public func clientAddress(_ request: Request, peer: String?) -> String? {
        guard trusts(peer) else { return peer }
        let chain = request.headers[values: .xForwardedFor]
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        var leftmost = peer
        for entry in chain.reversed() {
            guard let hop = Self.address(entry[...]) else { return peer }
            if !trusts(hop) { return hop }
            leftmost = hop
        }
        return leftmost
    }

    /// An IP address as a proxy may write it, in the one spelling it is kept and counted
    /// by: IPv4 dotted, IPv6 as `inet_ntop` writes it (lower case, zeros compressed), the
    /// port some proxies add left out (`203.0.113.7:41234`, `[2001:db8::1]:443`). `nil`
    /// when the text is no IP address.
    public static func address(_ text: Substring) -> String? {
        if let bare = canonical(text, family: AF_INET) ?? canonical(text, family: AF_INET6) { return bare }
        // With a port: split as a `Host` header's value is.
        guard let host = AllowedHosts.host(ofHostHeader: String(text)) else { return nil }
        if host.hasPrefix("[") { return canonical(host.dropFirst().dropLast(), family: AF_INET6) }
        return canonical(host[...], family: AF_INET)
    }

    /// The address `inet_pton` reads in `text`, written back by `inet_ntop`.
    private static func canonical(_ text: Substring, family: Int32) -> String? {
        var bytes = in6_addr()  // room for either family
        let parsed = String(text).withCString { inet_pton(family, $0, &bytes) }
        guard parsed == 1 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, &bytes, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension HTTPField.Name {
    static let xForwardedProto = Self("X-Forwarded-Proto")!
    static let xForwardedFor = Self("X-Forwarded-For")!
}
