import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// PostgreSQL through `PostgresClient`'s pools, `DATABASE_POOL_SIZE` connections in all.
///
/// There is one client per event loop, its connections' channels on that loop, and a query
/// goes to the client of the loop it is made from: writing it, reading its reply and resuming
/// the caller then happen on the caller's thread, with no hand-off to another loop and back.
/// The pool size is split between the loops (a pool smaller than the loop count leaves some
/// loops without a client; their queries, and those made off the loops, go to the first).
///
/// While the server is down the pool keeps retrying connections in the background
/// but parks callers until one succeeds, so each lease waits at most `leaseTimeout`
/// and then fails as unavailable: requests answer 503 promptly, and the pool serves
/// again as soon as the server is back, without a restart. After a lease has timed
/// out, later ones wait only `outageLeaseTimeout` until one succeeds again, so an
/// outage costs clients a fraction of a second per request, not seconds. Work on a leased
/// connection has `queryTimeout`, after which the connection is closed.
final class PostgresEngine: DatabaseEngine {
    private let clients: [LoopClient]
    private let location: DatabaseLocation.PostgresLocation
    private let tls: PostgresTLS
    private let logger: Logger
    let leaseTimeout: Duration
    let outageLeaseTimeout: Duration
    let queryTimeout: Duration
    private let inOutage = NIOLockedValueBox(false)

    /// How long a pooled connection may stay idle before it is closed (see `init`).
    static let connectionIdleTimeout: Duration = .seconds(10)

