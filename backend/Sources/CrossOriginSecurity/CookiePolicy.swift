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
            case .hostPrefixNeedsSecure(let name): "'\(name)' uses the __Host- prefix, which requires Secure cookies"
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
        if name.hasPrefix("__Host-") {
            guard secure else { throw .hostPrefixNeedsSecure(name) }
            guard domain == nil else { throw .hostPrefixForbidsDomain(name) }
        }
        if name.hasPrefix("__Secure-"), !secure { throw .hostPrefixNeedsSecure(name) }
        if sameSite == .none, !secure { throw .sameSiteNoneNeedsSecure(name) }
        self.name = name
        self.secure = secure
        self.httpOnly = httpOnly
        self.sameSite = sameSite
        self.domain = domain
        self.path = name.hasPrefix("__Host-") ? "/" : path
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

    /// This cookie's value in the request, if the browser sent it (the first one, when
    /// it came twice). An empty value is `""`, not `nil`: as in Django, a cookie that is
    /// there but empty is malformed rather than missing.
    ///
    /// Scans the `Cookie` header for this one name instead of `request.cookies`, which
    /// splits every cookie of the header into strings on each lookup; this runs for both
    /// cookies on every request.
    public func value(in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            if let value = Self.value(named: name, inCookieHeader: header) { return value }
        }
        return nil
    }

    /// The value of the first `name=value` pair of a `Cookie` header whose name is
    /// `name`, pairs being separated by `;` and optional white space.
    static func value(named name: String, inCookieHeader header: String) -> String? {
        var name = name
        return name.withUTF8 { name in
            let bytes = Array(header.utf8)
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
                    return String(decoding: bytes[(nameEnd + 1)..<end], as: UTF8.self)
                }
                index = end + 1
            }
            return nil
        }
    }

    /// RFC 6265 `token`: visible ASCII except separators.
    private static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.value > 0x20, scalar.value < 0x7F else { return false }
        return !"()<>@,;:\\\"/[]?={}".unicodeScalars.contains(scalar)
    }
}
