import Foundation
import Hummingbird
import Logging
import NIOPosix
import PostgresNIO

/// The framework's ceiling for `make bench`: one route returning a small JSON body, no
/// middleware. Every todolist scenario is reported as a ratio to this.
///
/// `bench-ceiling PORT [POSTGRES_URL]`: with a PostgreSQL URL (`postgres://user@host:port/db`),
/// also `GET /api/round-trip/`, the same answer after one `SELECT 1` on that server, sent on a
/// connection of the request's own event loop: the least a request costs that must ask
/// PostgreSQL something after it arrives (as a list served from the cache asks for a barrier).
let arguments = Array(CommandLine.arguments.dropFirst())
let port = arguments.first.flatMap(Int.init) ?? 8099
let logger = Logger(label: "bench-ceiling")

func answer() -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"result":"OK"}"#)))
}

let router = Router()
router.get("/api/ping/") { _, _ -> Response in answer() }

if arguments.count > 1, let url = URLComponents(string: arguments[1]), let host = url.host {
    // One connection per event loop, opened now; a request's query goes to its own loop's.
    let configuration = PostgresConnection.Configuration(
        host: host, port: url.port ?? 5432, username: url.user ?? "postgres", password: url.password,
        database: String(url.path.dropFirst()), tls: .disable)
    var connections: [(loop: any EventLoop, connection: PostgresConnection)] = []
    for (index, loop) in MultiThreadedEventLoopGroup.singleton.makeIterator().enumerated() {
        let connection = try await PostgresConnection.connect(
            on: loop, configuration: configuration, id: index, logger: logger
        ).get()
        connections.append((loop, connection))
    }
    router.get("/api/round-trip/") { [connections] _, _ -> Response in
        let current = MultiThreadedEventLoopGroup.currentEventLoop
        let connection = connections.first { $0.loop === current }?.connection ?? connections[0].connection
        _ = try await connection.query("SELECT 1", logger: logger).collect()
        return answer()
    }
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
