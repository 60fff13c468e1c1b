import CrossOriginSecurity
import HTTPTypes
import Hummingbird
import Logging

/// Builds the todolist server from its settings: middleware in the contract's
/// order, then the routes.
public enum TodoApplication {
    /// How often expired sessions and stale login failures are deleted.
    static let purgeInterval: Duration = .seconds(600)

    /// Opens and migrates the database, then assembles the server and the services it
    /// runs beside (PostgreSQL's pool, the purge of expired rows).
    public static func build(settings: AppSettings, logger: Logger) async throws -> some ApplicationProtocol {
        let findings = DeployCheck(settings: settings).findings()
        // A wildcard origin over a public suffix (`https://*.com`) would let every site under it
        // read the API with the user's cookies: such an entry is invalid, as API.md has it.
        if let finding = findings.first(where: { $0.id == DeployCheck.publicSuffixOriginID }) {
            throw AppSettings.InvalidSetting(name: "FRONTEND_ORIGINS", message: finding.message)
        }
        if DeployCheck.runsAtStartUp(settings) {
            DeployCheck.log(findings, to: logger)
        }
        let database = try await Database.open(
            url: settings.databaseURL, poolSize: settings.databasePoolSize,
            queryTimeout: .seconds(settings.databaseQueryTimeout), listCacheTodos: settings.listCacheTodos, logger: logger)
        let router: Router<AppRequestContext>
        let live = LiveUpdates(database: database, settings: liveSettings(settings), logger: logger)
        do {
            try await database.migrate()
            router = try buildRouter(settings: settings, database: database, live: live)
        } catch {
            await database.close()
            throw error
        }
        let purge = PurgeService(
            sessions: SessionStore(database: database, lifetime: settings.sessionLifetime),
            loginFailures: LoginThrottleStore(database: database),
            tokens: TokenStore(database: database),
            // Sign-ups share the table, over a window of their own.
            throttleWindow: max(settings.loginThrottleWindow, settings.signupThrottleWindow),
            interval: purgeInterval,
            logger: logger)
        let limits = ConnectionLimits(
            idleTimeout: .seconds(settings.idleTimeout), requestTimeout: .seconds(settings.requestTimeout),
            maxHeaderSize: settings.maxHeaderSize)
        let responder = router.buildResponder()
        let stream = EventStreamConnection.StreamRoute(path: "/api/events/") { request, channel, logger in
            try await responder.respond(to: request, context: AppRequestContext(source: .init(channel: channel, logger: logger)))
        }
        return Application(
            responder: StreamOpeningTaskResponder(base: responder, stream: stream),
            server: limits.server(logger: logger, stream: stream),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            services: database.services + [purge] + live.services(engine: database.engine as? PostgresEngine),
            logger: logger
        )
    }

    /// The router with every middleware and route; separate so tests can drive it without a socket.
    public static func buildRouter(settings: AppSettings, database: Database) throws -> Router<AppRequestContext> {
        try assemble(settings: settings, database: database).router
    }

    static func buildRouter(settings: AppSettings, database: Database, live: LiveUpdates) throws -> Router<AppRequestContext> {
        try assemble(settings: settings, database: database, live: live).router
    }

    /// The live updates' settings (`GET /api/events/`).
    static func liveSettings(_ settings: AppSettings) -> LiveUpdates.Settings {
        LiveUpdates.Settings(
            heartbeat: .seconds(settings.heartbeatInterval), streamsPerUser: settings.streamsPerUser,
            streamsMax: settings.streamsMax, eventsKeptPerUser: settings.eventsKeptPerUser)
    }

    /// The router and the table of its routes (which tests compare with `docs/openapi.yaml`).
    /// Without `live`, streams get no heartbeats or expiry checks (its services are not run).
    static func assemble(
        settings: AppSettings, database: Database, live: LiveUpdates? = nil
    ) throws -> (router: Router<AppRequestContext>, routes: RouteTable) {
        let live = live ?? LiveUpdates(database: database, settings: liveSettings(settings), logger: database.logger)
        let csrf = CSRFProtection(cookie: try settings.csrfCookiePolicy(), trustedOrigins: settings.frontendOrigins)
        let sessionCookie = try settings.sessionCookiePolicy()
        let sessions = SessionStore(database: database, lifetime: settings.sessionLifetime)
        let tokens = TokenStore(database: database)
        let router = Router(context: AppRequestContext.self, options: [.autoGenerateHeadEndpoints])

        // Order matters: each layer wraps those added after it. CORS sits outside the
        // error layer so error answers are readable cross-origin, and so is the layer that
        // marks answers private (no-store), so errors are; the Host check precedes
        // CSRF, whose same-origin check trusts the Host; CSRF runs before
        // routing, so an unsafe request to any path is checked before 404 or 405; the
        // session is loaded just before CSRF, which checks against the session's secret.
        // One stack of statically known types, rather than six existentials: the calls
        // between layers can be specialised and inlined, and each call that is not costs
        // a hop through the event loop's queue (see `main.swift`).
        router.addMiddleware {
            RequestLoggingMiddleware()
            CORSMiddleware(policy: CORSPolicy(allowedOrigins: settings.frontendOrigins))
            PrivateResponseMiddleware()
            JSONErrorMiddleware()
            HostValidationMiddleware(allowed: settings.allowedHosts)
            ClientMiddleware(proxies: settings.trustedProxies)
            BearerTokenMiddleware(tokens: tokens, sessionCookie: sessionCookie)
            SessionMiddleware(sessions: sessions, cookie: sessionCookie)
            // A bearer token without a session cookie skips CSRF (Sanctum's rule) on the
            // routes that take tokens: nothing about it is ambient, so a third-party page
            // has nothing to ride on; the browser never attaches it by itself, and a page on
            // another origin can set the header only after a CORS preflight that only
            // FRONTEND_ORIGINS pass. With a session cookie as well the request is
            // `ambiguous` and checked; on other routes the header is no credential at all.
            CSRFMiddleware(
                protection: csrf,
                exempting: { request, context in
                    context.bearer.isBearerOnly && Authentication.takesBearerTokens(path: request.uri.path)
                })
        }

        let accounts = AccountService(
            database: database,
            users: UserStore(database: database),
            sessions: sessions,
            hasher: PasswordHasher(
                cost: settings.bcryptCost, queueLimit: settings.hashingQueueLimit,
                queuePerAddress: settings.hashingQueuePerAddress, threads: settings.hashingThreads,
                nice: settings.hashingNice),
            throttle: LoginThrottle(
                store: LoginThrottleStore(database: database),
                failuresPerUsername: settings.loginFailuresPerUsername,
                failuresPerAddress: settings.loginFailuresPerAddress,
                window: settings.loginThrottleWindow,
                signupsPerAddress: settings.signupsPerAddress,
                signupWindow: settings.signupThrottleWindow),
            refusals: RefusalDelay(milliseconds: settings.refusalDelay),
            live: live)

        let routes = RouteTable(router: router)
        DiagnosticsController(csrf: csrf, database: database).register(in: routes)
        let auth = AuthController(accounts: accounts, csrf: csrf, sessionCookie: sessionCookie)
        auth.register(in: routes)
        AccountController(accounts: accounts, sessions: sessions, csrf: csrf, sessionCookie: sessionCookie, auth: auth)
            .register(in: routes)
        TokenController(tokens: tokens).register(in: routes)
        TodoController(todos: TodoStore(database: database, maxTodosPerUser: settings.todosPerUser, live: live))
            .register(in: routes)
        EventsController(live: live, csrf: csrf).register(in: routes)
        routes.finish()
        return (router, routes)
    }
}
