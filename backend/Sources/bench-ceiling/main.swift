import Foundation
import Hummingbird
import Logging
import NIOPosix
import PostgresNIO
import ServiceLifecycle

/// The framework's ceiling for `make bench`: one route returning a small JSON body, no
/// middleware. Every todolist scenario is reported as a ratio to this.
///
/// `bench-ceiling PORT [POSTGRES_URL]`: with a PostgreSQL URL (`postgres://user@host:port/db`),
/// also `GET /api/round-trip/`, the same answer after one `SELECT 1` on that server, on a
/// connection of the request's own event loop: no request that must ask PostgreSQL anything
/// after it arrives (as a list served from the cache asks for its barrier) answers sooner.
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

var services: [any Service] = []
if arguments.count > 1, let url = URLComponents(string: arguments[1]), let host = url.host {
    // One small pool per event loop, as the todolist server keeps them.
    let clients = MultiThreadedEventLoopGroup.singleton.makeIterator().map { loop in
        var configuration = PostgresClient.Configuration(
            host: host, port: url.port ?? 5432, username: url.user ?? "postgres", password: url.password,
            database: String(url.path.dropFirst()), tls: .disable)
        configuration.options.maximumConnections = 4
        return (loop: loop, client: PostgresClient(configuration: configuration, eventLoopGroup: loop, backgroundLogger: logger))
    }
    services = clients.map(\.client)
    router.get("/api/round-trip/") { _, _ -> Response in
        let current = MultiThreadedEventLoopGroup.currentEventLoop
        let client = clients.first { $0.loop === current }?.client ?? clients[0].client
        _ = try await client.query("SELECT 1", logger: logger).collect()
        return answer()
    }
}
let app = Application(
    router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), services: services)
try await app.runService()
