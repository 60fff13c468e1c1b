import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Encodes response bodies with one shared encoder and the contract's media type.
enum JSONResponse {
    static func make(_ status: HTTPResponse.Status = .ok, _ value: some Encodable) throws -> Response {
        let data = try encoder.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func noContent() -> Response {
        Response(status: .noContent)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.string(from: date))
        }
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
}

/// RFC 3339 timestamps in UTC with millisecond precision, e.g. `2026-11-25T21:41:52.123Z`.
enum RFC3339 {
    static func string(from date: Date) -> String {
        date.formatted(
            Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }
}
