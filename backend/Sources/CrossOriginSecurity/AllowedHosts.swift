import HTTPTypes
import Hummingbird
import Logging

/// The host names a server answers for, with Django's `ALLOWED_HOSTS` meaning.
///
/// Each entry is an exact host name (`api.example.com`, `127.0.0.1`, `[::1]`), a domain with
/// a leading dot (`.example.com`: that domain and every subdomain of it), or `*` (any
/// well-formed host). Hosts are compared ignoring letter case, the port and one trailing dot.
/// An empty list checks no names. With a list, a `Host` that is not a host name or bracketed
/// IPv6 address with an optional numeric port is malformed and never allowed (Django's
/// pattern); `HostValidationMiddleware` refuses a missing, repeated or RFC-invalid `Host`
/// whatever the list.
///
/// Why it matters: code that builds the server's own origin from `Host` (the CSRF same-origin
/// check, absolute URLs) must not take a forged value at face value; and a server reached
/// under a name it does not own (DNS rebinding) should refuse to answer.
public struct AllowedHosts: Sendable, Equatable {
    public enum Entry: Sendable, Hashable, CustomStringConvertible {
        /// `*`: any well-formed host.
        case any
        /// An exact host name or IP literal, lower-case, without a trailing dot.
        case exact(String)
        /// `.example.com`: `example.com` and all its subdomains (stored without the dot).
        case domain(String)

        public var description: String {
            switch self {
            case .any: "*"
            case .exact(let host): host
            case .domain(let domain): "." + domain
            }
        }
    }

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let entry: String
        public let reason: String
        public var description: String { "'\(entry)' \(reason)" }
    }

    public let entries: [Entry]

    /// No check: every request is served whatever its `Host`.
    public static let unchecked = AllowedHosts(entries: [])

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// Parses a comma-separated list such as the `ALLOWED_HOSTS` setting; empty entries are skipped.
    public init(parsing list: String) throws(ParseError) {
        var entries: [Entry] = []
        for item in list.split(separator: ",") {
            let text = item.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            entries.append(try Self.parseEntry(text))
        }
        self.init(entries: entries)
    }

    /// Whether any check is made (an empty list allows every request, as if unset).
    public var isEnabled: Bool { !entries.isEmpty }

    /// Whether the value of a request's `Host` header names a host this server answers for.
    /// `nil` (no `Host`) is allowed only when the check is off.
    public func allows(hostHeader: String?) -> Bool {
        guard isEnabled else { return true }
        guard let hostHeader, let host = Self.host(ofHostHeader: hostHeader) else { return false }
        return allows(host: host)
    }

    /// Whether a host already split from its port and normalised (see `host(ofHostHeader:)`) is allowed.
    public func allows(host: String) -> Bool {
        guard isEnabled else { return true }
        return entries.contains { entry in
            switch entry {
            case .any: true
            case .exact(let name): host == name
            case .domain(let domain): host == domain || (host.hasSuffix(domain) && host.dropLast(domain.count).hasSuffix("."))
            }
        }
    }

    /// The host part of a `Host` header value, lower-cased and without port or trailing dot;
    /// `nil` when the value is malformed. Django's `split_domain_port` with its
    /// `host_validation_re`: `[a-z0-9.-]+` or `[` IPv6 `]`, then an optional `:digits`.
    public static func host(ofHostHeader value: String) -> String? {
        let lowered = value.lowercased()
        var host = Substring(lowered)
        if lowered.hasPrefix("[") {
            guard let close = lowered.firstIndex(of: "]") else { return nil }
            let inside = lowered[lowered.index(after: lowered.startIndex)..<close]
            guard inside.contains(":"), inside.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == ":" || $0 == ".") }) else { return nil }
            host = lowered[...close]
            guard isPortSuffix(lowered[lowered.index(after: close)...]) else { return nil }
            return String(host)
        }
        if let colon = lowered.firstIndex(of: ":") {
            guard isPortSuffix(lowered[colon...]) else { return nil }
            host = lowered[..<colon]
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") })
        else { return nil }
        if host.hasSuffix(".") { host = host.dropLast() }
        return host.isEmpty ? nil : String(host)
    }

    /// Whether a `Host` header value is `uri-host [":" port]` (RFC 3986, 3.2.2; RFC 9112, 3.2)
    /// with a non-empty host, as an `http` URI needs: an IP literal in brackets, or a
    /// registered name of unreserved characters, sub-delimiters and percent-escapes, which
    /// allows more than `host(ofHostHeader:)` (an underscore, for one).
    public static func isWellFormed(hostHeader value: String) -> Bool {
        let bytes = Array(value.utf8)
        var index = 0
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let inside = bytes[1..<close]
            guard inside.contains(UInt8(ascii: ":")),
                inside.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { return false }
            index = close + 1
        } else {
            while index < bytes.count, bytes[index] != UInt8(ascii: ":") {
                let byte = bytes[index]
                if byte == UInt8(ascii: "%") {
                    guard index + 2 < bytes.count, isHexDigit(bytes[index + 1]), isHexDigit(bytes[index + 2]) else { return false }
                    index += 3
                    continue
                }
                guard isRegNameCharacter(byte) else { return false }
                index += 1
            }
            guard index > 0 else { return false }
        }
        guard index < bytes.count else { return true }
        return bytes[index] == UInt8(ascii: ":") && bytes[(index + 1)...].allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20)
    }

    /// RFC 3986's unreserved characters and sub-delimiters.
    private static func isRegNameCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "-._~!$&'()*+,;=".utf8.contains(byte)
        }
    }

    /// Empty, or `:` followed by one or more digits.
    private static func isPortSuffix(_ text: Substring) -> Bool {
        guard let first = text.first else { return true }
        let digits = text.dropFirst()
        return first == ":" && !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    private static func parseEntry(_ text: String) throws(ParseError) -> Entry {
        if text == "*" { return .any }
        if text.contains("://") || text.contains("/") {
            throw ParseError(entry: text, reason: "must be a host name only, without scheme or path")
        }
        if text.hasPrefix("*") {
            throw ParseError(entry: text, reason: "is not supported; write .example.com for a domain and its subdomains")
        }
        let isDomain = text.hasPrefix(".")
        let name = (isDomain ? String(text.dropFirst()) : text).lowercased()
        // A well-formed entry is exactly what `host(ofHostHeader:)` keeps of a `Host`
        // header: so no port, and no second leading dot.
        guard let host = Self.host(ofHostHeader: name), host == name || host + "." == name,
            !host.hasPrefix("."), !host.contains(".."), !(isDomain && host.hasPrefix("["))
        else {
            let hasPort = Self.host(ofHostHeader: name) != nil && name.last?.isNumber == true && name.contains(":")
            throw ParseError(
                entry: text, reason: hasPort ? "must not name a port (ports are ignored)" : "is not a host name, .domain or *")
        }
        return isDomain ? .domain(host) : .exact(host)
    }
}

