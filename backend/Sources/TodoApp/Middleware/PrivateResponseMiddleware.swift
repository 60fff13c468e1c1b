import HTTPTypes
import Hummingbird

/// Keeps answers that depend on the session out of shared caches and the browser's
/// cache: every response gets `Cache-Control: no-store` unless its handler chose
/// otherwise, and `Vary: Cookie` unless it is one of the public diagnostics (ping,
/// health), whose answers are the same for everyone.
///
/// Private by default, so a route added later is covered without anyone remembering
/// to say so; it sits outside the error layer, so error answers (401, 404, a CSRF
/// refusal) are covered too. `no-store` rather than `private, no-cache`: the API sends
/// no validators, so revalidating would refetch the whole answer anyway. CORS adds its
/// `Vary: Origin` after this, as a field of its own.
struct PrivateResponseMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if response.headers[.cacheControl] == nil {
            response.headers[.cacheControl] = "no-store"
        }
        if !SessionMiddleware.answersWithoutSession(request.uri.path), !Self.variesOnCookie(response.headers) {
            response.headers.append(HTTPField(name: .vary, value: "Cookie"))
        }
        return response
    }

    static func variesOnCookie(_ headers: HTTPFields) -> Bool {
        headers[values: .vary].contains { field in
            field.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "cookie" }
        }
    }
}
