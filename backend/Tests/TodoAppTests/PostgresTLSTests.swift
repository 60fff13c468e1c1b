import Foundation
import NIOSSL
import Testing
@testable import TodoApp

/// `DATABASE_URL`'s `sslmode` and `sslrootcert`, parsed and turned into TLS settings
/// with libpq's meanings. (Connections against a real TLS cluster: test_postgres_tls.py.)
@Suite struct PostgresTLSTests {
    static func location(_ query: String) throws -> DatabaseLocation.PostgresLocation {
        guard case .postgres(let location) = try DatabaseLocation(url: "postgres://app@db.internal:5432/todos?\(query)") else {
            throw DatabaseLocation.InvalidURL(message: "not postgres")
        }
        return location
    }

    @Test func everyLibpqModeIsParsedAndPreferIsTheDefault() throws {
        for mode in DatabaseLocation.PostgresLocation.TLSMode.allCases {
            #expect(try Self.location("sslmode=\(mode.rawValue)").tls == mode)
        }
        guard case .postgres(let plain) = try DatabaseLocation(url: "postgres://app@db.internal/todos") else {
            Issue.record("not postgres")
            return
        }
        #expect(plain.tls == .prefer)
        #expect(plain.rootCertificate == nil)
        #expect(try Self.location("sslrootcert=/etc/ca.pem").rootCertificate == .file("/etc/ca.pem"))
        // libpq: the system's roots make verify-full the default, and allow nothing weaker.
        #expect(try Self.location("sslrootcert=system").tls == .verifyFull)
        #expect(try Self.location("sslrootcert=system").rootCertificate == .system)
    }

    @Test(arguments: [
        "sslmode=verify", "sslmode=", "sslmode=REQUIRE", "sslmode=require&sslmode=require", "sslcert=/c.pem",
        "application_name=x", "sslrootcert=system&sslmode=verify-ca", "sslrootcert=system&sslmode=disable",
    ])
    func unsupportedParametersAreRefused(query: String) {
        #expect(throws: DatabaseLocation.InvalidURL.self) { try Self.location(query) }
    }

    @Test func modesMapToLibpqVerification() throws {
        let noDefault = "/nonexistent/.postgresql/root.crt"
        #expect(try PostgresTLS(location: Self.location("sslmode=disable"), defaultRootCertificatePath: noDefault).use == .disable)
        for mode in ["allow", "prefer", "require"] {
            let tls = try PostgresTLS(location: Self.location("sslmode=\(mode)"), defaultRootCertificatePath: noDefault)
            #expect(tls.configuration?.certificateVerification == CertificateVerification.none)
        }
        #expect(try PostgresTLS(location: Self.location("sslmode=allow"), defaultRootCertificatePath: noDefault).use == .prefer)
        #expect(try PostgresTLS(location: Self.location("sslmode=require"), defaultRootCertificatePath: noDefault).use == .require)

        let system = try PostgresTLS(location: Self.location("sslrootcert=system"), defaultRootCertificatePath: noDefault)
        #expect(system.use == .require)
        #expect(system.configuration?.certificateVerification == .fullVerification)

        for mode in ["verify-ca", "verify-full"] {
            #expect(throws: PostgresTLS.SetupError.self) {
                try PostgresTLS(location: Self.location("sslmode=\(mode)"), defaultRootCertificatePath: noDefault)
            }
            #expect(throws: PostgresTLS.SetupError.self) {
                try PostgresTLS(location: Self.location("sslmode=\(mode)&sslrootcert=/nonexistent/ca.pem"), defaultRootCertificatePath: noDefault)
            }
        }
    }
}
