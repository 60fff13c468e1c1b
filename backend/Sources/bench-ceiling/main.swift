import Hummingbird

/// The framework's ceiling for `make bench`: one route returning a small JSON body,
/// no middleware. Every todolist scenario is reported as a ratio to this.
let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 8099
let router = Router()
router.get("/api/ping/") { _, _ -> Response in
    var headers = HTTPFields()
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"result":"OK"}"#)))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
