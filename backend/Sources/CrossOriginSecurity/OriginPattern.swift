import Foundation

/// One entry of an origin allowlist: an exact origin (`https://app.example.com`,
/// `http://localhost:3000`) or a wildcard over the subdomains of a host
/// (`https://*.example.com`).
///
/// Origins are compared as (scheme, host, port) triples, so a look-alike such as
/// `http://localhost:3000.evil.com` never matches `http://localhost:3000`. Configured
/// entries are normalised (case, default port); an `Origin` header must already be in
/// the serialised form browsers send, or it matches nothing (see `init?(origin:)`).
public struct OriginPattern: Sendable, Hashable, CustomStringConvertible {
    public let scheme: String
    /// The host, or for a wildcard the parent domain (`example.com` for `*.example.com`).
    public let host: String
    public let port: Int?
    public let matchesSubdomains: Bool

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case missingScheme(String)
        case unsupportedScheme(String)
        case hasPath(String)
        case invalidHost(String)
        case invalidPort(String)

        public var description: String {
            switch self {
            case .missingScheme(let value): "'\(value)' has no scheme; write it as scheme://host[:port]"
            case .unsupportedScheme(let value): "'\(value)' must use http or https"
            case .hasPath(let value): "'\(value)' must be an origin only, without a path, query or fragment"
            case .invalidHost(let value): "'\(value)' has no valid host"
            case .invalidPort(let value): "'\(value)' has an invalid port"
            }
        }
    }

    /// Parses a configured allowlist entry; wildcards (`*.`) are allowed here only.
    public init(parsing entry: String) throws(ParseError) {
        try self.init(entry, allowWildcard: true)
    }

    /// Parses the value of an `Origin` header: `nil` for anything that is not an http(s)
    /// origin serialised as RFC 6454 (and every browser) writes it — lower-case scheme
    /// and host, no default port, a port without leading zeros, nothing after it. So an
    /// allowed origin has exactly one accepted spelling, the one echoed back by CORS.
    public init?(origin: some StringProtocol) {
        guard let parsed = OriginPattern(urlOrigin: origin), parsed.description == origin else { return nil }
        self = parsed
    }

    /// Parses the scheme and authority of a URL (as in a `Referer`), normalising case and
    /// the default port; `nil` for anything that is not a plain http(s) origin.
    public init?(urlOrigin: some StringProtocol) {
        guard let parsed = try? OriginPattern(String(urlOrigin), allowWildcard: false) else { return nil }
        self = parsed
    }

    init(scheme: String, host: String, port: Int?, matchesSubdomains: Bool = false) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.matchesSubdomains = matchesSubdomains
    }

    private init(_ value: String, allowWildcard: Bool) throws(ParseError) {
        guard let separator = value.range(of: "://") else { throw .missingScheme(value) }
        let scheme = value[..<separator.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { throw .unsupportedScheme(value) }
        let authority = value[separator.upperBound...]
        guard !authority.contains(where: { "/?#@\\".contains($0) }) else { throw .hasPath(value) }

        var hostPart = Substring(authority)
        var port: Int?
        if let colon = authority.lastIndex(of: ":"), !authority.hasPrefix("[") || authority[..<colon].hasSuffix("]") {
            let portText = authority[authority.index(after: colon)...]
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit),
                let number = Int(portText), (1...65535).contains(number)
            else { throw .invalidPort(value) }
            port = number
            hostPart = authority[..<colon]
        }
        var host = hostPart.lowercased()
        var wildcard = false
        if host.hasPrefix("*.") {
            guard allowWildcard else { throw .invalidHost(value) }
            wildcard = true
            host.removeFirst(2)
        }
        guard Self.isValidHost(host) else { throw .invalidHost(value) }
        let defaultPort = scheme == "https" ? 443 : 80
        self.init(scheme: scheme, host: host, port: port == defaultPort ? nil : port, matchesSubdomains: wildcard)
    }

    private static func isValidHost(_ host: String) -> Bool {
        if host.hasPrefix("[") && host.hasSuffix("]") {
            return host.count > 2 && host.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        guard !host.isEmpty, host.utf8.count <= 253, !host.hasPrefix("."), !host.hasSuffix("."), !host.contains("..")
        else { return false }
        return host.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "." }
    }

    /// Whether `origin` (a concrete, non-wildcard origin) is allowed by this entry.
    public func matches(_ origin: OriginPattern) -> Bool {
        guard origin.scheme == scheme, origin.port == port, !origin.matchesSubdomains else { return false }
        if matchesSubdomains {
            return origin.host.hasSuffix("." + host)
        }
        return origin.host == host
    }

    /// The serialised origin, as a browser sends it in `Origin`.
    public var description: String {
        let portSuffix = port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(matchesSubdomains ? "*." : "")\(host)\(portSuffix)"
    }
}

/// An allowlist of origins, parsed once at start-up.
public struct TrustedOrigins: Sendable, Hashable {
    public let patterns: [OriginPattern]
    /// The exact entries as browsers serialise them, so the usual `Origin` header is
    /// recognised by one lookup instead of a parse on every request.
    private let exactOrigins: Set<String>

    public init(_ patterns: [OriginPattern]) {
        self.patterns = patterns
        self.exactOrigins = Set(patterns.filter { !$0.matchesSubdomains }.map(\.description))
    }

    /// Parses a comma-separated list such as `FRONTEND_ORIGINS`; empty entries are skipped.
    public init(parsing list: String) throws(OriginPattern.ParseError) {
        var patterns: [OriginPattern] = []
        for entry in list.split(separator: ",") {
            let trimmed = entry.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            patterns.append(try OriginPattern(parsing: trimmed))
        }
        self.init(patterns)
    }

    /// Whether the raw value of an `Origin` header names an allowed origin, in its
    /// serialised form (see `OriginPattern(origin:)`).
    public func allows(_ origin: some StringProtocol) -> Bool {
        if exactOrigins.contains(String(origin)) { return true }
        guard let parsed = OriginPattern(origin: origin) else { return false }
        return allows(parsed)
    }

    public func allows(_ origin: OriginPattern) -> Bool {
        patterns.contains { $0.matches(origin) }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
