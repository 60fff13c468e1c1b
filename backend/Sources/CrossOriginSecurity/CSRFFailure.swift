import HTTPTypes
import Hummingbird

/// Why an unsafe request was refused, with Django's wording for each reason.
///
/// The `reason` codes are the stable, machine-readable part: a client may refresh
/// its token and retry once when `isRetryable` is true, never otherwise.
public struct CSRFFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, CaseIterable {
        case originUntrusted = "origin_untrusted"
        case refererMissing = "referer_missing"
        case refererMalformed = "referer_malformed"
        case refererInsecure = "referer_insecure"
        case refererUntrusted = "referer_untrusted"
        case crossSite = "cross_site"
        case cookieMissing = "cookie_missing"
        case cookieMalformed = "cookie_malformed"
        /// The cookie's name came more than once (cookie tossing): a fresh token cannot
        /// cure it, as the copies live at paths or domains the token endpoint may not reach.
        case cookieDuplicated = "cookie_duplicated"
        case tokenMissing = "token_missing"
        case tokenMalformed = "token_malformed"
        case tokenIncorrect = "token_incorrect"

        /// A fresh token can cure these; the origin, referer and cross-site reasons are about who is asking.
        public var isRetryable: Bool {
            switch self {
            case .cookieMissing, .cookieMalformed, .tokenMissing, .tokenMalformed, .tokenIncorrect: true
            default: false
            }
        }
    }

    public let reason: Reason
    public let detail: String

    public init(_ reason: Reason, detail: String) {
        self.reason = reason
        self.detail = detail
    }

    static let tokenSource = "the 'X-Csrftoken' HTTP header"

    static func originUntrusted(_ origin: String) -> Self {
        .init(.originUntrusted, detail: "Origin checking failed - \(origin) does not match any trusted origins.")
    }
    static let refererMissing = Self(.refererMissing, detail: "Referer checking failed - no Referer.")
    static let refererMalformed = Self(.refererMalformed, detail: "Referer checking failed - Referer is malformed.")
    static let refererInsecure = Self(
        .refererInsecure, detail: "Referer checking failed - Referer is insecure while host is secure.")
    static func refererUntrusted(_ referer: String) -> Self {
        .init(.refererUntrusted, detail: "Referer checking failed - \(referer) does not match any trusted origins.")
    }
    static let crossSite = Self(.crossSite, detail: "Cross-site request rejected by Fetch Metadata.")
    static let cookieMissing = Self(.cookieMissing, detail: "CSRF cookie not set.")
    static func cookieMalformed(_ error: CSRFToken.FormatError) -> Self {
        .init(.cookieMalformed, detail: "CSRF cookie \(error.rawValue).")
    }
    static let cookieDuplicated = Self(.cookieDuplicated, detail: "CSRF cookie is set more than once.")
    static let tokenMissing = Self(.tokenMissing, detail: "CSRF token missing.")
    static func tokenMalformed(_ error: CSRFToken.FormatError) -> Self {
        .init(.tokenMalformed, detail: "CSRF token from \(tokenSource) \(error.rawValue).")
    }
    static let tokenIncorrect = Self(.tokenIncorrect, detail: "CSRF token from \(tokenSource) incorrect.")

    /// The `403 {"error": "csrf_failed", "reason": ..., "detail": ...}` answer.
    public var jsonError: JSONError {
        JSONError(.forbidden, code: "csrf_failed", detail: detail, extra: ["reason": reason.rawValue])
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}
