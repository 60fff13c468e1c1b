import Foundation

/// Where the data lives, parsed from `DATABASE_URL`.
enum DatabaseLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    struct PostgresLocation: Sendable, Equatable {
        enum TLSMode: String, Sendable { case disable, prefer, require }
        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var tls: TLSMode
    }

    struct InvalidURL: Error, CustomStringConvertible {
        let message: String
        var description: String { "invalid DATABASE_URL: \(message)" }
    }

    /// `sqlite:///absolute/path`, `sqlite://./relative/path`, or
    /// `postgres://user:pass@host:port/db[?sslmode=disable|prefer|require]`.
    init(url: String) throws(InvalidURL) {
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw InvalidURL(message: "'\(url)' names no file") }
            self = .sqlite(path: path)
            return
        }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"),
            let components = URLComponents(string: url), let host = components.host, !host.isEmpty
        else {
            throw InvalidURL(message: "'\(Self.redacted(url))' is neither sqlite://<path> nor postgres://user:pass@host:port/db")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let sslMode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
        let tls: PostgresLocation.TLSMode
        switch sslMode {
        case "disable", "allow": tls = .disable
        case "prefer": tls = .prefer
        case "require", "verify-ca", "verify-full": tls = .require
        default: throw InvalidURL(message: "sslmode '\(sslMode)' is not disable, prefer or require")
        }
        self = .postgres(
            PostgresLocation(
                host: host,
                port: components.port ?? 5432,
                username: components.percentEncodedUser?.removingPercentEncoding ?? "postgres",
                password: components.percentEncodedPassword?.removingPercentEncoding,
                database: database.isEmpty ? nil : database.removingPercentEncoding,
                tls: tls))
    }

    /// The URL without its password, for messages and logs.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "****"
        return components.string ?? url
    }
}
