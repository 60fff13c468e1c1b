import Foundation
import HTTPTypes
import Hummingbird

/// Which peers may speak for the client through `X-Forwarded-Proto` and
/// `X-Forwarded-For`. Anyone else could forge those headers, so they are read only
/// when the TCP peer is one of the configured proxy addresses.
public struct TrustedProxies: Sendable, Equatable {
    public let addresses: Set<String>

    public init(_ addresses: some Sequence<String>) {
        self.addresses = Set(addresses.map { $0.lowercased() })
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
    /// `X-Forwarded-For` entry that is not itself a trusted proxy.
    public func clientAddress(_ request: Request, peer: String?) -> String? {
        guard trusts(peer) else { return peer }
        let chain = request.headers[values: .xForwardedFor]
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        for hop in chain.reversed() where !trusts(hop) {
            return hop
        }
        return chain.first ?? peer
    }
}

extension HTTPField.Name {
    static let xForwardedProto = Self("X-Forwarded-Proto")!
    static let xForwardedFor = Self("X-Forwarded-For")!
}
