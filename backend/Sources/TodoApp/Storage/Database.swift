import Logging

/// Placeholder until the storage layer lands: reports the database as reachable.
public final class Database: Sendable {
    public init() {}

    func isReachable(logger: Logger) async -> Bool { true }
}
