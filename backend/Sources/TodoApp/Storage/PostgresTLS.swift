import Foundation
import NIOSSL
import PostgresNIO

/// libpq's meaning of `sslmode` and `sslrootcert`, as PostgresNIO's TLS settings.
///
/// | sslmode       | TLS                         | server certificate                                  |
/// |---------------|-----------------------------|-----------------------------------------------------|
/// | `disable`     | never                       | —                                                   |
/// | `allow`       | if the server offers it     | not verified                                        |
/// | `prefer`      | if the server offers it     | not verified                                        |
/// | `require`     | always                      | chain verified only if a root certificate is found  |
/// | `verify-ca`   | always                      | chain verified against the root certificates        |
/// | `verify-full` | always                      | chain verified, and the URL's host named in it      |
///
/// The root certificates are `sslrootcert`'s PEM file, the system's roots for
/// `sslrootcert=system`, or, when the URL names none, `~/.postgresql/root.crt` if it
/// exists (libpq's default); `verify-ca` and `verify-full` refuse to start without one.
///
/// Where PostgresNIO cannot follow libpq exactly: `allow` (libpq tries plain text first)
/// asks for TLS first, like `prefer`; and `prefer` never verifies, where libpq verifies
/// when it finds a root certificate but then retries in plain text after a failed
/// verification, which authenticates the server no better. PostgresKit's own URL parsing
/// (`SQLPostgresConfiguration(url:)`) is not used: it folds `verify-ca` and `verify-full`
/// into `require`, verifies every mode against the system's roots and ignores
/// `sslrootcert`, so it can follow none of these rows.
struct PostgresTLS: Sendable {
    enum Use: Sendable { case disable, prefer, require }

    /// Cannot set up TLS as the URL asks: a certificate file is missing or unreadable.
    struct SetupError: Error, CustomStringConvertible {
        let message: String
        var description: String { "PostgreSQL TLS (DATABASE_URL sslmode/sslrootcert): \(message)" }
    }

    let use: Use
    /// `nil` when `use` is `.disable`.
    let configuration: TLSConfiguration?

    /// libpq's default root certificate file, `~/.postgresql/root.crt`.
    static func defaultRootCertificatePath(home: String? = ProcessInfo.processInfo.environment["HOME"]) -> String? {
        guard let home, !home.isEmpty else { return nil }
        return URL(fileURLWithPath: home).appendingPathComponent(".postgresql/root.crt").path
    }

    init(location: DatabaseLocation.PostgresLocation, defaultRootCertificatePath: String? = Self.defaultRootCertificatePath())
        throws(SetupError)
    {
        let mode = location.tls
        switch mode {
        case .disable:
            use = .disable
            configuration = nil
            return
        case .allow, .prefer:
            use = .prefer
            configuration = Self.unverified()
            return
        case .require, .verifyCA, .verifyFull:
            use = .require
        }
        let roots: NIOSSLTrustRoots
        switch location.rootCertificate {
        case .system:
            roots = .default
        case .file(let path):
            roots = try Self.load(path)
        case nil:
            guard let path = defaultRootCertificatePath, FileManager.default.fileExists(atPath: path) else {
                guard mode.verifiesCertificate else {
                    configuration = Self.unverified()
                    return
                }
                throw SetupError(
                    message: "sslmode=\(mode.rawValue) verifies the server's certificate, but "
                        + (defaultRootCertificatePath.map { "the root certificate file \"\($0)\" does not exist" }
                            ?? "there is no home directory to find ~/.postgresql/root.crt in")
                        + "; name one with sslrootcert=<file> (or sslrootcert=system), or use sslmode=require")
            }
            roots = try Self.load(path)
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = roots
        // libpq's `require` with a root certificate found checks the chain, like `verify-ca`.
        configuration.certificateVerification = mode == .verifyFull ? .fullVerification : .noHostnameVerification
        self.configuration = configuration
    }

    var clientTLS: PostgresClient.Configuration.TLS {
        switch (use, configuration) {
        case (.prefer, let configuration?): .prefer(configuration)
        case (.require, let configuration?): .require(configuration)
        default: .disable
        }
    }

    func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch (use, configuration) {
        case (.prefer, let configuration?): .prefer(try NIOSSLContext(configuration: configuration))
        case (.require, let configuration?): .require(try NIOSSLContext(configuration: configuration))
        default: .disable
        }
    }

    private static func unverified() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return configuration
    }

    /// The PEM file's certificates, read now so that a bad file stops the start-up.
    private static func load(_ path: String) throws(SetupError) -> NIOSSLTrustRoots {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SetupError(message: "the root certificate file \"\(path)\" does not exist")
        }
        do {
            let certificates = try NIOSSLCertificate.fromPEMFile(path)
            guard !certificates.isEmpty else {
                throw SetupError(message: "the root certificate file \"\(path)\" holds no PEM certificate")
            }
            return .certificates(certificates)
        } catch let error as SetupError {
            throw error
        } catch {
            throw SetupError(message: "cannot read the root certificate file \"\(path)\": \(error)")
        }
    }
}
