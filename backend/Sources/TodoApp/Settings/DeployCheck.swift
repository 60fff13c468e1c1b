import CrossOriginSecurity
import Logging

/// A production review of the settings, in the spirit of Django's `check --deploy`: each
/// finding has a stable id, a level and one sentence saying what breaks and what to change.
///
/// Errors are layouts that cannot work or that hand credentials to other sites; warnings are
/// weaker-than-recommended choices. `todolist-server check` prints every finding and exits 1
/// when there is an error; the server logs the same findings at start-up when the settings
/// look like a deployment (`ALLOWED_HOSTS` set or `COOKIE_SECURE=true`) and starts anyway.
///
/// The site checks compare the API's hosts (from `ALLOWED_HOSTS`) with each frontend origin
/// by registrable domain (the Public Suffix List), as browsers do for `SameSite` and for
/// third-party cookie blocking. Without `ALLOWED_HOSTS` the API's host is unknown and those
/// checks are skipped.
public struct DeployCheck: Sendable {
    public enum Level: String, Sendable, Comparable {
        case error
        case warning

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs == .error && rhs == .warning }
    }

    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public let level: Level
        public let id: String
        public let message: String

        /// The report's line: `warning W004: <message>`.
        public var description: String { "\(level.rawValue) \(id): \(message)" }
    }

    let settings: AppSettings
    /// The list, or why it could not be read.
    let suffixes: Result<PublicSuffixList, PublicSuffixList.LoadError>

    public init(settings: AppSettings, suffixes: Result<PublicSuffixList, PublicSuffixList.LoadError>) {
        self.settings = settings
        self.suffixes = suffixes
    }

    /// Reads the list from `settings.publicSuffixListPath` (a local file, read once).
    public init(settings: AppSettings) {
        self.init(settings: settings, suffixes: Result { () throws(PublicSuffixList.LoadError) in
            try PublicSuffixList(contentsOf: settings.publicSuffixListPath)
        })
    }

    /// The finding that also stops `serve`: a `FRONTEND_ORIGINS` wildcard over a public suffix.
    static let publicSuffixOriginID = "E001"

    /// Whether the server logs the findings when it starts: only for what looks like a
    /// deployment, so a development server with the defaults stays quiet.
    public static func runsAtStartUp(_ settings: AppSettings) -> Bool {
        settings.allowedHosts.isEnabled || settings.cookieSecure
    }

    /// Every finding, errors first, each once.
    public func findings() -> [Finding] {
        var report: [Finding] = []
        report += hostFindings()
        report += siteFindings()
        report += cookieFindings()
        report += otherFindings()
        return report.enumerated().sorted { ($0.element.level, $0.offset) < ($1.element.level, $1.offset) }.map(\.element)
    }

    /// Logs each finding on one line, at error or warning level.
    public static func log(_ findings: [Finding], to logger: Logger) {
        for finding in findings {
            logger.log(
                level: finding.level == .error ? .error : .warning,
                "deploy check \(finding.id): \(finding.message)",
                metadata: ["check.id": .string(finding.id)])
        }
    }

    // MARK: Findings

    private var origins: [OriginPattern] { settings.frontendOrigins.patterns }

    private func hostFindings() -> [Finding] {
        var report: [Finding] = []
        if !settings.allowedHosts.isEnabled {
            report.append(.init(
                level: .warning, id: "W001",
                message: "ALLOWED_HOSTS is not set: any Host header is accepted, and the same-site checks of this report are skipped; list the API's host names (e.g. api.example.com)."))
        }
        if settings.allowedHosts.entries.contains(.any) {
            report.append(.init(
                level: .warning, id: "W002",
                message: "ALLOWED_HOSTS contains '*': any Host header is accepted; list the API's host names instead."))
        }
        if case .success(let psl) = suffixes {
            for case .domain(let domain) in settings.allowedHosts.entries where psl.isPublicSuffix(domain) {
                report.append(.init(
                    level: .warning, id: "W003",
                    message: "ALLOWED_HOSTS entry '.\(domain)' spans the public suffix \(domain): it admits hosts of every site under it; name the API's own domain."))
            }
        }
        return report
    }

    private func siteFindings() -> [Finding] {
        guard case .success(let psl) = suffixes else {
            guard case .failure(let error) = suffixes else { return [] }
            return [.init(
                level: .warning, id: "W009",
                message: "\(error.description); the same-site checks of this report are skipped (install Debian's publicsuffix package or set PUBLIC_SUFFIX_LIST).")]
        }
        var report: [Finding] = []
        for origin in origins where origin.matchesSubdomains && psl.isPublicSuffix(origin.host) {
            report.append(.init(
                level: .error, id: Self.publicSuffixOriginID,
                message: "FRONTEND_ORIGINS entry \(origin) spans the public suffix \(origin.host): every site under it may send credentialed requests and read the answers; list the app's own origin."))
        }
        // The sites of the API: one per ALLOWED_HOSTS name that is not `*` nor a public suffix.
        let apiHosts: [String] = settings.allowedHosts.entries.compactMap { entry in
            switch entry {
            case .any: nil
            case .exact(let host): host
            case .domain(let domain): psl.isPublicSuffix(domain) ? nil : domain
            }
        }
        guard !apiHosts.isEmpty else { return report }
        let apiList = apiHosts.joined(separator: ", ")
        var crossSite: [OriginPattern] = []
        for origin in origins where !(origin.matchesSubdomains && psl.isPublicSuffix(origin.host)) {
            if apiHosts.contains(where: { psl.isSameSite($0, origin.host) }) { continue }
            crossSite.append(origin)
            if settings.cookieSameSite == .none {
                report.append(.init(
                    level: .warning, id: "W004",
                    message: "FRONTEND_ORIGINS entry \(origin) is not same-site with the API (\(apiList)): the session and CSRF cookies are third-party cookies there, which Safari and browsers blocking third-party cookies drop; serve the app and the API under one registrable domain."))
            } else {
                report.append(.init(
                    level: .error, id: "E002",
                    message: "FRONTEND_ORIGINS entry \(origin) is not same-site with the API (\(apiList)): with COOKIE_SAMESITE=\(settings.cookieSameSite.rawValue) the browser never sends the session and CSRF cookies on its requests, so nobody can log in from it; serve the app and the API under one registrable domain."))
            }
        }
        if settings.cookieSameSite == .none, crossSite.isEmpty {
            report.append(.init(
                level: .warning, id: "W010",
                message: "COOKIE_SAMESITE=None while every frontend origin is same-site with the API: Lax works for this layout and keeps the cookies off cross-site requests."))
        }
        return report
    }

    private func cookieFindings() -> [Finding] {
        var report: [Finding] = []
        let httpsOrigins = origins.filter { $0.scheme == "https" }
        let httpOrigins = origins.filter { $0.scheme == "http" }
        if !settings.cookieSecure, !httpsOrigins.isEmpty {
            report.append(.init(
                level: .warning, id: "W005",
                message: "COOKIE_SECURE=false while \(httpsOrigins.map(\.description).joined(separator: ", ")) \(httpsOrigins.count == 1 ? "is" : "are") served over HTTPS: the session and CSRF cookies may also travel over plain HTTP; set COOKIE_SECURE=true."))
        }
        if settings.cookieSecure {
            for (setting, name) in [("SESSION_COOKIE_NAME", settings.sessionCookieName), ("CSRF_COOKIE_NAME", settings.csrfCookieName)]
            where !CookiePolicy.hasHostPrefix(name) {
                let why = settings.cookieDomain != nil
                    ? "COOKIE_DOMAIN is set, which __Host- forbids, so any subdomain of \(settings.cookieDomain!) can plant a cookie of that name (cookie tossing); unset COOKIE_DOMAIN to get __Host- names"
                    : "a sibling subdomain or a man-in-the-middle on plain HTTP can plant a cookie of that name (cookie tossing); unset \(setting) to get the __Host- default"
                report.append(.init(
                    level: .warning, id: "W006",
                    message: "The \(setting == "SESSION_COOKIE_NAME" ? "session" : "CSRF") cookie '\(name)' is Secure but lacks the __Host- prefix: \(why)."))
            }
            if !httpOrigins.isEmpty {
                report.append(.init(
                    level: .warning, id: "W007",
                    message: "COOKIE_SECURE=true while \(httpOrigins.map(\.description).joined(separator: ", ")) \(httpOrigins.count == 1 ? "is" : "are") plain HTTP: anyone on the network can rewrite that page and act with the user's session, and browsers count http and https as different sites; serve the app over HTTPS."))
            }
            if settings.trustedProxies.addresses.isEmpty {
                report.append(.init(
                    level: .warning, id: "W011",
                    message: "COOKIE_SECURE=true but TRUSTED_PROXIES is empty: this server speaks plain HTTP, so behind a TLS-terminating proxy no request counts as HTTPS and the strict Referer check is off; list the proxy's address in TRUSTED_PROXIES."))
            }
        }
        return report
    }

    private func otherFindings() -> [Finding] {
        guard settings.bcryptCost < 10 else { return [] }
        return [.init(
            level: .warning, id: "W008",
            message: "BCRYPT_COST=\(settings.bcryptCost) is below 10: a stolen password hash is cheap to crack; use 10 or more (the default is 12).")]
    }
}