/// Refuses requests whose `Host` is missing, repeated or malformed, or (when the list is
/// not empty) not in an `AllowedHosts` list, with `400 {"error": "bad_host", "detail": ...}`
/// and a warning log line.
///
/// Only the `Host` header (HTTP/2's `:authority`) is read, never `X-Forwarded-Host`: a proxy in
/// front must pass the client's `Host` through (nginx: `proxy_set_header Host $http_host`).
/// Add it inside `CORSMiddleware` (so the refusal stays readable by allowed origins) and
/// before `CSRFMiddleware`, whose same-origin check trusts the host it is given.
public struct HostValidationMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowed: AllowedHosts

    public init(allowed: AllowedHosts) {
        self.allowed = allowed
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // A second `Host` header stays among the fields (the first became the authority).
        // RFC 9112 (3.2): a request without a `Host`, with two, or with one that is not
        // `uri-host [":" port]` is a 400 whatever the list; the list only narrows the names.
        let repeated = request.headers[.host] != nil
        let authority = request.head.authority
        guard !repeated, let authority, AllowedHosts.isWellFormed(hostHeader: authority) else {
            throw refusal(
                "Host header missing or malformed", host: authority ?? "", request: request, context: context,
                detail: repeated ? "The request has more than one Host header." : "The Host header is missing or malformed.")
        }
        guard allowed.isEnabled else { return try await next(request, context) }
        guard let host = AllowedHosts.host(ofHostHeader: authority) else {
            throw refusal(
                "Host header missing or malformed", host: authority, request: request, context: context,
                detail: "The Host header is missing or malformed.")
        }
        guard allowed.allows(host: host) else {
            throw refusal(
                "Host not allowed", host: host, request: request, context: context,
                detail: "The host '\(host)' is not served here.")
        }
        return try await next(request, context)
    }

    /// The `bad_host` answer, logged as a warning.
    private func refusal(_ message: Logger.Message, host: String, request: Request, context: Context, detail: String) -> JSONError {
        context.logger.warning(
            message, metadata: ["http.host": .string(String(host.prefix(100))), "http.path": .string(request.uri.path)])
        return JSONError(.badRequest, code: "bad_host", detail: detail)
    }
}

extension HTTPField.Name {
    static let host = Self("Host")!
}
