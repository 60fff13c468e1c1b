import CrossOriginSecurity
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Reads request bodies in the contract's order: size (413), then media type
/// (415), then JSON syntax (400).
enum JSONBody {
    static let maxSize = 64 * 1024

    /// The body as a JSON object; an empty or non-object body is `400 invalid_json`.
    static func object(from request: Request, context: some RequestContext) async throws -> JSONObject {
        guard let value = try await value(from: request, context: context) else {
            throw invalidJSON("The request body must be a JSON object.")
        }
        guard case .object(let members) = value else {
            throw invalidJSON("The request body must be a JSON object.")
        }
        return JSONObject(members: members)
    }

    /// Reads the whole body into memory, so that handlers read it without waiting and
    /// an oversized body is refused on every route, whether its length was announced
    /// (`Content-Length`, refused before reading) or not (chunked, refused at the byte
    /// past the limit). Returns whether the request has a body (it may still be empty).
    static func collect(_ request: inout Request) async throws -> Bool {
        // Nothing to wait for without a body, which spares most GETs a trip through the stream.
        guard announcesBody(request.headers) else { return false }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxSize {
            throw APIErrors.payloadTooLarge
        }
        do {
            _ = try await request.collectBody(upTo: maxSize)
        } catch is NIOTooManyBytesError {
            throw APIErrors.payloadTooLarge
        }
        return true
    }

    /// Whether a request's head says a body follows: without `Content-Length` or
    /// `Transfer-Encoding` a request has none (RFC 9112 §6.3), nor with `Content-Length: 0`.
    static func announcesBody(_ headers: HTTPFields) -> Bool {
        if let length = headers[.contentLength] { return length != "0" }
        return headers[.transferEncoding] != nil
    }

    /// The body as any JSON value, or `nil` when there is no body at all. Routes get
    /// their bodies already read by `collect` (see `RouteTable`), so this only reads memory.
    static func value(from request: Request, context: some RequestContext) async throws -> JSONValue? {
        let buffer = try await request.body.collect(upTo: maxSize)
        if buffer.readableBytes == 0 { return nil }
        guard isJSON(request.headers[.contentType]) else {
            throw JSONError(
                .unsupportedMediaType, code: "unsupported_media_type",
                detail: "The request body must be sent as application/json.")
        }
        do {
            return try buffer.withUnsafeReadableBytes { bytes throws(StrictJSONParser.JSONSyntaxError) in
                try StrictJSONParser.parse(bytes)
            }
        } catch {
            throw invalidJSON("The request body is not valid JSON (RFC 8259): \(error.reason) at byte \(error.offset).")
        }
    }

    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        // What clients nearly always send, recognised without splitting or lower-casing.
        if contentType == "application/json" || contentType == "application/json; charset=utf-8" { return true }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? ""
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    static func invalidJSON(_ detail: String) -> JSONError {
        JSONError(.badRequest, code: "invalid_json", detail: detail)
    }
}
