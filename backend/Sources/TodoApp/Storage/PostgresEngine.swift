import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresKit
import PostgresNIO
import SQLKit
import ServiceLifecycle

/// PostgreSQL through `PostgresClient`'s pool, sized by `DATABASE_POOL_SIZE`.
///
/// While the server is down the pool keeps retrying connections in the background
/// but parks callers until one succeeds, so each lease waits at most `leaseTimeout`
/// and then fails as unavailable: requests answer 503 promptly, and the pool serves
/// again as soon as the server is back, without a restart. After a lease has timed
/// out, later ones wait only `outageLeaseTimeout` until one succeeds again, so an
/// outage costs clients a fraction of a second per request, not seconds.
final class PostgresEngine: DatabaseEngine {
    let client: PostgresClient
    private let location: DatabaseLocation.PostgresLocation
    private let tls: PostgresTLS
    private let logger: Logger
    let leaseTimeout: Duration
    let outageLeaseTimeout: Duration
    private let inOutage = NIOLockedValueBox(false)

    /// Throws `PostgresTLS.SetupError` when the root certificates `sslmode` needs cannot be read.
    init(
        location: DatabaseLocation.PostgresLocation, poolSize: Int, logger: Logger,
        leaseTimeout: Duration = .seconds(3), outageLeaseTimeout: Duration = .milliseconds(500)
    ) throws {
        let tls = try PostgresTLS(location: location)
        self.location = location
        self.tls = tls
        self.logger = logger
        self.leaseTimeout = leaseTimeout
        self.outageLeaseTimeout = outageLeaseTimeout
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.username,
            password: location.password, database: location.database, tls: tls.clientTLS)
        configuration.options.maximumConnections = poolSize
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = leaseTimeout
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await withLeasedConnection { connection in
            try await body(connection.sql(queryLogLevel: .trace))
        }
    }

    /// Runs the query as a named prepared statement, parsed and planned once per connection.
    func fetch<Query: StoreQuery>(_ query: Query) async throws -> [Query.Row] {
        try await withLeasedConnection { connection in
            var rows: [Query.Row] = []
            for try await row in try await connection.execute(PreparedStoreQuery(query: query), logger: self.logger) {
                rows.append(row)
            }
            return rows
        }
    }

    private func withLeasedConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withLeaseDeadline { leased in
            try await self.client.withConnection { connection in
                // Too late: the deadline has already answered for this request.
                guard leased.mark() else { throw CancellationError() }
                self.inOutage.withLockedValue { $0 = false }
                return try await body(connection)
            }
        }
    }

    func withTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await withConnection { sql in
            try await SQLTransaction.run(on: sql, body)
        }
    }

    /// Migrations run before the pool's service starts (at start-up, or from the
    /// `migrate` command, where there is no pool at all), so they use a connection of their own.
    func withMigrationConnection<Result: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        let configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.username,
            password: location.password, database: location.database, tls: try tls.connectionTLS())
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        } catch {
            throw PostgresConnectFailure(location: location, underlying: error)
        }
        do {
            let result = try await body(connection.sql(queryLogLevel: .trace))
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    var services: [any Service] { [client] }

    func close() async {}

    /// Races the operation against `leaseTimeout`, but only until a connection is
    /// leased: a query that has started is left to finish, so a client is never told
    /// "unavailable" about a write that then commits.
    ///
    /// The deadline is a timer on an event loop that cancels the operation's task: a
    /// task group with a sleeping child per query cost a second task and a libdispatch
    /// timer (Swift's sleeps run on dispatch's threads) on every request.
    private func withLeaseDeadline<Result: Sendable>(
        _ operation: @escaping @Sendable (LeaseFlag) async throws -> Result
    ) async throws -> Result {
        let leased = LeaseFlag()
        let timeout = inOutage.withLockedValue { $0 } ? outageLeaseTimeout : leaseTimeout
        let inOutage = self.inOutage
        let task = Task { try await operation(leased) }
        let deadline = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(timeout)) {
            if leased.expireUnlessMarked() {
                inOutage.withLockedValue { $0 = true }
                task.cancel()
            }
        }
        defer { deadline.cancel() }
        return try await withTaskCancellationHandler {
            do {
                return try await task.value
            } catch where leased.hasExpired {
                throw ConnectionLeaseTimeout(waited: timeout)
            }
        } onCancel: {
            task.cancel()
        }
    }
}

