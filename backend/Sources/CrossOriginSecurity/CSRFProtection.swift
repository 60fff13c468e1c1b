import HTTPTypes
import Hummingbird
import Logging

/// What a request context must tell the CSRF layer about the request.
///
/// Both are facts the application knows better than the middleware: whether the
/// request arrived over HTTPS (perhaps through a proxy it trusts), and which
/// secret the request's session is bound to, if the application binds them.
public protocol CSRFRequestContext: RequestContext {
    /// The secret the request's logged-in session was issued with, or `nil` when the
    /// request has no such session and the cookie alone holds the secret.
    var csrfBoundSecret: String? { get }
    /// Whether the client reached us over HTTPS; it turns on the strict Referer check.
    var isSecureRequest: Bool { get }
}

/// Django's CSRF algorithm as a value: configure it once, then ask it to check a
/// request, to issue a token, or to rotate the secret.
public struct CSRFProtection: Sendable {
    public let cookie: CookiePolicy
    public let trustedOrigins: TrustedOrigins
    public let headerName: HTTPField.Name

    /// Django's default cookie lifetime: one year.
    public static let defaultCookieMaxAge = 31_449_600

    /// - Parameters:
    ///   - cookie: the secret's cookie; keep it HttpOnly, the page gets its token from the token endpoint.
    ///   - trustedOrigins: origins allowed to send unsafe requests besides the API's own.
    public init(cookie: CookiePolicy, trustedOrigins: TrustedOrigins, headerName: HTTPField.Name = .init("X-CSRFToken")!) {
        self.cookie = cookie
        self.trustedOrigins = trustedOrigins
        self.headerName = headerName
    }

    public static func isSafe(_ method: HTTPRequest.Method) -> Bool {
        method == .get || method == .head || method == .options || method == .trace
    }

    // MARK: Checking

    /// The whole check for an unsafe request, in the contract's order; `nil` means it passes.
    public func check(_ request: Request, isSecure: Bool, boundSecret: String?) -> CSRFFailure? {
        if let origin = request.headers[.origin] {
            if !isTrustedOrigin(origin, request: request, isSecure: isSecure) {
                return .originUntrusted(origin)
            }
        } else {
            if isSecure, let failure = checkReferer(request) {
                return failure
            }
            if request.headers[.secFetchSite]?.lowercased() == "cross-site" {
                return .crossSite
            }
        }
        return checkToken(request, boundSecret: boundSecret)
    }

    /// Whether `origin` is the request's own (same scheme and host) or a trusted one.
    public func isTrustedOrigin(_ origin: String, request: Request, isSecure: Bool) -> Bool {
        if let host = Self.host(of: request), origin == (isSecure ? "https://" : "http://") + host {
            return true
        }
        return trustedOrigins.allows(origin)
    }

    /// Whether a request, even one that only reads, comes from a page this server does not
    /// trust: an untrusted `Origin`, or no `Origin` and a browser's `Sec-Fetch-Site` naming
    /// another site (a navigation or a subresource, which carry `SameSite=Lax` cookies and no
    /// `Origin`). For routes a foreign page must not start with the user's cookies even
    /// without reading the answer, such as an event stream.
    public func isFromForeignPage(_ request: Request, isSecure: Bool) -> Bool {
        if let origin = request.headers[.origin] {
            return !isTrustedOrigin(origin, request: request, isSecure: isSecure)
        }
        switch request.headers[.secFetchSite]?.lowercased() {
        case "cross-site", "same-site": return true
        default: return false
        }
    }

    /// Django's strict Referer check, used over HTTPS when `Origin` is absent.
    func checkReferer(_ request: Request) -> CSRFFailure? {
        guard let referer = request.headers[.referer] else { return .refererMissing }
        guard let (scheme, netloc) = Self.splitURL(referer) else { return .refererMalformed }
        guard scheme == "https" else { return .refererInsecure }
        if let origin = OriginPattern(urlOrigin: "https://" + netloc), trustedOrigins.allows(origin) {
            return nil
        }
        if let domain = cookie.domain {
            if Self.isSameDomain(netloc.lowercased(), domain.lowercased()) { return nil }
        } else if let host = Self.host(of: request), netloc.lowercased() == host.lowercased() {
            return nil
        }
        return .refererUntrusted(referer)
    }

    func checkToken(_ request: Request, boundSecret: String?) -> CSRFFailure? {
        let cookieValue: String
        switch cookie.lookup(in: request) {
        case .absent: return .cookieMissing
        case .duplicated: return .cookieDuplicated
        case .value(let value): cookieValue = value
        }
        do throws(CSRFToken.FormatError) {
            try CSRFToken.validateFormat(cookieValue)
        } catch {
            return .cookieMalformed(error)
        }
        let cookieSecret = CSRFToken.secret(fromToken: cookieValue)

        guard let token = request.headers[headerName] else { return .tokenMissing }
        do throws(CSRFToken.FormatError) {
            try CSRFToken.validateFormat(token)
        } catch {
            return .tokenMalformed(error)
        }
        // A session's own secret wins over the cookie: a cookie planted by someone who
        // knows its token must not stand in for the secret this session was given.
        let expected = boundSecret ?? cookieSecret
        return CSRFToken.token(token, matchesSecret: expected) ? nil : .tokenIncorrect
    }

