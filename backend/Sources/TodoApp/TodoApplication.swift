import CrossOriginSecurity
import HTTPTypes
import Hummingbird
import Logging

/// Builds the todolist server from its settings: middleware in the contract's
/// order, then the routes.
public enum TodoApplication {
    public static func build(settings: AppSettings, logger: Logger) async throws -> some ApplicationProtocol {
        let database = Database()
        let router = try buildRouter(settings: settings, database: database)
        return Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            logger: logger
        )
    }

    /// The router with every middleware and route; separate so tests can drive it without a socket.
    public static func buildRouter(settings: AppSettings, database: Database) throws -> Router<AppRequestContext> {
        let csrf = CSRFProtection(cookie: try settings.csrfCookiePolicy(), trustedOrigins: settings.frontendOrigins)
        let router = Router(context: AppRequestContext.self, options: [.autoGenerateHeadEndpoints])

        // Order matters: each layer wraps those added after it. CORS sits outside the
        // error layer so error answers are readable cross-origin; CSRF runs before
        // routing, so an unsafe request to any path is checked before 404 or 405.
        router.add(middleware: RequestLoggingMiddleware())
        router.add(middleware: CORSMiddleware(policy: CORSPolicy(allowedOrigins: settings.frontendOrigins)))
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: ClientMiddleware(proxies: settings.trustedProxies))
        router.add(middleware: CSRFMiddleware(protection: csrf))

        let routes = RouteTable(router: router)
        DiagnosticsController(csrf: csrf, database: database).register(in: routes)
        routes.finish()
        return router
    }
}
