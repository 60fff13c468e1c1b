import CrossOriginSecurity
import Foundation
import Logging

/// Every setting of the server, read from the environment once at start-up.
///
/// The names are the same in every environment; only the URLs change between them.
/// A bad value stops the server before it listens, naming the setting.
public struct AppSettings: Sendable {
    public var host: String
    public var port: Int
    /// Drives both the CORS allowlist and the CSRF trusted origins.
    public var frontendOrigins: TrustedOrigins
    public var cookieSecure: Bool
    public var cookieSameSite: CookiePolicy.SameSite
    public var cookieDomain: String?
    public var csrfCookieName: String
    public var sessionCookieName: String
    /// Session lifetime in seconds, refreshed on use.
    public var sessionLifetime: Int
    public var trustedProxies: TrustedProxies
    public var logLevel: Logger.Level
    public var databaseURL: String
    public var databasePoolSize: Int
    /// How long work on a leased PostgreSQL connection may take (see `PostgresEngine`).
    public var databaseQueryTimeout: Int = 3
    public var bcryptCost: UInt8
    /// bcrypt computations waiting or running at once; beyond, `503 busy`.
    public var hashingQueueLimit: Int = 32
    /// The share of `hashingQueueLimit` one client address may hold.
    public var hashingQueuePerAddress: Int = 4
    /// Threads computing bcrypt.
    public var hashingThreads: Int = HashingQueue.defaultThreads
    public var hashingNice: Int = HashingQueue.defaultNice
    /// Milliseconds a refused password attempt's answer is held, on average (see `RefusalDelay`).
    public var refusalDelay: Int = 1000
    public var signupsPerAddress: Int = 10
    /// The window over which sign-ups are counted, in seconds.
    public var signupThrottleWindow: Int = 3600
    public var loginFailuresPerUsername: Int
    public var loginFailuresPerAddress: Int
    /// The window over which failed log-ins are counted, in seconds.
    public var loginThrottleWindow: Int
    /// The most todos one user may hold; creating more is `409 too_many_todos`.
    public var todosPerUser: Int = 10_000
    /// Seconds a connection may stay without a complete request head before it is closed.
    public var idleTimeout: Int = 60
    /// Live updates (`GET /api/events/`): seconds between heartbeat comments.
    public var heartbeatInterval: Int = 15
    /// Live update streams one user may hold; opening one more closes their oldest.
    public var streamsPerUser: Int = 10
    /// Live update streams this process holds at most; past it, `503 busy`.
    public var streamsMax: Int = 10_000
    /// Events kept per user for a reconnecting stream's replay.
    public var eventsKeptPerUser: Int = 200
    /// PostgreSQL: todos kept in process for `GET /api/todos/` (`ListCache`); 0: none.
    public var listCacheTodos: Int = 100_000
    /// Seconds a request's body may take to arrive after its head.
    public var requestTimeout: Int = 30
    /// Bytes a request head (request line and headers) may take.
    public var maxHeaderSize: Int = 16_384
    /// The host names this server answers for; empty: any (see `AllowedHosts`).
    public var allowedHosts: AllowedHosts = .unchecked
    /// The Public Suffix List the deploy check reads to tell sites apart.
    public var publicSuffixListPath: String = PublicSuffixList.debianPath

