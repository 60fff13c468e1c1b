import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle

/// The process's one `LISTEN todolist_live` connection, outside the pool: it is held for
/// the life of the process.
///
/// When the connection is lost (PostgreSQL restarted, a network failure) it reconnects by
/// itself, backing off up to `maxBackoff`; once listening again it sends every open
/// stream a `resync`, since notifications sent meanwhile are lost. While connected it
/// checks the connection every `pingInterval`, so a connection that died silently is
/// noticed and replaced.
struct PostgresListener: Service {
    let engine: PostgresEngine
    let live: LiveUpdates
    let logger: Logger
    var maxBackoff: Duration = .seconds(5)
    var pingInterval: Duration = .seconds(10)

    func run() async throws {
        // How many times a LISTEN succeeded: after the first, every stream resyncs.
        let listens = NIOLockedValueBox(0)
        await cancelWhenGracefulShutdown {
            var backoff: Duration = .milliseconds(100)
            while !Task.isCancelled {
                let listensBefore = listens.withLockedValue { $0 }
                do {
                    let connection = try await engine.connect(logger: logger)
                    // Closed and awaited on every way out: a connection released before its
                    // close completes trips PostgresNIO's assertion (a crash in debug builds).
                    do {
                        try await listen(on: connection, listens: listens)
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    try? await connection.close()
                } catch is CancellationError {
                    break
                } catch {
                    if Task.isCancelled { break }
                    logger.warning(
                        "live updates: PostgreSQL listener lost; reconnecting",
                        metadata: ["error": .string(LoggedError.describe(error))])
                }
                if listens.withLockedValue({ $0 }) > listensBefore {
                    backoff = .milliseconds(100)
                }
                do {
                    try await Task.sleep(for: backoff)
                } catch {
                    break
                }
                backoff = min(backoff * 2, maxBackoff)
            }
        }
    }

    /// Listens until the connection fails (or the task is cancelled): `LISTEN`, then every
    /// notification handled in order, with a `SELECT 1` every `pingInterval`.
    private func listen(on connection: PostgresConnection, listens: NIOLockedValueBox<Int>) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await connection.listen(on: LiveNotification.channel) { notifications in
                    let previous = listens.withLockedValue { count in
                        defer { count += 1 }
                        return count
                    }
                    if previous > 0 {
                        logger.notice("live updates: listening again; every stream resyncs")
                        live.hub.resyncAll(reason: "reconnected")
                        // Sessions may have ended meanwhile, announced to nobody here.
                        await live.endVanishedSessions()
                    }
                    for try await notification in notifications {
                        await handle(notification.payload)
                    }
                }
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: pingInterval)
                    _ = try await connection.query("SELECT 1", logger: logger).get()
                }
            }
            // Either ending means the connection is unusable.
            try await group.next()
            group.cancelAll()
        }
    }

    private func handle(_ payload: String) async {
        guard let notification = LiveNotification(payload: payload) else {
            logger.debug("live updates: unknown notification ignored")
            return
        }
        switch notification {
        case .event(let userID, let event):
            live.hub.deliver(userID: userID, event)
        case .eventWithoutData(let userID, let id, _):
            guard live.hub.hasStreams(userID: userID) else { return }
            do {
                // Read in line, so the user's later events wait behind this one.
                if let event = try await live.log.event(userID: userID, id: id) {
                    live.hub.deliver(userID: userID, event)
                } else {
                    live.hub.resync(userID: userID, reason: "missed_event")
                }
            } catch {
                logger.warning(
                    "live updates: could not read an event", metadata: ["error": .string(LoggedError.describe(error))])
                live.hub.resync(userID: userID, reason: "missed_event")
            }
        case .sessionEnded(let userID, let publicID):
            live.hub.endSession(userID: userID, publicID: publicID)
        case .userSessionsEnded(let userID, let except):
            live.hub.endSessions(userID: userID, except: except)
        }
    }
}
