import CrossOriginSecurity
import HTTPTypes
import Hummingbird

/// Registers routes and remembers which methods each path answers, so that a
/// known path with a wrong method gets `405` with `Allow`, and a plain `OPTIONS`
/// gets the `Allow` list, instead of the router's bare 404.
///
/// Hummingbird's router ignores a trailing slash, so each route also answers the
/// Django-style path with one, without a redirect.
final class RouteTable {
    typealias Context = AppRequestContext
    typealias Handler = @Sendable (Request, Context) async throws -> Response

    let router: Router<Context>
    private var methodsByPath: [(path: String, methods: [HTTPRequest.Method])] = []

    /// Every method a client may try on a known path; any of these not served is a 405.
    static let knownMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .trace, .connect]

    init(router: Router<Context>) {
        self.router = router
    }

    func on(_ path: String, _ method: HTTPRequest.Method, use handler: @escaping Handler) {
        router.on(RouterPath(path), method: method, use: handler)
        if let index = methodsByPath.firstIndex(where: { $0.path == path }) {
            methodsByPath[index].methods.append(method)
        } else {
            methodsByPath.append((path, [method]))
        }
    }

    /// The paths and methods served, for documentation checks.
    var routes: [(path: String, methods: [HTTPRequest.Method])] { methodsByPath }

    /// Adds the 405 and OPTIONS answers; call once after every route is registered.
    func finish() {
        for (path, served) in methodsByPath {
            var allowed = served
            if served.contains(.get), !served.contains(.head) { allowed.append(.head) }
            allowed.append(.options)
            let allow = Self.order(allowed).map(\.rawValue).joined(separator: ", ")
            var headers = HTTPFields()
            headers[.allow] = allow
            let allowHeaders = headers
            router.on(RouterPath(path), method: .options) { _, _ in
                Response(status: .ok, headers: allowHeaders)
            }
            for method in Self.knownMethods where !allowed.contains(method) {
                router.on(RouterPath(path), method: method) { request, _ -> Response in
                    throw JSONError(
                        .methodNotAllowed, code: "method_not_allowed",
                        detail: "Method \(request.method.rawValue) is not allowed here; allowed: \(allow).",
                        headers: allowHeaders)
                }
            }
        }
    }

    private static func order(_ methods: [HTTPRequest.Method]) -> [HTTPRequest.Method] {
        Array(Set(methods)).sorted { $0.rawValue < $1.rawValue }
    }
}
