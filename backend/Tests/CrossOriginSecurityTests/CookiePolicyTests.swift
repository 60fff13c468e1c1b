import Hummingbird
import Testing

@testable import CrossOriginSecurity

@Suite("Cookie policy")
struct CookiePolicyTests {
    @Test func hostPrefixNeedsSecureAndNoDomain() throws {
        #expect(throws: CookiePolicy.ValidationError.hostPrefixNeedsSecure("__Host-csrftoken")) {
            try CookiePolicy(name: "__Host-csrftoken", secure: false)
        }
        #expect(throws: CookiePolicy.ValidationError.hostPrefixForbidsDomain("__Host-csrftoken")) {
            try CookiePolicy(name: "__Host-csrftoken", secure: true, domain: "example.com")
        }
        let policy = try CookiePolicy(name: "__Host-csrftoken", secure: true, path: "/api")
        #expect(policy.path == "/")
    }

    @Test func sameSiteNoneNeedsSecure() {
        #expect(throws: CookiePolicy.ValidationError.sameSiteNoneNeedsSecure("sessionid")) {
            try CookiePolicy(name: "sessionid", sameSite: .none)
        }
    }

    @Test func cookieCarriesTheAttributes() throws {
        let policy = try CookiePolicy(name: "csrftoken", secure: true, sameSite: .strict, domain: "example.com", maxAge: 60)
        let cookie = policy.cookie(value: "abc")
        #expect(cookie.httpOnly && cookie.secure)
        #expect(cookie.sameSite == .strict)
        #expect(cookie.domain == "example.com" && cookie.path == "/" && cookie.maxAge == 60)
        #expect(policy.expiredCookie().maxAge == 0)
    }

    @Test(arguments: ["", "bad name", "semi;colon", "é"])
    func invalidNamesAreRefused(name: String) {
        #expect(throws: CookiePolicy.ValidationError.self) { try CookiePolicy(name: name) }
    }

    @Test func sameSiteSettingIgnoresCase() {
        #expect(CookiePolicy.SameSite(setting: "lax") == .lax)
        #expect(CookiePolicy.SameSite(setting: "STRICT") == .strict)
        #expect(CookiePolicy.SameSite(setting: "sometimes") == nil)
    }
}

@Suite struct CookieLookupTests {
    static let headers = [
        "csrftoken=abc", "a=1; csrftoken=abc; b=2", "a=1;csrftoken=abc", "csrftoken=", "csrftoken", "xcsrftoken=1; csrftoken=2",
        "csrftoken=1; csrftoken=2", "csrftokenx=1", "  csrftoken=a=b", "a=1; \tcsrftoken=v ", "", ";;", "csrftoken=é",
    ]

    /// The scan answers what Hummingbird's `Cookies` answers, without splitting the whole header.
    @Test(arguments: headers)
    func agreesWithHummingbird(header: String) {
        let expected = Cookies(from: [header])["csrftoken"]?.value
        let found = CookiePolicy.value(named: "csrftoken", inCookieHeader: header)
        #expect(found == (header == "csrftoken=" ? "" : expected))
    }
}