    /// One row per setting: the environment name, its default and what it does.
    /// `--help` and the README print this table.
    public static let documentation: [(name: String, defaultValue: String, meaning: String)] = [
        ("HOST", "127.0.0.1", "Address to listen on."),
        ("PORT", "8000", "Port to listen on."),
        ("FRONTEND_ORIGINS", "http://localhost:3000", "Comma-separated origins of the web app (scheme://host[:port], https://*.example.com for subdomains): the CORS allowlist and the CSRF trusted origins."),
        ("COOKIE_SECURE", "false", "Mark the session and CSRF cookies Secure (true behind HTTPS)."),
        ("COOKIE_SAMESITE", "Lax", "SameSite attribute of both cookies: Strict, Lax or None (None needs COOKIE_SECURE=true)."),
        ("COOKIE_DOMAIN", "(none)", "Domain attribute of both cookies; empty for host-only cookies."),
        ("CSRF_COOKIE_NAME", "csrftoken", "Name of the CSRF cookie; with COOKIE_SECURE=true the default is __Host-csrftoken (__Secure-csrftoken when COOKIE_DOMAIN is set)."),
        ("SESSION_COOKIE_NAME", "sessionid", "Name of the session cookie; with COOKIE_SECURE=true the default is __Host-sessionid (__Secure-sessionid when COOKIE_DOMAIN is set)."),
        ("SESSION_LIFETIME", "1209600", "Session lifetime in seconds (two weeks), refreshed on use."),
        ("TRUSTED_PROXIES", "(none)", "Comma-separated peer IP addresses whose X-Forwarded-Proto and X-Forwarded-For are believed."),
        ("LOG_LEVEL", "info", "trace, debug, info, notice, warning, error or critical."),
        ("DATABASE_URL", "sqlite://./data/todolist.sqlite3", "sqlite:///absolute/path, sqlite://./relative/path, or postgres://user:pass@host:port/db[?sslmode=...&sslrootcert=...] (libpq's meanings; sslmode disable, allow, prefer, require, verify-ca or verify-full)."),
        ("DATABASE_POOL_SIZE", "10", "PostgreSQL connections per server process."),
        ("DATABASE_QUERY_TIMEOUT", "3", "Seconds a request's work on a PostgreSQL connection may take; past it the request gets 503 database_unavailable and the connection is closed."),
        ("BCRYPT_COST", "12", "bcrypt cost factor for new password hashes (4 to 31; at least 10 in production)."),
        ("LOGIN_FAILURES_PER_USERNAME", "5", "Failed log-ins allowed per username within the window before 429."),
        ("LOGIN_FAILURES_PER_ADDRESS", "50", "Failed log-ins allowed per client address within the window before 429."),
        ("LOGIN_THROTTLE_WINDOW", "900", "Window for counting failed log-ins, in seconds."),
        ("TODOS_PER_USER", "10000", "The most todos one user may hold; creating more is refused with 409 too_many_todos."),
        ("SIGNUPS_PER_ADDRESS", "10", "Sign-ups allowed per client address within SIGNUP_THROTTLE_WINDOW before 429."),
        ("SIGNUP_THROTTLE_WINDOW", "3600", "Window for counting sign-ups, in seconds."),
        ("HASHING_QUEUE_LIMIT", "32", "bcrypt hashes and verifications waiting or running at once; more are refused with 503 busy."),
        ("HASHING_QUEUE_PER_ADDRESS", "4", "How many of HASHING_QUEUE_LIMIT one client address may hold at once."),
        ("HASHING_THREADS", "cores (Linux; elsewhere cores - 1, at least 1)", "Threads computing bcrypt, at idle priority on Linux: they run only on a core no request wants."),
        ("HASHING_NICE", "0", "Scheduling priority (nice, 0 to 19) of the thread that takes over a bcrypt computation idle priority has not finished within three computations' time (a machine busy with requests)."),
        ("REFUSAL_DELAY_MS", "1000", "Milliseconds, on average (half to one and a half times it), before a refused log-in, sign-up or password check (429 throttled, 503 busy) is answered; 0 answers at once."),
        ("IDLE_TIMEOUT", "60", "Seconds a connection may stay idle, or take to send a request's headers, before it is closed."),
        ("REQUEST_TIMEOUT", "30", "Seconds a request's body may take to arrive after its headers before the connection is closed."),
        ("HEARTBEAT_INTERVAL", "15", "Seconds between heartbeat comments on live update streams (GET /api/events/); keep proxies' read timeouts above it."),
        ("STREAMS_PER_USER", "10", "Live update streams one user may hold on one server process; opening one more closes their oldest."),
        ("STREAMS_MAX", "10000", "Live update streams one server process holds at most; more are refused with 503 busy and Retry-After."),
        ("EVENTS_KEPT_PER_USER", "200", "Live update events kept per user in the database, replayed to a stream that reconnects with Last-Event-ID; an older gap gets a resync event."),
        ("LIST_CACHE_TODOS", "100000", "PostgreSQL only: how many todos this process keeps for GET /api/todos/, served only once PostgreSQL has confirmed them current (docs/list-cache.md); 0 reads every list from the database."),
        ("MAX_HEADER_SIZE", "16384", "Largest request head (request line and headers) in bytes; larger ones, or heads of more than 200 header fields, get 431 headers_too_large."),
        ("ALLOWED_HOSTS", "(none)", "Comma-separated host names this server answers for (api.example.com; .example.com for the domain and its subdomains; * for any); other Host headers get 400 bad_host. Unset: no check. Set it in production."),
        ("PUBLIC_SUFFIX_LIST", PublicSuffixList.debianPath, "The Public Suffix List file the deploy check (todolist-server check) reads to tell sites apart."),
    ]

