import Foundation
import HTTPTypes
import Hummingbird

/// The one error shape of a JSON API: `{"error": "<code>", "detail": "<sentence>", ...}`.
///
/// Throw it from a handler or middleware; it renders itself, so every layer that
/// catches `HTTPResponseError` (including Hummingbird's router) answers with JSON.
public struct JSONError: HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var detail: String
    /// Extra string members after `error` and `detail`, such as `reason` or `field`.
    public var extra: KeyValuePairs<String, String>
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status,
        code: String,
        detail: String,
        extra: KeyValuePairs<String, String> = [:],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        makeResponse()
    }

    public func makeResponse() -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// The JSON object the error is answered with.
    public var body: ByteBuffer {
        var members: [(String, String)] = [("error", code), ("detail", detail)]
        members.append(contentsOf: extra.map { ($0.key, $0.value) })
        return ByteBuffer(string: JSONText.object(members))
    }

    public var description: String { "\(status.code) \(code): \(detail)" }
}

/// Minimal JSON writing for flat string objects, the shape of every error payload.
public enum JSONText {
    public static func object(_ members: [(String, String)]) -> String {
        var output = "{"
        for (index, member) in members.enumerated() {
            if index > 0 { output += "," }
            output += string(member.0) + ":" + string(member.1)
        }
        return output + "}"
    }

    public static func string(_ value: String) -> String {
        var output = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                output += String(format: "\\u%04x", scalar.value)
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output + "\""
    }
}
