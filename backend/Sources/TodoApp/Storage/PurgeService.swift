import Logging
import ServiceLifecycle

/// Deletes expired sessions and login failures too old to count, at start-up and then
/// every `interval`, until the application shuts down. Lookups already ignore such
/// rows; this only keeps the tables small.
struct PurgeService: Service {
    let sessions: SessionStore
    let loginFailures: LoginThrottleStore
    let throttleWindow: Int
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // Let the services start first: PostgreSQL's pool runs beside this one.
            try? await Task.sleep(for: .seconds(1))
            while !Task.isCancelled {
                await purgeOnce()
                try? await Task.sleep(for: interval)
            }
        }
    }

    func purgeOnce() async {
        do {
            let sessionCount = try await sessions.purgeExpired()
            let failureCount = try await loginFailures.purge(olderThan: throttleWindow)
            if sessionCount + failureCount > 0 {
                logger.info(
                    "purged expired rows",
                    metadata: ["sessions": "\(sessionCount)", "login_failures": "\(failureCount)"])
            }
        } catch {
            // The database may be down for a while; the next round tries again.
            logger.warning("purge failed", metadata: ["error": .string(String(describing: error))])
        }
    }
}