    /// Throws `PostgresTLS.SetupError` when the root certificates `sslmode` needs cannot be read.
    init(
        location: DatabaseLocation.PostgresLocation, poolSize: Int, logger: Logger,
        leaseTimeout: Duration = .seconds(3), outageLeaseTimeout: Duration = .milliseconds(500),
        queryTimeout: Duration = .seconds(3), eventLoopGroup: MultiThreadedEventLoopGroup = .singleton
    ) throws {
        let tls = try PostgresTLS(location: location)
        self.location = location
        self.tls = tls
        self.logger = logger
        self.leaseTimeout = leaseTimeout
        self.outageLeaseTimeout = outageLeaseTimeout
        self.queryTimeout = queryTimeout
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.username,
            password: location.password, database: location.database, tls: tls.clientTLS)
        configuration.options.connectTimeout = leaseTimeout
        // Few pool timers, short ones. The pool arms them each time a connection goes back
        // idle, with `Task.sleep`, and a cancelled sleep stays allocated until its deadline:
        // with the defaults (a keep-alive ping after 30 s, closing after 60 s idle) every
        // query at a moderate load left ~1.3 KiB behind for up to a minute (docs/performance.md,
        // "Memory per idle stream"). So no keep-alive (an idle connection is closed before a
        // ping would matter; one that died is found by its next query, which `queryTimeout`
        // bounds) and a short idle timeout. (`minimumConnections` above 0 would arm no idle
        // timer, but this pool then trips a precondition when PostgreSQL is away.)
        configuration.options.keepAliveBehavior = nil
        configuration.options.connectionIdleTimeout = Self.connectionIdleTimeout
        let loops = Array(eventLoopGroup.makeIterator())
        let count = max(1, min(loops.count, poolSize))
        self.clients = (0..<count).map { index in
            var configuration = configuration
            configuration.options.maximumConnections = poolSize / count + (index < poolSize % count ? 1 : 0)
            return LoopClient(
                loop: loops[index],
                client: PostgresClient(configuration: configuration, eventLoopGroup: loops[index], backgroundLogger: logger))
        }
    }

    private struct LoopClient: Sendable {
        let loop: any EventLoop
        let client: PostgresClient
    }

    /// The client of the caller's event loop (see the type's comment).
    private var client: PostgresClient {
        if let current = MultiThreadedEventLoopGroup.currentEventLoop {
            for entry in clients where entry.loop === current {
                return entry.client
            }
        }
        return clients[0].client
    }

    /// Runs the query as a named prepared statement, parsed and planned once per connection.
    func fetch<Query: StoreQuery>(_ query: Query) async throws -> [Query.Row] {
        try await withLeasedConnection { connection in
            try await PostgresStoreConnection(connection: connection, logger: self.logger).fetch(query)
        }
    }

    /// The transaction's statements run on the leased connection, under its deadlines.
    func withTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (any StoreConnection) async throws -> Result
    ) async throws -> Result {
        try await withLeasedConnection { connection in
            try await StoreTransaction.run(on: PostgresStoreConnection(connection: connection, logger: self.logger), body)
        }
    }

    private func withLeasedConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withDeadlines { deadlines in
            try await self.client.withConnection { connection in
                // Too late: the deadline has already answered for this request.
                guard deadlines.leased(connection) else { throw CancellationError() }
                self.inOutage.withLockedValue { $0 = false }
                return try await body(connection)
            }
        }
    }

    /// Migrations run before the pool's service starts (at start-up, or from the
    /// `migrate` command, where there is no pool at all), so they use a connection of their own.
    func withMigrationConnection<Result: Sendable>(
        _ body: @escaping @Sendable (any StoreConnection) async throws -> Result
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
            let result = try await body(PostgresStoreConnection(connection: connection, logger: logger))
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    var services: [any Service] { clients.map(\.client) }

    /// A connection of its own, outside the pool, for a caller that holds it indefinitely
    /// (the live updates' `LISTEN`); the caller closes it.
    func connect(logger: Logger) async throws -> PostgresConnection {
        let configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.username,
            password: location.password, database: location.database, tls: try tls.connectionTLS())
        return try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
    }

    func close() async {}

    /// Runs the operation against two deadlines: `leaseTimeout` for a connection, then
    /// `queryTimeout` for the work on it. Whichever ends first answers, once:
    /// - the lease deadline answers `ConnectionLeaseTimeout` (503) and cancels the wait;
    ///   nothing was sent to the database;
    /// - the query deadline answers `QueryTimeout` (503, the outcome of a write unknown)
    ///   and closes the connection: PostgreSQL rolls back what it has not committed, and
    ///   the pool replaces the connection.
    ///
    /// The query deadline does not wait for the operation to end: PostgresNIO (1.33) writes
    /// each query to its channel without a write promise, so a query sent on a connection
    /// that closed while it was being leased (PostgreSQL shutting down, a reset) is never
    /// answered, even once the connection is closed. Such an operation is left suspended
    /// (a task and its closure), and its connection leaves the pool when it closes.
    ///
    /// The timers run on an event loop: a task group with a sleeping child per query cost
    /// a second task and a libdispatch timer (Swift's sleeps run on dispatch's threads) on
    /// every request.
    private func withDeadlines<Result: Sendable>(
        _ operation: @escaping @Sendable (OperationDeadlines<Result>) async throws -> Result
    ) async throws -> Result {
        let deadlines = OperationDeadlines<Result>(
            leaseTimeout: inOutage.withLockedValue { $0 } ? outageLeaseTimeout : leaseTimeout,
            queryTimeout: queryTimeout, inOutage: inOutage)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                deadlines.start(answering: continuation) { try await operation(deadlines) }
            }
        } onCancel: {
            deadlines.cancel()
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

/// One database operation's race between its work and its deadlines (see
/// `PostgresEngine.withDeadlines`): under a lock, whichever of the work, the lease deadline
/// and the query deadline ends first answers the caller; the others find it answered.
final class OperationDeadlines<Result: Sendable>: Sendable {
    private enum Phase {
        case waiting
        case leased(PostgresConnection)
        case answered
    }

    private typealias Answer = CheckedContinuation<Result, any Error>

    private struct State {
        var phase = Phase.waiting
        var continuation: Answer?
        var work: Task<Void, Never>?
        var timer: Scheduled<Void>?
    }

    private let leaseTimeout: Duration
    private let queryTimeout: Duration
    private let inOutage: NIOLockedValueBox<Bool>
    private let loop = MultiThreadedEventLoopGroup.singleton.any()
    private let state = NIOLockedValueBox(State())

    init(leaseTimeout: Duration, queryTimeout: Duration, inOutage: NIOLockedValueBox<Bool>) {
        self.leaseTimeout = leaseTimeout
        self.queryTimeout = queryTimeout
        self.inOutage = inOutage
    }

    /// Starts the work and the lease deadline; `continuation` is resumed exactly once.
    func start(
        answering continuation: CheckedContinuation<Result, any Error>,
        _ work: @escaping @Sendable () async throws -> Result
    ) {
        state.withLockedValue { $0.continuation = continuation }
        let task = Task {
            do {
                self.answer(.success(try await work()))
            } catch {
                self.answer(.failure(error))
            }
        }
        let timer = loop.scheduleTask(in: TimeAmount(leaseTimeout)) { self.leaseDeadlinePassed() }
        let answered = state.withLockedValue { state in
            state.work = task
            guard case .answered = state.phase else {
                state.timer = timer
                return false
            }
            return true
        }
        if answered {
            timer.cancel()
        }
    }

    /// Whether the connection came in time; if so, the query deadline starts now.
    func leased(_ connection: PostgresConnection) -> Bool {
        let (inTime, leaseTimer) = state.withLockedValue { state -> (Bool, Scheduled<Void>?) in
            guard case .waiting = state.phase else { return (false, nil) }
            state.phase = .leased(connection)
            let leaseTimer = state.timer
            state.timer = loop.scheduleTask(in: TimeAmount(queryTimeout)) { self.queryDeadlinePassed() }
            return (true, leaseTimer)
        }
        leaseTimer?.cancel()
        return inTime
    }

    /// The caller went away: stop waiting for a connection (a query already sent finishes).
    func cancel() {
        state.withLockedValue { $0.work }?.cancel()
    }

    private func answer(_ result: Swift.Result<Result, any Error>) {
        let (continuation, timer) = state.withLockedValue { state -> (Answer?, Scheduled<Void>?) in
            if case .answered = state.phase { return (nil, nil) }
            state.phase = .answered
            defer { state.continuation = nil }
            return (state.continuation, state.timer)
        }
        timer?.cancel()
        continuation?.resume(with: result)
    }

    private func leaseDeadlinePassed() {
        let (continuation, work) = state.withLockedValue { state -> (Answer?, Task<Void, Never>?) in
            guard case .waiting = state.phase else { return (nil, nil) }
            state.phase = .answered
            defer { state.continuation = nil }
            return (state.continuation, state.work)
        }
        guard let continuation else { return }
        inOutage.withLockedValue { $0 = true }
        work?.cancel()
        continuation.resume(throwing: ConnectionLeaseTimeout(waited: leaseTimeout))
    }

    private func queryDeadlinePassed() {
        let (continuation, connection) = state.withLockedValue { state -> (Answer?, PostgresConnection?) in
            guard case .leased(let connection) = state.phase else { return (nil, nil) }
            state.phase = .answered
            defer { state.continuation = nil }
            return (state.continuation, connection)
        }
        guard let continuation, let connection else { return }
        connection.close().whenComplete { _ in }
        continuation.resume(throwing: QueryTimeout(waited: queryTimeout))
    }
}

/// A `StoreQuery` as PostgresNIO's prepared statement: prepared under the query's name
/// the first time a connection runs it, then only bound and executed. Its rows are
/// PostgresNIO's, decoded by `PostgresStoreConnection`, which knows their positions.
struct PreparedStoreQuery<Query: StoreQuery>: PostgresPreparedStatement {
    typealias Row = PostgresRow
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
            case .integers(let integers): bindings.append(integers)
            case .texts(let texts): bindings.append(texts)
            // Typed by PostgreSQL from the statement, when it is prepared.
            case .null: bindings.appendNull()
            }
        }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow {
        row
    }
}

