import CrossOriginSecurity
import HTTPTypes
import Hummingbird

/// The endpoints a deployment is checked with: the CSRF token, ping and health.
struct DiagnosticsController {
    let csrf: CSRFProtection
    let database: Database

    func register(in routes: RouteTable) {
        routes.on("/api/csrf/", .get) { request, context in
            csrf.tokenResponse(for: request, boundSecret: context.csrfBoundSecret)
        }
        routes.on("/api/ping/", .get) { _, _ in JSONResponse.make(.ok, body: Self.pong) }
        // A body is optional here; one that is sent must still be JSON (see `RouteTable`).
        routes.on("/api/ping/", .post) { _, _ in JSONResponse.make(.ok, body: Self.pong) }
        routes.on("/api/health/", .get) { _, context in
            let reachable = await database.isReachable(logger: context.logger)
            let state = reachable ? "ok" : "unavailable"
            var response = JSONResponse.make(
                reachable ? .ok : .serviceUnavailable,
                body: ByteBuffer(string: JSONText.object([("status", state), ("database", state)])))
            response.headers[.cacheControl] = "no-store"
            return response
        }
    }

    /// Ping's answer never changes: built once, shared by every response.
    static let pong = ByteBuffer(string: #"{"result":"OK"}"#)
}
