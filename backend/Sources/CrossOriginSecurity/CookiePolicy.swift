import Foundation
import HTTPTypes
import Hummingbird

/// How one cookie is written: its name and attributes, validated once at start-up.
///
/// Browsers enforce the `__Host-` prefix strictly (Secure, `Path=/`, no Domain) and
/// drop `SameSite=None` without Secure, so both are configuration errors here rather
/// than cookies that silently never come back.
public struct CookiePolicy: Sendable, Equatable {
    public enum SameSite: String, Sendable, CaseIterable {
        case strict = "Strict"
        case lax = "Lax"
        case none = "None"

        /// Accepts any letter case, as settings are typed by people.
        public init?(setting: String) {
            guard let match = Self.allCases.first(where: { $0.rawValue.lowercased() == setting.lowercased() }) else {
                return nil
            }
            self = match
        }

        var hummingbird: Cookie.SameSite {
            switch self {
            case .strict: .strict
            case .lax: .lax
            case .none: .none
            }
        }
    }

    public enum ValidationError: Error, Equatable, CustomStringConvertible {
        case invalidName(String)
        case hostPrefixNeedsSecure(String)
        case hostPrefixForbidsDomain(String)
        case sameSiteNoneNeedsSecure(String)

        public var description: String {
            switch self {
            case .invalidName(let name): "'\(name)' is not a valid cookie name"
            case .hostPrefixNeedsSecure(let name): "'\(name)' uses the __Host- or __Secure- prefix, which requires Secure cookies"
            case .hostPrefixForbidsDomain(let name): "'\(name)' uses the __Host- prefix, which forbids a cookie domain"
            case .sameSiteNoneNeedsSecure(let name): "'\(name)' has SameSite=None, which browsers accept only with Secure"
            }
        }
    }

    public let name: String
    public let secure: Bool
    public let httpOnly: Bool
    public let sameSite: SameSite
    public let domain: String?
    public let path: String
    /// Lifetime in seconds; `nil` makes a browser-session cookie.
    public let maxAge: Int?

    public init(
        name: String,
        secure: Bool = false,
        httpOnly: Bool = true,
        sameSite: SameSite = .lax,
        domain: String? = nil,
        path: String = "/",
        maxAge: Int? = nil
    ) throws(ValidationError) {
        guard !name.isEmpty, name.unicodeScalars.allSatisfy(Self.isTokenCharacter) else { throw .invalidName(name) }
        if Self.hasHostPrefix(name) {
            guard secure else { throw .hostPrefixNeedsSecure(name) }
            guard domain == nil else { throw .hostPrefixForbidsDomain(name) }
        }
        if Self.hasSecurePrefix(name), !secure { throw .hostPrefixNeedsSecure(name) }
        if sameSite == .none, !secure { throw .sameSiteNoneNeedsSecure(name) }
        self.name = name
        self.secure = secure
        self.httpOnly = httpOnly
        self.sameSite = sameSite
        self.domain = domain
        self.path = Self.hasHostPrefix(name) ? "/" : path
        self.maxAge = maxAge
    }

    /// The cookie carrying `value`, with this policy's attributes.
    public func cookie(value: String, maxAge: Int? = nil) -> Cookie {
        let lifetime = maxAge ?? self.maxAge
        return Cookie(
            name: name,
            value: value,
            expires: lifetime.map { Date(timeIntervalSinceNow: TimeInterval($0)) },
            maxAge: lifetime,
            domain: domain,
            path: path,
            secure: secure,
            httpOnly: httpOnly,
            sameSite: sameSite.hummingbird
        )
    }

    /// A cookie that makes the browser forget this one.
    public func expiredCookie() -> Cookie {
        Cookie(
            name: name,
            value: "",
            expires: Date(timeIntervalSince1970: 0),
            maxAge: 0,
            domain: domain,
            path: path,
            secure: secure,
            httpOnly: httpOnly,
            sameSite: sameSite.hummingbird
        )
    }

    /// What a request carries under one cookie name.
    public enum Lookup: Sendable, Equatable {
        case absent
        /// Sent once. An empty value is `""`: as in Django, a cookie that is there but
        /// empty is malformed rather than missing.
        case value(String)
        /// Sent more than once. Browsers send every cookie whose domain and path match,
        /// longest path first, so a copy planted by a sibling subdomain or a man-in-the-
        /// middle (cookie tossing) comes before ours: no copy can be trusted, and none is
        /// picked.
        case duplicated

