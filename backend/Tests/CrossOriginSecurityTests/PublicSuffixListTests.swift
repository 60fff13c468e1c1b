import Testing

@testable import CrossOriginSecurity

/// The real list from Debian's `publicsuffix` package (a test dependency in
/// scripts/install-deps.sh), plus a small inline list for the algorithm's corner cases.
@Suite("Public suffix list and same-site")
struct PublicSuffixListTests {
    static let debian = try? PublicSuffixList(contentsOf: PublicSuffixList.debianPath)

    func list() throws -> PublicSuffixList {
        try #require(Self.debian, "install Debian's publicsuffix package")
    }

    @Test func subdomainsOfOneRegistrableDomainAreSameSite() throws {
        let psl = try list()
        #expect(psl.isSameSite("app.example.com", "api.example.com"))
        #expect(psl.isSameSite("example.com", "deep.api.example.com"))
        #expect(psl.registrableDomain(of: "api.example.com") == "example.com")
    }

    @Test func privateSuffixesSeparateSites() throws {
        let psl = try list()
        #expect(!psl.isSameSite("foo.github.io", "bar.github.io"))
        #expect(psl.registrableDomain(of: "foo.github.io") == "foo.github.io")
        #expect(psl.isPublicSuffix("github.io"))
        #expect(psl.registrableDomain(of: "github.io") == nil)
    }

    @Test func multiLabelPublicSuffixes() throws {
        let psl = try list()
        #expect(psl.publicSuffix(of: "www.example.co.uk") == "co.uk")
        #expect(psl.registrableDomain(of: "www.example.co.uk") == "example.co.uk")
        #expect(psl.isSameSite("app.example.co.uk", "api.example.co.uk"))
        #expect(!psl.isSameSite("example.co.uk", "other.co.uk"))
        #expect(psl.isPublicSuffix("co.uk"))
    }

    @Test func differentRegistrableDomainsAreCrossSite() throws {
        let psl = try list()
        #expect(!psl.isSameSite("app.example.com", "api.example.net"))
        #expect(!psl.isSameSite("example.com", "example.com.evil.com"))
    }

    @Test func hostsWithoutRegistrableDomainAreTheirOwnSite() throws {
        let psl = try list()
        #expect(psl.isSameSite("localhost", "localhost"))
        #expect(!psl.isSameSite("localhost", "127.0.0.1"))
        #expect(psl.isSameSite("127.0.0.1", "127.0.0.1"))
        #expect(!psl.isSameSite("10.0.0.1", "10.0.0.2"))
        #expect(psl.registrableDomain(of: "192.168.1.1") == nil)
        #expect(!psl.isPublicSuffix("192.168.1.1"))
        #expect(psl.isSameSite("[::1]", "[::1]"))
    }

    @Test func unicodeRulesMatchPunycodeHosts() throws {
        let psl = try list()
        // 公司.cn is a rule; its ASCII form is xn--55qx5d.cn.
        #expect(psl.publicSuffix(of: "shop.xn--55qx5d.cn") == "xn--55qx5d.cn")
        #expect(!psl.isSameSite("a.xn--55qx5d.cn", "b.xn--55qx5d.cn"))
    }

    @Test func wildcardsAndExceptions() {
        let psl = PublicSuffixList(rules: """
            // a comment
            com
            *.ck
            !www.ck
            uk
            co.uk
            """)
        #expect(psl.publicSuffix(of: "foo.bar.ck") == "bar.ck")
        #expect(psl.registrableDomain(of: "foo.bar.ck") == "foo.bar.ck")
        #expect(psl.registrableDomain(of: "bar.ck") == nil)
        #expect(psl.publicSuffix(of: "www.ck") == "ck")
        #expect(psl.registrableDomain(of: "www.ck") == "www.ck")
        #expect(psl.registrableDomain(of: "a.www.ck") == "www.ck")
        #expect(psl.registrableDomain(of: "a.b.example.co.uk") == "example.co.uk")
        // No rule: the default rule `*` makes the last label the suffix.
        #expect(psl.registrableDomain(of: "a.example.unknowntld") == "example.unknowntld")
        #expect(psl.registrableDomain(of: "Example.COM.") == "example.com")
    }

    @Test func punycode() {
        #expect(Punycode.encodeLabel("bücher") == "xn--bcher-kva")
        #expect(Punycode.encodeLabel("中国") == "xn--fiqs8s")
        #expect(Punycode.encodeLabel("公司") == "xn--55qx5d")
        #expect(Punycode.encodeLabel("example") == "example")
    }

    @Test func missingFileIsAClearError() {
        #expect {
            try PublicSuffixList(contentsOf: "/nonexistent/public_suffix_list.dat")
        } throws: { error in
            String(describing: error).contains("/nonexistent/public_suffix_list.dat")
        }
    }
}