    public struct InvalidSetting: Error, CustomStringConvertible, Equatable {
        public let name: String
        public let message: String
        public var description: String { "invalid setting \(name): \(message)" }
    }

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(InvalidSetting) -> AppSettings {
        let reader = Reader(environment: environment)
        let cookieSecure = try reader.boolean("COOKIE_SECURE", default: false)
        let cookieDomain = try reader.optionalString("COOKIE_DOMAIN")
        var settings = AppSettings(
            host: try reader.string("HOST", default: "127.0.0.1"),
            port: try reader.integer("PORT", default: 8000, in: 0...65535),
            frontendOrigins: try reader.origins("FRONTEND_ORIGINS", default: "http://localhost:3000"),
            cookieSecure: cookieSecure,
            cookieSameSite: try reader.sameSite("COOKIE_SAMESITE", default: .lax),
            cookieDomain: cookieDomain,
            csrfCookieName: try reader.string(
                "CSRF_COOKIE_NAME", default: defaultCookieName("csrftoken", secure: cookieSecure, domain: cookieDomain)),
            sessionCookieName: try reader.string(
                "SESSION_COOKIE_NAME", default: defaultCookieName("sessionid", secure: cookieSecure, domain: cookieDomain)),
            sessionLifetime: try reader.integer("SESSION_LIFETIME", default: 1_209_600, in: 60...31_536_000),
            trustedProxies: TrustedProxies(try reader.list("TRUSTED_PROXIES")),
            logLevel: try reader.logLevel("LOG_LEVEL", default: .info),
            databaseURL: try reader.string("DATABASE_URL", default: "sqlite://./data/todolist.sqlite3"),
            databasePoolSize: try reader.integer("DATABASE_POOL_SIZE", default: 10, in: 1...1000),
            bcryptCost: UInt8(try reader.integer("BCRYPT_COST", default: 12, in: 4...31)),
            loginFailuresPerUsername: try reader.integer("LOGIN_FAILURES_PER_USERNAME", default: 5, in: 1...1_000_000),
            loginFailuresPerAddress: try reader.integer("LOGIN_FAILURES_PER_ADDRESS", default: 50, in: 1...1_000_000),
            loginThrottleWindow: try reader.integer("LOGIN_THROTTLE_WINDOW", default: 900, in: 1...86_400 * 30)
        )
        settings.idleTimeout = try reader.integer("IDLE_TIMEOUT", default: 60, in: 1...86_400)
        settings.databaseQueryTimeout = try reader.integer("DATABASE_QUERY_TIMEOUT", default: 3, in: 1...3600)
        settings.requestTimeout = try reader.integer("REQUEST_TIMEOUT", default: 30, in: 1...86_400)
        settings.maxHeaderSize = try reader.integer("MAX_HEADER_SIZE", default: 16_384, in: 1_024...1_048_576)
        settings.signupsPerAddress = try reader.integer("SIGNUPS_PER_ADDRESS", default: 10, in: 1...1_000_000)
        settings.signupThrottleWindow = try reader.integer("SIGNUP_THROTTLE_WINDOW", default: 3600, in: 1...86_400 * 30)
        settings.hashingQueueLimit = try reader.integer("HASHING_QUEUE_LIMIT", default: 32, in: 1...100_000)
        settings.hashingQueuePerAddress = try reader.integer("HASHING_QUEUE_PER_ADDRESS", default: 4, in: 1...100_000)
        settings.hashingThreads = try reader.integer(
            "HASHING_THREADS", default: HashingQueue.defaultThreads, in: 1...256)
        settings.hashingNice = try reader.integer("HASHING_NICE", default: HashingQueue.defaultNice, in: 0...19)
        settings.refusalDelay = try reader.integer("REFUSAL_DELAY_MS", default: 1000, in: 0...60_000)
        settings.allowedHosts = try reader.allowedHosts("ALLOWED_HOSTS")
        settings.todosPerUser = try reader.integer("TODOS_PER_USER", default: 10_000, in: 1...1_000_000)
        settings.heartbeatInterval = try reader.integer("HEARTBEAT_INTERVAL", default: 15, in: 1...3600)
        settings.streamsPerUser = try reader.integer("STREAMS_PER_USER", default: 10, in: 1...10_000)
        settings.streamsMax = try reader.integer("STREAMS_MAX", default: 10_000, in: 1...1_000_000)
        settings.eventsKeptPerUser = try reader.integer("EVENTS_KEPT_PER_USER", default: 200, in: 1...100_000)
        settings.listCacheTodos = try reader.integer("LIST_CACHE_TODOS", default: 100_000, in: 0...10_000_000)
        settings.publicSuffixListPath = try reader.string("PUBLIC_SUFFIX_LIST", default: PublicSuffixList.debianPath)
        try settings.validate()
        return settings
    }

    /// A cookie's default name: prefixed when cookies are Secure, so that neither a sibling
    /// subdomain nor a man-in-the-middle on plain HTTP can plant one under the same name
    /// (cookie tossing). `__Host-` forbids a Domain attribute, so with `COOKIE_DOMAIN` the
    /// default is `__Secure-`, which stops the man-in-the-middle but not a sibling subdomain
    /// (the deploy check says so).
    static func defaultCookieName(_ base: String, secure: Bool, domain: String?) -> String {
        guard secure else { return base }
        return (domain == nil ? "__Host-" : "__Secure-") + base
    }