/// A PostgreSQL row, read cell by cell: the binary `bigint`, `text` and `boolean` cells the
/// statements select are read straight from their bytes, any other cell through PostgresNIO's
/// typed decoding (which converts it or refuses it).
struct PostgresColumns: ColumnReader {
    var cells: PostgresRow.Iterator
    let query: String
    let row: Int
    private var index = 0

    init(cells: PostgresRow.Iterator, query: String, row: Int) {
        self.cells = cells
        self.query = query
        self.row = row
    }

    mutating func skip(_ count: Int) {
        for _ in 0..<count {
            _ = cells.next()
        }
        index += count
    }

    mutating func integer() throws -> Int64 {
        let cell = try next("bigint")
        if cell.dataType == .int8, cell.format == .binary, let value = cell.bytes?.binaryBigint {
            return value
        }
        return try decode(cell, as: Int64.self, "bigint")
    }

    mutating func text() throws -> String {
        let cell = try next("text")
        if cell.dataType == .text, let bytes = cell.bytes {
            return String(buffer: bytes)
        }
        return try decode(cell, as: String.self, "text")
    }

    mutating func bool() throws -> Bool {
        let cell = try next("boolean")
        if cell.dataType == .bool, cell.format == .binary, let value = cell.bytes?.binaryBoolean {
            return value
        }
        return try decode(cell, as: Bool.self, "boolean")
    }

