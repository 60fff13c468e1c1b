import CrossOriginSecurity
import HTTPTypes
import Hummingbird

/// Works out who the client is and whether it used HTTPS, believing forwarded
/// headers only from the configured proxies.
struct ClientMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let proxies: TrustedProxies

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.clientAddress = proxies.clientAddress(request, peer: context.peerAddress)
        context.isSecureRequest = proxies.isSecure(request, peer: context.peerAddress)
        return try await next(request, context)
    }
}