        /// The value when the cookie came exactly once.
        public var value: String? {
            if case .value(let value) = self { return value }
            return nil
        }
    }

    /// This cookie in the request's `Cookie` field(s).
    ///
    /// Scans the header bytes for this one name instead of `request.cookies`, which
    /// splits every cookie of the header into strings on each lookup; this runs for both
    /// cookies on every request. One pass, which continues past the first match only to
    /// see whether the name comes again.
    public func lookup(in request: Request) -> Lookup {
        var found = Lookup.absent
        for header in request.headers[values: .cookie] {
            Self.scan(header, for: name, into: &found)
            if found == .duplicated { break }
        }
        return found
    }

    /// Adds the `name=value` pairs of one `Cookie` header named `name` to `found`, pairs
    /// being separated by `;` and optional white space.
    static func scan(_ header: String, for name: String, into found: inout Lookup) {
        var header = header
        var name = name
        header.withUTF8 { bytes in
            name.withUTF8 { name in
                var index = 0
                while index < bytes.count {
                    while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
                        index += 1
                    }
                    var end = index
                    while end < bytes.count, bytes[end] != UInt8(ascii: ";") { end += 1 }
                    let nameEnd = index + name.count
                    if nameEnd < end, bytes[nameEnd] == UInt8(ascii: "="),
                        bytes[index..<nameEnd].elementsEqual(name)
                    {
                        guard case .absent = found else {
                            found = .duplicated
                            return
                        }
                        found = .value(String(decoding: UnsafeBufferPointer(rebasing: bytes[(nameEnd + 1)..<end]), as: UTF8.self))
                    }
                    index = end + 1
                }
            }
        }
    }

    /// The lookup of one `Cookie` header on its own.
    static func lookup(named name: String, inCookieHeader header: String) -> Lookup {
        var found = Lookup.absent
        scan(header, for: name, into: &found)
        return found
    }

    /// Whether a cookie name has the `__Host-` prefix, whose rules browsers apply in any
    /// letter case (RFC 6265bis; `__host-sid` is held to them too).
    public static func hasHostPrefix(_ name: String) -> Bool {
        name.utf8.count >= 7 && name.prefix(7).lowercased() == "__host-"
    }

    /// Whether a cookie name has the `__Secure-` prefix, in any letter case.
    public static func hasSecurePrefix(_ name: String) -> Bool {
        name.utf8.count >= 9 && name.prefix(9).lowercased() == "__secure-"
    }

    /// Cookies that make the browser forget copies of this one planted at the other paths
    /// a request for `requestPath` carries cookies from (its prefixes: `/api`, `/api/`,
    /// `/api/todos`...), leaving ours, at `path`, alone. Sent with a `duplicated` answer so
    /// that a host-only copy tossed at such a path is gone on the next request.
    ///
    /// A copy planted with a `Domain` (by a sibling subdomain) is kept unless its domain is
    /// this policy's: the server cannot learn a cookie's domain, and the browser erases only
    /// an exact (name, domain, path) match. The `__Host-` prefix prevents tossing altogether;
    /// for it there is nothing to send (and browsers refuse it at other paths anyway).
    public func expiredCookies(shadowing requestPath: String) -> [Cookie] {
        guard !Self.hasHostPrefix(name) else { return [] }
        var paths: [Substring] = ["/"]
        let utf8 = requestPath.utf8
        var index = utf8.startIndex
        while index < utf8.endIndex, paths.count < Self.maxShadowingPaths {
            let next = utf8.index(after: index)
            if utf8[index] == UInt8(ascii: "/"), index != utf8.startIndex {
                paths.append(requestPath[..<index])
                paths.append(requestPath[..<next])
            } else if next == utf8.endIndex {
                paths.append(requestPath[...])
            }
            index = next
        }
        var seen = Set<Substring>()
        return paths.filter { $0 != path[...] && seen.insert($0).inserted }.map { shadowingPath in
            Cookie(
                name: name, value: "", expires: Date(timeIntervalSince1970: 0), maxAge: 0, domain: domain,
                path: String(shadowingPath), secure: secure, httpOnly: httpOnly, sameSite: sameSite.hummingbird)
        }
    }

    /// Bounds the answer for a deep path; attackers need only the short prefixes.
    static let maxShadowingPaths = 16

    /// RFC 6265 `token`: visible ASCII except separators.
    private static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.value > 0x20, scalar.value < 0x7F else { return false }
        return !"()<>@,;:\\\"/[]?={}".unicodeScalars.contains(scalar)
    }
}