    mutating func optionalInteger() throws -> Int64? { try nextIsNull() ? skipNull() : integer() }
    mutating func optionalText() throws -> String? { try nextIsNull() ? skipNull() : text() }

    mutating func nextIsNull() -> Bool {
        var ahead = cells
        guard let cell = ahead.next() else { return false }
        return cell.bytes == nil
    }

    private mutating func skipNull<Value>() -> Value? {
        skip(1)
        return nil
    }

    static let nestsRows = true

    /// Reads a binary `record[]` cell: a dimension count (0 for an empty array), a flag, the
    /// element type, then for the one dimension its length and lower bound, and each element
    /// as its length and its bytes (`array_send`); each element is a record
    /// (`PostgresRecordColumns`).
    mutating func nestedRows<Nested: StoreQuery>(as nested: Nested.Type) throws -> [Nested.Row] {
        let cell = try next("record[]")
        guard cell.dataType == .recordArray, cell.format == .binary, var bytes = cell.bytes else {
            throw UnexpectedColumn(query: query, index: index - 1, expected: "record[]", found: "\(cell.dataType)")
        }
        func malformed() -> UnexpectedColumn {
            UnexpectedColumn(query: query, index: index - 1, expected: "record[]", found: "a malformed array")
        }
        guard let dimensions = bytes.readInteger(as: Int32.self) else { throw malformed() }
        if dimensions == 0 { return [] }
        // The flag and the element type (8 bytes), the length, the lower bound (4 bytes).
        guard dimensions == 1, bytes.readSlice(length: 8) != nil,
            let count = bytes.readInteger(as: Int32.self), count >= 0, bytes.readSlice(length: 4) != nil
        else { throw malformed() }
        var rows: [Nested.Row] = []
        rows.reserveCapacity(Int(count))
        for element in 0..<Int(count) {
            guard let length = bytes.readInteger(as: Int32.self), length >= 0,
                let record = bytes.readSlice(length: Int(length))
            else { throw malformed() }
            var fields = try PostgresRecordColumns(record: record, query: query, row: element)
            rows.append(try Nested.decode(&fields))
        }
        return rows
    }

    private mutating func next(_ expected: String) throws -> PostgresCell {
        guard let cell = cells.next() else {
            throw UnexpectedColumn(query: query, index: index, expected: expected, found: "missing")
        }
        index += 1
        return cell
    }

    private func decode<Value: PostgresDecodable>(_ cell: PostgresCell, as type: Value.Type, _ expected: String) throws -> Value {
        do {
            return try cell.decode(Value.self)
        } catch {
            throw UnexpectedColumn(query: query, index: index - 1, expected: expected, found: "\(cell.dataType)")
        }
    }
}

extension ByteBuffer {
    /// A binary `bigint` value's bytes as the integer, or `nil` when they are not 8 bytes.
    var binaryBigint: Int64? {
        readableBytes == 8 ? getInteger(at: readerIndex, as: Int64.self) : nil
    }

    /// A binary `boolean` value's byte as the boolean, or `nil` when it is not 1 byte.
    var binaryBoolean: Bool? {
        readableBytes == 1 ? getInteger(at: readerIndex, as: UInt8.self).map { $0 != 0 } : nil
    }
}