    /// Cross-setting rules: checked here so that cookie policies built later cannot fail.
    public func validate() throws(InvalidSetting) {
        if let domain = cookieDomain, domain.contains(where: { $0 == " " || $0 == ";" || $0 == "," }) {
            throw InvalidSetting(name: "COOKIE_DOMAIN", message: "'\(domain)' is not a domain name")
        }
        do {
            _ = try csrfCookiePolicy()
        } catch {
            throw InvalidSetting(name: "CSRF_COOKIE_NAME", message: error.description)
        }
        do {
            _ = try sessionCookiePolicy()
        } catch {
            throw InvalidSetting(name: "SESSION_COOKIE_NAME", message: error.description)
        }
        if csrfCookieName == sessionCookieName {
            throw InvalidSetting(name: "SESSION_COOKIE_NAME", message: "must differ from CSRF_COOKIE_NAME")
        }
        if databaseURL.hasPrefix("sqlite:") == false && databaseURL.hasPrefix("postgres:") == false
            && databaseURL.hasPrefix("postgresql:") == false
        {
            throw InvalidSetting(name: "DATABASE_URL", message: "'\(databaseURL)' must start with sqlite:// or postgres://")
        }
        do {
            _ = try DatabaseLocation(url: databaseURL)
        } catch {
            throw InvalidSetting(name: "DATABASE_URL", message: error.message)
        }
    }

    public func csrfCookiePolicy() throws(CookiePolicy.ValidationError) -> CookiePolicy {
        try CookiePolicy(
            name: csrfCookieName, secure: cookieSecure, httpOnly: true, sameSite: cookieSameSite,
            domain: cookieDomain, maxAge: CSRFProtection.defaultCookieMaxAge)
    }

    public func sessionCookiePolicy() throws(CookiePolicy.ValidationError) -> CookiePolicy {
        try CookiePolicy(
            name: sessionCookieName, secure: cookieSecure, httpOnly: true, sameSite: cookieSameSite,
            domain: cookieDomain, maxAge: sessionLifetime)
    }
}

/// Reads typed values, naming the setting in every error.
private struct Reader {
    let environment: [String: String]

    func raw(_ name: String) -> String? {
        guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    func string(_ name: String, default defaultValue: String) throws(AppSettings.InvalidSetting) -> String {
        raw(name) ?? defaultValue
    }

    func optionalString(_ name: String) throws(AppSettings.InvalidSetting) -> String? {
        raw(name)
    }

    func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(AppSettings.InvalidSetting) -> Int {
        guard let text = raw(name) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw .init(name: name, message: "'\(text)' is not an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func boolean(_ name: String, default defaultValue: Bool) throws(AppSettings.InvalidSetting) -> Bool {
        guard let text = raw(name) else { return defaultValue }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw .init(name: name, message: "'\(text)' is not true or false")
        }
    }

    func sameSite(_ name: String, default defaultValue: CookiePolicy.SameSite) throws(AppSettings.InvalidSetting) -> CookiePolicy.SameSite {
        guard let text = raw(name) else { return defaultValue }
        guard let value = CookiePolicy.SameSite(setting: text) else {
            throw .init(name: name, message: "'\(text)' is not Strict, Lax or None")
        }
        return value
    }

    func logLevel(_ name: String, default defaultValue: Logger.Level) throws(AppSettings.InvalidSetting) -> Logger.Level {
        guard let text = raw(name) else { return defaultValue }
        guard let value = Logger.Level(rawValue: text.lowercased()) else {
            throw .init(name: name, message: "'\(text)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        return value
    }

    func list(_ name: String) throws(AppSettings.InvalidSetting) -> [String] {
        guard let text = raw(name) else { return [] }
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func allowedHosts(_ name: String) throws(AppSettings.InvalidSetting) -> AllowedHosts {
        guard let text = raw(name) else { return .unchecked }
        do {
            return try AllowedHosts(parsing: text)
        } catch {
            throw .init(name: name, message: error.description)
        }
    }

    func origins(_ name: String, default defaultValue: String) throws(AppSettings.InvalidSetting) -> TrustedOrigins {
        let text = raw(name) ?? defaultValue
        do {
            let origins = try TrustedOrigins(parsing: text)
            guard !origins.patterns.isEmpty else { throw AppSettings.InvalidSetting(name: name, message: "lists no origin") }
            return origins
        } catch let error as OriginPattern.ParseError {
            throw .init(name: name, message: error.description)
        } catch let error as AppSettings.InvalidSetting {
            throw error
        } catch {
            throw .init(name: name, message: "\(error)")
        }
    }
}
