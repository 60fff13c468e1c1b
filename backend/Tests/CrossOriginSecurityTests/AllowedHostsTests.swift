import Testing

@testable import CrossOriginSecurity

@Suite("Allowed hosts")
struct AllowedHostsTests {
    func allows(_ list: String, _ hostHeader: String?) throws -> Bool {
        try AllowedHosts(parsing: list).allows(hostHeader: hostHeader)
    }

    @Test func emptyListChecksNothing() throws {
        #expect(try allows("", "evil.example"))
        #expect(try allows(" , ", nil))
        #expect(try !AllowedHosts(parsing: "").isEnabled)
    }

    @Test func exactHostIgnoringCasePortAndTrailingDot() throws {
        for host in ["api.example.com", "API.Example.Com", "api.example.com:8000", "api.example.com.", "api.example.com.:443"] {
            #expect(try allows("api.example.com", host), "\(host)")
        }
        for host in ["example.com", "www.api.example.com", "api.example.com.evil", "xapi.example.com", "api-example.com"] {
            #expect(try !allows("api.example.com", host), "\(host)")
        }
    }

    @Test func leadingDotMatchesDomainAndSubdomains() throws {
        for host in ["example.com", "www.example.com", "a.b.example.com:1"] {
            #expect(try allows(".example.com", host), "\(host)")
        }
        for host in ["xexample.com", "example.com.evil", "example.org"] {
            #expect(try !allows(".example.com", host), "\(host)")
        }
    }

    @Test func starMatchesAnyWellFormedHost() throws {
        #expect(try allows("*", "anything.example:99"))
        #expect(try allows("*", "[::1]"))
        #expect(try !allows("*", "bad host"))
        #expect(try !allows("*", ""))
        #expect(try !allows("*", nil))
    }

    @Test func ipLiterals() throws {
        #expect(try allows("127.0.0.1,[::1]", "127.0.0.1:8000"))
        #expect(try allows("127.0.0.1,[::1]", "[::1]:8000"))
        #expect(try allows("[::1]", "[::1]"))
        #expect(try !allows("127.0.0.1,[::1]", "[::2]"))
    }

    @Test(arguments: [
        "", ":80", "a b", "a/b", "a@b", "a\\b", "a:b", "a:80:80", "a:", "[::1", "[::1]x", "[zz::1]", "[]", "é.com",
        "a;b", "a,b", "a\u{0}b", "１２７.0.0.1",
    ])
    func malformedHostHeaders(value: String) {
        #expect(AllowedHosts.host(ofHostHeader: value) == nil)
        #expect(!AllowedHosts(entries: [.any]).allows(hostHeader: value))
    }

    /// RFC 3986's `uri-host [":" port]`, refused whatever the list when not met.
    @Test(arguments: ["", ":80", "a b", "a/b", "a@b", "a\\b", "a:b", "a:80:80", "[::1", "[::1]x", "[zz::1]", "[]", "é.com",
        "a%2", "a%zz", "a\u{0}b", "１２７.0.0.1", "a?b", "a#b", "a[b"])
    func invalidHostHeaders(value: String) {
        #expect(!AllowedHosts.isWellFormed(hostHeader: value))
    }

    @Test(arguments: ["a", "my_api:8000", "a.b.", "a:", "a;b", "a,b", "a~b!$&'()*+=", "a%2Fb", "10.0.0.1:80", "[::1]", "[::FFFF:1.2.3.4]:8"])
    func wellFormedHostHeadersBeyondDjangosPattern(value: String) {
        #expect(AllowedHosts.isWellFormed(hostHeader: value))
    }

    @Test func hostOfHeader() {
        #expect(AllowedHosts.host(ofHostHeader: "Api.Example.COM:8000") == "api.example.com")
        #expect(AllowedHosts.host(ofHostHeader: "[::FFFF:1.2.3.4]:80") == "[::ffff:1.2.3.4]")
        #expect(AllowedHosts.host(ofHostHeader: "example.com.") == "example.com")
    }

    @Test func parsesEntries() throws {
        let hosts = try AllowedHosts(parsing: " API.example.com , .Example.org,*, [::1] ")
        #expect(hosts.entries == [.exact("api.example.com"), .domain("example.org"), .any, .exact("[::1]")])
    }

    @Test(arguments: [
        "https://api.example.com", "api.example.com:8000", "api.example.com/x", "*.example.com", "exa mple.com",
        "..example.com", "a..b", ".[::1]", "[::1]:80", "*x",
    ])
    func refusesBadEntries(entry: String) {
        #expect(throws: AllowedHosts.ParseError.self) { try AllowedHosts(parsing: entry) }
    }

    @Test func portEntryIsExplained() {
        #expect {
            try AllowedHosts(parsing: "api.example.com:8000")
        } throws: { error in
            (error as? AllowedHosts.ParseError)?.description.contains("port") == true
        }
    }
}
