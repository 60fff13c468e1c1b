import HTTPTypes
import Hummingbird
import NIOCore

/// Response bodies in the contract's media type.
enum JSONResponse {
    static func make(_ status: HTTPResponse.Status = .ok, _ value: some JSONRepresentable) -> Response {
        var json = JSONOutput()
        value.write(to: &json)
        return make(status, body: json.buffer)
    }

    static func make(_ status: HTTPResponse.Status = .ok, body: ByteBuffer) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    static func noContent() -> Response {
        Response(status: .noContent)
    }
}
