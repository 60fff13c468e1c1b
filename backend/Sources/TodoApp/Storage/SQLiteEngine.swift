import Foundation
import Logging
import NIOConcurrencyHelpers
import SQLKit
import SQLiteKit
import SQLiteNIO
import ServiceLifecycle

/// SQLite through one connection, used by one operation at a time.
///
/// A connection interleaves the statements of concurrent callers, transactions
/// included, so every operation holds `gate` for its whole length. SQLite allows one
/// writer at a time anyway; WAL lets other processes read meanwhile, and the busy
/// timeout makes a second process sharing the file wait for the lock instead of failing.
final class SQLiteEngine: DatabaseEngine {
    let connection: SQLiteConnection
    private let sql: any SQLDatabase
    private let gate = SerialGate()

    static let busyTimeoutMilliseconds = 5000

    private init(connection: SQLiteConnection) {
        self.connection = connection
        self.sql = connection.sql(queryLogLevel: .trace)
    }

    static func open(path: String, logger: Logger) async throws -> SQLiteEngine {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let engine = SQLiteEngine(connection: connection)
        do {
            // journal_mode answers with a row; the others with none.
            try await engine.sql.raw("PRAGMA journal_mode = WAL").run()
            try await engine.sql.raw("PRAGMA foreign_keys = ON").run()
            try await engine.sql.raw("PRAGMA busy_timeout = \(unsafeRaw: String(busyTimeoutMilliseconds))").run()
            // Durable across process crashes; WAL makes NORMAL lose at most the last
            // transactions on power loss, the usual trade-off for a web app.
            try await engine.sql.raw("PRAGMA synchronous = NORMAL").run()
        } catch {
            try? await connection.close()
            throw error
        }
        return engine
    }

    func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        await gate.acquire()
        defer { gate.release() }
        return try await body(sql)
    }

    func withTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        await gate.acquire()
        defer { gate.release() }
        // IMMEDIATE takes the write lock at once, so two processes on one file cannot
        // both read and then fail to upgrade to writing.
        return try await SQLTransaction.run(on: sql, begin: "BEGIN IMMEDIATE", body)
    }

    func withMigrationConnection<Result: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await withConnection(body)
    }

    /// Closes the connection once the HTTP server has drained (services stop in reverse
    /// order, the server first).
    var services: [any Service] { [Closer(engine: self)] }

    private let isClosed = NIOLockedValueBox(false)

    /// Idempotent; later operations fail as the connection is closed.
    func close() async {
        await gate.acquire()
        defer { gate.release() }
        let wasClosed = isClosed.withLockedValue { closed in
            defer { closed = true }
            return closed
        }
        if !wasClosed {
            try? await connection.close()
        }
    }

    struct Closer: Service {
        let engine: SQLiteEngine

        func run() async throws {
            try? await gracefulShutdown()
            await engine.close()
        }
    }
}

/// A first-come first-served async mutex: callers wait in line without blocking a thread.
final class SerialGate: Sendable {
    private struct State {
        var isHeld = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    func acquire() async {
        let acquired = state.withLockedValue { state in
            if state.isHeld { return false }
            state.isHeld = true
            return true
        }
        if acquired { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquiredMeanwhile = state.withLockedValue { state in
                if state.isHeld {
                    state.waiters.append(continuation)
                    return false
                }
                state.isHeld = true
                return true
            }
            if acquiredMeanwhile { continuation.resume() }
        }
    }

    /// Hands the gate to the next waiter, or opens it.
    func release() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.isHeld = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