/// The first connection (migrations, at start-up) failed: says where to, in which
/// `sslmode`, and why, on one line.
struct PostgresConnectFailure: Error, CustomStringConvertible {
    let location: DatabaseLocation.PostgresLocation
    let underlying: any Error

    var description: String {
        var text = "cannot connect to PostgreSQL at \(location.host):\(location.port) (sslmode=\(location.tls.rawValue)): "
        let cause = Self.innermost(underlying)
        if let error = cause as? NIOSSLExtraError, error == .failedToValidateHostname {
            text += "the server's certificate does not name \(location.host); "
        } else if cause is NIOSSLError, String(describing: cause).contains("CERTIFICATE_VERIFY_FAILED") {
            text += "the server's certificate is not signed by a trusted root certificate; "
        }
        return text + LoggedError.describe(underlying)
    }

    private static func innermost(_ error: any Error) -> any Error {
        if let error = error as? PSQLError, let underlying = error.underlying { return innermost(underlying) }
        return error
    }
}

/// Whether the connection was leased or the deadline passed first: whichever happens
/// first wins, under a lock, so a leased connection's query is never cancelled.
final class LeaseFlag: Sendable {
    private enum State { case waiting, leased, expired }
    private let state = NIOLockedValueBox(State.waiting)

    /// Whether the lease is in time (the deadline has not passed).
    func mark() -> Bool {
        state.withLockedValue { state in
            if state == .waiting { state = .leased }
            return state == .leased
        }
    }

    /// Whether the lease expired now (it was still waiting).
    func expireUnlessMarked() -> Bool {
        state.withLockedValue { state in
            guard state == .waiting else { return false }
            state = .expired
            return true
        }
    }

    var hasExpired: Bool { state.withLockedValue { $0 == .expired } }
}

/// A `StoreQuery` as PostgresNIO's prepared statement: prepared under the query's name
/// the first time a connection runs it, then only bound and executed.
struct PreparedStoreQuery<Query: StoreQuery>: PostgresPreparedStatement {
    typealias Row = Query.Row
    static var name: String { Query.name }
    static var sql: String { Query.text.postgres }

    let query: Query

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: query.binds.count)
        for bind in query.binds {
            switch bind {
            case .integer(let integer): bindings.append(integer)
            case .text(let text): bindings.append(text)
            case .bool(let bool): bindings.append(bool)
            // Typed by PostgreSQL from the statement, when it is prepared.
            case .null: bindings.appendNull()
            }
        }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        var columns = PostgresColumns(cells: row.makeIterator(), query: Query.name)
        return try Query.decode(&columns)
    }
}

/// A PostgreSQL row, read cell by cell with PostgresNIO's typed decoding.
struct PostgresColumns: ColumnReader {
    var cells: PostgresRow.Iterator
    let query: String
    private var index = 0

    init(cells: PostgresRow.Iterator, query: String) {
        self.cells = cells
        self.query = query
    }

    mutating func integer() throws -> Int64 { try next(Int64.self, "bigint") }
    mutating func text() throws -> String { try next(String.self, "text") }
    mutating func bool() throws -> Bool { try next(Bool.self, "boolean") }

    private mutating func next<Value: PostgresDecodable>(_ type: Value.Type, _ name: String) throws -> Value {
        defer { index += 1 }
        guard let cell = cells.next() else {
            throw UnexpectedColumn(query: query, index: index, expected: name, found: "missing")
        }
        do {
            return try cell.decode(Value.self)
        } catch {
            throw UnexpectedColumn(query: query, index: index, expected: name, found: "\(cell.dataType)")
        }
    }
}
