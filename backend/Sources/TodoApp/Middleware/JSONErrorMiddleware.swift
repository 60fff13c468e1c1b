import Foundation
import CrossOriginSecurity
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Turns every error into the contract's JSON shape; unexpected ones become a
/// logged `500 internal_error` instead of leaking details or dropping the connection.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return APIErrors.response(for: error, request: request, logger: context.logger)
        }
    }
}

enum APIErrors {
    static func response(for error: any Error, request: Request, logger: Logger) -> Response {
        switch error {
        case let error as JSONError:
            return error.makeResponse()
        case let error as DatabaseUnavailable where error.isStorageFull:
            logger.error("database storage full", metadata: ["error": .string(LoggedError.describe(error.underlying))])
            return insufficientStorage.makeResponse()
        case let error as DatabaseUnavailable:
            logger.error("database unavailable", metadata: ["error": .string(LoggedError.describe(error.underlying))])
            return JSONError(
                .serviceUnavailable, code: "database_unavailable",
                detail: "The database cannot be reached right now; try again shortly."
            ).makeResponse()
        case let error as HTTPError:
            return translate(error).makeResponse()
        case is NIOTooManyBytesError:
            return payloadTooLarge.makeResponse()
        case let error where Database.isForeignKeyViolation(error):
            // The request was authenticated, then the account was deleted before its write
            // (nothing was written): its client is logged out now.
            return accountDeleted.makeResponse()
        default:
            logger.error(
                "unexpected failure",
                metadata: ["error": .string(LoggedError.describe(error)), "http.path": .string(request.uri.path)])
            return internalError.makeResponse()
        }
    }

    static let accountDeleted = JSONError(
        .unauthorized, code: "not_authenticated", detail: "This account has been deleted; log in again.")

    static let internalError = JSONError(
        .internalServerError, code: "internal_error", detail: "The server failed unexpectedly; the failure was logged.")

    /// Hummingbird raises plain `HTTPError`s for unknown routes and oversized bodies.
    static func translate(_ error: HTTPError) -> JSONError {
        switch error.status {
        case .notFound:
            return JSONError(.notFound, code: "not_found", detail: "Nothing is found at this path.", headers: error.headers)
        case .contentTooLarge:
            return payloadTooLarge
        case .methodNotAllowed:
            return JSONError(
                .methodNotAllowed, code: "method_not_allowed", detail: "This method is not allowed here.", headers: error.headers)
        case .badRequest:
            return JSONError(.badRequest, code: "bad_request", detail: error.body ?? "The request is malformed.", headers: error.headers)
        default:
            let code = error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
            return JSONError(error.status, code: code, detail: error.body ?? "\(error.status.reasonPhrase).", headers: error.headers)
        }
    }

    static let insufficientStorage = JSONError(
        .init(code: 507, reasonPhrase: "Insufficient Storage"), code: "insufficient_storage",
        detail: "The server has no storage space left for this change; nothing was written.")

    static let payloadTooLarge = JSONError(
        .contentTooLarge, code: "payload_too_large", detail: "The request body is larger than 64 KiB.")
}

/// The store could not reach its database; answered as 503 so clients retry later.
struct DatabaseUnavailable: Error {
    let underlying: any Error
}