/// One record of a nested list (`PostgresColumns.nestedRows`), its fields read left to right
/// from `record_send`'s format: a field count, then for each field its type, its length
/// (-1 for NULL) and its bytes, binary as a cell's. Its `bigint`, `text` and `boolean`
/// fields are the only types it reads.
struct PostgresRecordColumns: ColumnReader {
    private var fields: ByteBuffer
    private var remaining: Int
    let query: String
    let row: Int
    private var index = 0

    init(record: ByteBuffer, query: String, row: Int) throws {
        fields = record
        self.query = query
        self.row = row
        guard let count = fields.readInteger(as: Int32.self), count >= 0 else {
            throw UnexpectedColumn(query: query, index: 0, expected: "a record", found: "a malformed record")
        }
        remaining = Int(count)
    }

    static let nestsRows = false

    mutating func nestedRows<Nested: StoreQuery>(as nested: Nested.Type) throws -> [Nested.Row] {
        throw UnexpectedColumn(query: query, index: index, expected: "nested rows", found: "a record's field")
    }

    mutating func skip(_ count: Int) {
        for _ in 0..<count {
            _ = try? field()
        }
    }

    mutating func integer() throws -> Int64 {
        guard let value = try nonNull(.int8, "bigint").binaryBigint else {
            throw unexpected("bigint", found: "a malformed bigint")
        }
        return value
    }

    mutating func text() throws -> String {
        String(buffer: try nonNull(.text, "text"))
    }

    mutating func bool() throws -> Bool {
        guard let value = try nonNull(.bool, "boolean").binaryBoolean else {
            throw unexpected("boolean", found: "a malformed boolean")
        }
        return value
    }

    mutating func optionalInteger() throws -> Int64? { nextIsNull() ? skipNull() : try integer() }
    mutating func optionalText() throws -> String? { nextIsNull() ? skipNull() : try text() }

    mutating func nextIsNull() -> Bool {
        remaining > 0 && fields.getInteger(at: fields.readerIndex + 4, as: Int32.self) == -1
    }

    private mutating func skipNull<Value>() -> Value? {
        skip(1)
        return nil
    }

    /// The next field's bytes (`nil` for NULL), once its type is `type` (any type when `nil`).
    private mutating func field(_ type: PostgresDataType? = nil, _ expected: String = "") throws -> ByteBuffer? {
        guard remaining > 0, let oid = fields.readInteger(as: UInt32.self), let length = fields.readInteger(as: Int32.self)
        else { throw unexpected(expected, found: "missing") }
        remaining -= 1
        index += 1
        if let type, oid != type.rawValue {
            throw unexpected(expected, found: "\(PostgresDataType(oid))")
        }
        guard length >= 0 else { return nil }
        guard let bytes = fields.readSlice(length: Int(length)) else { throw unexpected(expected, found: "a malformed record") }
        return bytes
    }

    private mutating func nonNull(_ type: PostgresDataType, _ expected: String) throws -> ByteBuffer {
        guard let bytes = try field(type, expected) else { throw unexpected(expected, found: "NULL") }
        return bytes
    }

    private func unexpected(_ expected: String, found: String) -> UnexpectedColumn {
        UnexpectedColumn(query: query, index: index - 1, expected: expected, found: found)
    }
}

/// A PostgreSQL connection a transaction or a migration holds: each statement prepared
/// under its name the first time this connection runs it, except `SchemaStatement`s, which
/// run once, unnamed.
struct PostgresStoreConnection: StoreConnection {
    let connection: PostgresConnection
    let logger: Logger
    var kind: Database.Kind { .postgres }

    func fetch<Query: StoreQuery>(_ query: Query) async throws -> [Query.Row] {
        guard Query.isPrepared else {
            for try await _ in try await connection.query(PostgresQuery(unsafeSQL: query.statementText.postgres), logger: logger) {}
            return []
        }
        var rows: [Query.Row] = []
        for try await row in try await connection.execute(PreparedStoreQuery(query: query), logger: logger) {
            var columns = PostgresColumns(cells: row.makeIterator(), query: Query.name, row: rows.count)
            rows.append(try Query.decode(&columns))
        }
        return rows
    }
}
