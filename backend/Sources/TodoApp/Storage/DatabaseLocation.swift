import Foundation

/// Where the data lives, parsed from `DATABASE_URL`.
enum DatabaseLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    struct PostgresLocation: Sendable, Equatable {
        /// libpq's `sslmode` values, with libpq's meanings (see `PostgresTLS`).
        enum TLSMode: String, Sendable, CaseIterable {
            case disable, allow, prefer, require
            case verifyCA = "verify-ca"
            case verifyFull = "verify-full"

            /// Whether the server's certificate must chain to a trusted root.
            var verifiesCertificate: Bool { self == .verifyCA || self == .verifyFull }
        }

        /// libpq's `sslrootcert`.
        enum RootCertificate: Sendable, Equatable {
            /// A PEM file of trusted root certificates.
            case file(String)
            /// `sslrootcert=system`: the operating system's trusted roots.
            case system
        }

        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var tls: TLSMode
        /// `nil` when the URL names none: libpq then reads `~/.postgresql/root.crt` if it exists.
        var rootCertificate: RootCertificate? = nil
    }

    struct InvalidURL: Error, CustomStringConvertible {
        let message: String
        var description: String { "invalid DATABASE_URL: \(message)" }
    }

    /// The query parameters understood; any other one is refused rather than ignored,
    /// since an ignored `sslcert` or `sslcrl` would weaken the connection silently.
    static let postgresParameters = ["sslmode", "sslrootcert"]

    /// `sqlite:///absolute/path`, `sqlite://./relative/path`, or
    /// `postgres://user:pass@host:port/db[?sslmode=…][&sslrootcert=…]`.
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
        var parameters: [String: String] = [:]
        for item in components.queryItems ?? [] {
            guard Self.postgresParameters.contains(item.name) else {
                throw InvalidURL(
                    message: "parameter '\(item.name)' is not supported (supported: \(Self.postgresParameters.joined(separator: ", ")))")
            }
            guard parameters[item.name] == nil else { throw InvalidURL(message: "parameter '\(item.name)' is given twice") }
            guard let value = item.value, !value.isEmpty else { throw InvalidURL(message: "parameter '\(item.name)' has no value") }
            parameters[item.name] = value
        }
        let rootCertificate = parameters["sslrootcert"].map { $0 == "system" ? PostgresLocation.RootCertificate.system : .file($0) }
        let tls: PostgresLocation.TLSMode
        if let sslMode = parameters["sslmode"] {
            guard let mode = PostgresLocation.TLSMode(rawValue: sslMode) else {
                let modes = PostgresLocation.TLSMode.allCases.map(\.rawValue).joined(separator: ", ")
                throw InvalidURL(message: "sslmode '\(sslMode)' is not one of \(modes)")
            }
            tls = mode
        } else {
            // libpq's defaults: `verify-full` with the system's roots, otherwise `prefer`.
            tls = rootCertificate == .system ? .verifyFull : .prefer
        }
        if rootCertificate == .system && tls != .verifyFull {
            // libpq refuses this too: the system's roots vouch for any name they signed.
            throw InvalidURL(message: "sslrootcert=system needs sslmode=verify-full (sslmode is '\(tls.rawValue)')")
        }
        self = .postgres(
            PostgresLocation(
                host: host,
                port: components.port ?? 5432,
                username: components.percentEncodedUser?.removingPercentEncoding ?? "postgres",
                password: components.percentEncodedPassword?.removingPercentEncoding,
                database: database.isEmpty ? nil : database.removingPercentEncoding,
                tls: tls,
                rootCertificate: rootCertificate))
    }

    /// The URL without its password, for messages and logs.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "****"
        return components.string ?? url
    }
}
