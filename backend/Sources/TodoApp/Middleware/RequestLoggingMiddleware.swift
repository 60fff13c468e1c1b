import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Logs one line per request (method, path, status, duration, request id) and
/// returns the id in `X-Request-Id`, so a user's report can be matched to the log.
struct RequestLoggingMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let requestID = context.id
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Inner layers turn errors into responses; this is the last line of defence.
            response = APIErrors.response(for: error, request: request, logger: context.logger)
        }
        response.headers[.xRequestID] = requestID
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info(
            "\(request.method.rawValue) \(request.uri.path) \(response.status.code)",
            metadata: [
                "http.method": .string(request.method.rawValue),
                "http.path": .string(request.uri.path),
                "http.status": .stringConvertible(response.status.code),
                "duration_ms": .string(String(format: "%.2f", milliseconds)),
            ]
        )
        return response
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
    static let retryAfter = Self("Retry-After")!
}
