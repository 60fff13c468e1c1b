import Testing

@testable import CrossOriginSecurity

@Suite("Origin matching")
struct OriginPatternTests {
    func allows(_ list: String, _ origin: String) throws -> Bool {
        try TrustedOrigins(parsing: list).allows(origin)
    }

    @Test func exactOrigin() throws {
        #expect(try allows("http://localhost:3000", "http://localhost:3000"))
        // A configured entry is a setting people type: its spelling is normalised.
        #expect(try allows("HTTP://LocalHost:3000", "http://localhost:3000"))
    }

    /// An `Origin` header is accepted only in the serialised form browsers send (RFC 6454),
    /// so each allowed origin has one spelling, the one CORS echoes.
    @Test(arguments: [
        "HTTP://LocalHost:3000", "HTTP://LOCALHOST:3000", "http://LOCALHOST:3000", "Http://localhost:3000",
        "http://localhost:03000", "HTTP://localhost:3000",
    ])
    func nonCanonicalSpellingsAreRefused(origin: String) throws {
        #expect(try !allows("http://localhost:3000", origin))
        #expect(OriginPattern(origin: origin) == nil)
        #expect(OriginPattern(urlOrigin: origin) != nil)
    }

    @Test func portMatters() throws {
        #expect(try !allows("http://localhost:3000", "http://localhost:3001"))
        #expect(try !allows("http://localhost:3000", "http://localhost"))
        #expect(try allows("https://app.example.com:443", "https://app.example.com"))
        // The default port is never serialised.
        #expect(try !allows("https://app.example.com", "https://app.example.com:443"))
        #expect(try !allows("http://localhost", "http://localhost:80"))
    }

    @Test func wildcardMatchesOnlySerialisedSubdomains() throws {
        #expect(try allows("https://*.example.com", "https://app.example.com"))
        #expect(try !allows("https://*.example.com", "https://App.example.com"))
        #expect(try !allows("https://*.example.com", "https://app.example.com:443"))
        #expect(try allows("http://*.example.com:8080", "http://app.example.com:8080"))
        #expect(try !allows("http://*.example.com:8080", "http://app.example.com:08080"))
    }

    @Test func schemeMatters() throws {
        #expect(try !allows("http://localhost:3000", "https://localhost:3000"))
    }

    @Test func wildcardSubdomains() throws {
        let list = "https://*.example.com"
        #expect(try allows(list, "https://app.example.com"))
        #expect(try allows(list, "https://deep.app.example.com"))
        #expect(try !allows(list, "https://example.com"))
        #expect(try !allows(list, "http://app.example.com"))
        #expect(try !allows(list, "https://evilexample.com"))
        #expect(try !allows(list, "https://app.example.com.evil.com"))
    }

    @Test(arguments: [
        "http://localhost:3000.evil.com", "http://localhost:3000@evil.com", "http://evil.com#http://localhost:3000",
        "http://localhost:3000/", "null", "", "localhost:3000", "http://localhost:3000:3000", "http://*.localhost:3000",
    ])
    func lookAlikesAreRefused(origin: String) throws {
        #expect(try !allows("http://localhost:3000", origin))
    }

    @Test func listsAreCommaSeparated() throws {
        let origins = try TrustedOrigins(parsing: " http://localhost:3000 , https://app.example.com,")
        #expect(origins.patterns.count == 2)
        #expect(origins.allows("https://app.example.com"))
    }

    @Test(arguments: [
        ("http://localhost:3000/path", OriginPattern.ParseError.hasPath("http://localhost:3000/path")),
        ("localhost:3000", .missingScheme("localhost:3000")),
        ("ftp://example.com", .unsupportedScheme("ftp://example.com")),
        ("http://", .invalidHost("http://")),
        ("http://exa mple.com", .invalidHost("http://exa mple.com")),
        ("http://example.com:0", .invalidPort("http://example.com:0")),
        ("http://example.com:70000", .invalidPort("http://example.com:70000")),
        ("http://example.com:", .invalidPort("http://example.com:")),
        ("http://example.com?x", .hasPath("http://example.com?x")),
    ])
    func invalidEntriesAreNamed(entry: String, error: OriginPattern.ParseError) {
        #expect(throws: error) { try OriginPattern(parsing: entry) }
    }
}