    // MARK: Issuing and rotating

    /// The well-formed secret in the request's cookie, if it came exactly once.
    public func cookieSecret(in request: Request) -> String? {
        secret(in: cookie.lookup(in: request))
    }

    private func secret(in lookup: CookiePolicy.Lookup) -> String? {
        guard let value = lookup.value, (try? CSRFToken.validateFormat(value)) != nil else { return nil }
        return CSRFToken.secret(fromToken: value)
    }

    /// A freshly masked token for the request, and the cookies to set: the secret's when
    /// the browser does not already hold the right one (missing, malformed, not the
    /// session's, or sent more than once), and with a duplicated cookie, expired copies at
    /// the paths that can shadow ours. A duplicated cookie's values are never adopted: the
    /// secret is the session's, or a new one.
    public func issueToken(for request: Request, boundSecret: String?) -> (token: String, cookies: [Cookie]) {
        let current = cookie.lookup(in: request)
        let secret = boundSecret ?? self.secret(in: current) ?? CSRFToken.makeSecret()
        var cookies: [Cookie] = []
        if current == .duplicated {
            cookies = cookie.expiredCookies(shadowing: request.uri.path)
        }
        if current.value != secret {
            cookies.append(makeCookie(secret: secret))
        }
        return (CSRFToken.mask(secret), cookies)
    }

    /// A new secret and its cookie: used at log-in, sign-up and log-out so that tokens
    /// fetched before no longer pass.
    public func rotate() -> (secret: String, cookie: Cookie) {
        let secret = CSRFToken.makeSecret()
        return (secret, makeCookie(secret: secret))
    }

    public func makeCookie(secret: String) -> Cookie {
        cookie.cookie(value: secret)
    }

    // MARK: URL helpers

    static func host(of request: Request) -> String? {
        request.head.authority
    }

    /// `urlsplit`'s scheme and netloc, or `nil` when either is empty.
    static func splitURL(_ url: String) -> (scheme: String, netloc: String)? {
        guard let separator = url.range(of: "://") else { return nil }
        let scheme = url[..<separator.lowerBound]
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { return nil }
        let rest = url[separator.upperBound...]
        let netloc = rest.prefix { !"/?#".contains($0) }
        guard !netloc.isEmpty, !netloc.contains(where: { $0 == " " || $0 == "[" && !netloc.contains("]") }) else { return nil }
        return (scheme.lowercased(), String(netloc))
    }

    /// Django's `is_same_domain`: a pattern starting with `.` matches the domain and its subdomains.
    static func isSameDomain(_ host: String, _ pattern: String) -> Bool {
        if pattern.hasPrefix(".") {
            return host.hasSuffix(pattern) || host == pattern.dropFirst()
        }
        return host == pattern
    }
}

/// Refuses unsafe requests that fail `CSRFProtection.check`, with a 403 JSON payload
/// naming the reason and a warning log line. Safe methods pass untouched, and so do
/// requests the application exempts.
public struct CSRFMiddleware<Context: CSRFRequestContext>: RouterMiddleware {
    /// Decides, for an unsafe request, whether it skips the check.
    public typealias Exemption = @Sendable (Request, Context) -> Bool

    let protection: CSRFProtection
    let isExempt: Exemption?

    /// - Parameters:
    ///   - exempting: answers `true` for unsafe requests that skip the check. CSRF is a
    ///     request riding on credentials the browser attaches by itself, so exempt only a
    ///     request that carries none the application would honour: no session cookie (or
    ///     any cookie it authenticates by), no remembered HTTP authentication, no TLS
    ///     client certificate, only a credential that a script must set explicitly,
    ///     such as an `Authorization: Bearer` token (which a page on another origin can
    ///     send only after a CORS preflight the API grants, and only if it knows the
    ///     token). Such a request must then be authenticated by that credential alone,
    ///     never fall back to a cookie. Called only for unsafe methods.
    public init(protection: CSRFProtection, exempting isExempt: Exemption? = nil) {
        self.protection = protection
        self.isExempt = isExempt
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if !CSRFProtection.isSafe(request.method),
            isExempt?(request, context) != true,
            let failure = protection.check(request, isSecure: context.isSecureRequest, boundSecret: context.csrfBoundSecret)
        {
            context.logger.warning(
                "CSRF check failed",
                metadata: ["csrf.reason": .string(failure.reason.rawValue), "http.path": .string(request.uri.path)]
            )
            var error = failure.jsonError
            if failure.reason == .cookieDuplicated {
                // The refusal itself erases host-only copies tossed at this path's prefixes,
                // so a reload can succeed (the client does not retry this reason).
                for expired in protection.cookie.expiredCookies(shadowing: request.uri.path) {
                    error.headers.append(HTTPField(name: .setCookie, value: expired.description))
                }
            }
            throw error
        }
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
}

extension CSRFProtection {
    /// The token endpoint's answer: `200 {"csrfToken": "<64 characters>"}`, never
    /// cached, setting the cookie when the browser lacks the right secret.
    public func tokenResponse(for request: Request, boundSecret: String?) -> Response {
        let (token, cookies) = issueToken(for: request, boundSecret: boundSecret)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        var response = Response(
            status: .ok,
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: JSONText.object([("csrfToken", token)])))
        )
        for cookie in cookies { response.setCookie(cookie) }
        return response
    }
}
