import HTTPTypes
import Hummingbird

/// Which origins may read responses with credentials, and what a preflight grants them.
///
/// Unlike a wildcard policy, an allowed origin is echoed back exactly with
/// `Access-Control-Allow-Credentials: true`, and a disallowed one gets no
/// `Access-Control-Allow-*` header at all, so the browser keeps the response from it.
public struct CORSPolicy: Sendable {
    public var allowedOrigins: TrustedOrigins
    public var allowMethods: [HTTPRequest.Method]
    /// Lower-case header names, as browsers send them in `Access-Control-Request-Headers`.
    public var allowHeaders: [String]
    public var exposeHeaders: [String]
    /// How long a browser may cache a preflight answer, in seconds.
    public var maxAge: Int

    public init(
        allowedOrigins: TrustedOrigins,
        allowMethods: [HTTPRequest.Method] = [.delete, .get, .options, .patch, .post, .put],
        allowHeaders: [String] = ["accept", "authorization", "content-type", "user-agent", "x-csrftoken", "x-requested-with"],
        exposeHeaders: [String] = ["Retry-After", "X-Request-Id"],
        maxAge: Int = 86400
    ) {
        self.allowedOrigins = allowedOrigins
        self.allowMethods = allowMethods
        self.allowHeaders = allowHeaders
        self.exposeHeaders = exposeHeaders
        self.maxAge = maxAge
    }
}

/// Applies a `CORSPolicy` to every response, before and around routing.
///
/// Add it to the router before the routes and before any middleware whose errors
/// should stay readable by the frontend: it turns thrown `HTTPResponseError`s into
/// responses so that error answers carry the CORS headers too.
public struct CORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: CORSPolicy
    let allowMethodsValue: String
    let allowHeadersValue: String
    let exposeHeadersValue: String
    let maxAgeValue: String

    public init(policy: CORSPolicy) {
        self.policy = policy
        self.allowMethodsValue = policy.allowMethods.map(\.rawValue).joined(separator: ", ")
        self.allowHeadersValue = policy.allowHeaders.joined(separator: ", ")
        self.exposeHeadersValue = policy.exposeHeaders.joined(separator: ", ")
        self.maxAgeValue = String(policy.maxAge)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let origin = request.headers[.origin]
        let allowedOrigin = origin.flatMap { policy.allowedOrigins.allows($0) ? $0 : nil }

        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            // A preflight never reaches a handler: the answer is the same for every path and method.
            var headers = HTTPFields()
            headers[.vary] = "Origin"
            if let allowedOrigin {
                headers[.accessControlAllowOrigin] = allowedOrigin
                headers[.accessControlAllowCredentials] = "true"
                headers[.accessControlAllowMethods] = allowMethodsValue
                headers[.accessControlAllowHeaders] = allowHeadersValue
                headers[.accessControlMaxAge] = maxAgeValue
            }
            headers[.contentLength] = "0"
            return Response(status: .ok, headers: headers)
        }

        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        appendVaryOrigin(to: &response.headers)
        if let allowedOrigin {
            response.headers[.accessControlAllowOrigin] = allowedOrigin
            response.headers[.accessControlAllowCredentials] = "true"
            if !exposeHeadersValue.isEmpty {
                response.headers[.accessControlExposeHeaders] = exposeHeadersValue
            }
        }
        return response
    }

    /// Adds `Vary: Origin` unless a `Vary` field already names it. Runs on every response,
    /// so the fields are compared as bytes, with nothing allocated.
    private func appendVaryOrigin(to headers: inout HTTPFields) {
        for field in headers where field.name == .vary && CORSPolicy.varyNamesOrigin(field.value) {
            return
        }
        headers.append(HTTPField(name: .vary, value: "Origin"))
    }
}

extension CORSPolicy {
    /// Whether a `Vary` value (a comma-separated list of field names, with optional spaces or
    /// tabs around each) holds `Origin`, in any letter case.
    static func varyNamesOrigin(_ value: String) -> Bool {
        let origin = "origin".utf8
        func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        return value.utf8.split(separator: UInt8(ascii: ",")).contains { item in
            let name = item.drop(while: isSpace).reversed().drop(while: isSpace).reversed()
            // Every letter of "origin" is lower case: OR-ing 0x20 folds only its upper case onto it.
            return name.count == origin.count && zip(name, origin).allSatisfy { $0 | 0x20 == $1 }
        }
    }
}
