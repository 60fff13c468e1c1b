import CrossOriginSecurity
import HTTPTypes
import Hummingbird

/// Registers routes and remembers which methods each path answers, so that a known
/// path with any other method (including ones no route names, such as `QUERY`) gets
/// `405` with `Allow`, and a plain `OPTIONS` gets the `Allow` list, instead of 404.
///
/// Every route answers in the contract's order: routing (404, 405), then the route's
/// `precheck` (a path that can name nothing: 404; authentication: 401), then the body,
/// read whole before the handler runs, whatever its framing and whether or not the
/// handler uses it (413 over `JSONBody.maxSize`), then the handler. A route that takes no
/// body still refuses one that is not JSON (415, 400) before its handler runs: a request
/// the contract refuses changes nothing, whichever route it is sent to.
///
/// Hummingbird's router ignores a trailing slash, so each route also answers the
/// Django-style path with one, without a redirect.
final class RouteTable {
    typealias Context = AppRequestContext
    typealias Handler = @Sendable (Request, Context) async throws -> Response
    /// Checks made before the body is read (the request's head and the context the
    /// middleware made); each throws the error to answer with.
    typealias Precheck = @Sendable (Request, Context) throws -> Void

    let router: Router<Context>
    private var methodsByPath: [(path: String, methods: [HTTPRequest.Method])] = []

    init(router: Router<Context>) {
        self.router = router
    }

    /// - Parameter readsBody: whether the handler reads the body as JSON itself (with
    ///   `JSONBody`); when not, a body sent anyway is checked here.
    func on(
        _ path: String, _ method: HTTPRequest.Method, precheck: Precheck? = nil, readsBody: Bool = false,
        use handler: @escaping Handler
    ) {
        register(path, method, precheck: precheck, readsBody: readsBody, use: handler)
        if let index = methodsByPath.firstIndex(where: { $0.path == path }) {
            methodsByPath[index].methods.append(method)
        } else {
            methodsByPath.append((path, [method]))
        }
    }

    private func register(
        _ path: String, _ method: HTTPRequest.Method, precheck: Precheck?, readsBody: Bool, use handler: @escaping Handler
    ) {
        router.on(RouterPath(path), method: method) { request, context in
            try precheck?(request, context)
            var request = request
            if try await JSONBody.collect(&request), !readsBody {
                _ = try await JSONBody.value(from: request, context: context)
            }
            return try await handler(request, context)
        }
    }

    /// The paths and methods served (without the OPTIONS answers), for documentation checks.
    var routes: [(path: String, methods: [HTTPRequest.Method])] { methodsByPath }

    /// Adds the OPTIONS and 405 answers; call once after every route is registered.
    func finish() {
        var allowByPath: [(segments: [Substring], allow: String)] = []
        for (path, served) in methodsByPath {
            var allowed = served
            if served.contains(.get), !served.contains(.head) { allowed.append(.head) }
            allowed.append(.options)
            let allow = Array(Set(allowed)).map(\.rawValue).sorted().joined(separator: ", ")
            var headers = HTTPFields()
            headers[.allow] = allow
            let allowHeaders = headers
            register(path, .options, precheck: nil, readsBody: false) { _, _ in Response(status: .ok, headers: allowHeaders) }
            allowByPath.append((path.split(separator: "/"), allow))
        }
        // The router answers 404 for a known path with a method it has no route for;
        // middleware added after the routes wraps only that not-found answer.
        router.add(middleware: MethodNotAllowedMiddleware(allowByPath: allowByPath))
    }
}

/// Turns the router's 404 for a known path into `405 method_not_allowed` with `Allow`.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// Each route's path split into segments (`:name` matches any one segment), with its `Allow` value.
    let allowByPath: [(segments: [Substring], allow: String)]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            guard let allow = allow(for: request.uri.path) else { throw error }
            var headers = HTTPFields()
            headers[.allow] = allow
            throw JSONError(
                .methodNotAllowed, code: "method_not_allowed",
                detail: "Method \(request.method.rawValue) is not allowed here; allowed: \(allow).",
                headers: headers)
        }
    }

    func allow(for path: String) -> String? {
        let segments = path.split(separator: "/")
        return allowByPath.first { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }?.allow
    }
}
