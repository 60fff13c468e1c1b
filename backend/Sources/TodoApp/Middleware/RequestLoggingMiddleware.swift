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
        context.logger.info(
            "\(request.method.rawValue) \(request.uri.path) \(response.status.code)",
            metadata: [
                "http.method": .string(request.method.rawValue),
                "http.path": .string(request.uri.path),
                "http.status": .stringConvertible(response.status.code),
                "duration_ms": .string(Self.milliseconds(elapsed)),
            ]
        )
        return response
    }

    /// `1.25` for 1 250 µs: two decimals, without `String(format:)`, which goes through
    /// Foundation's locale-aware formatting on every request.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let hundredths = seconds * 100_000 + attoseconds / 10_000_000_000_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
    static let retryAfter = Self("Retry-After")!
}
