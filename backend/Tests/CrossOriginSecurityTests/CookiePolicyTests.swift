import HTTPTypes
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

    /// Browsers apply the prefixes' rules whatever the letter case: a `__host-` cookie
    /// without Secure would be refused by them, so it is a configuration error here too.
    @Test func prefixesAreRecognisedInAnyLetterCase() throws {
        #expect(throws: CookiePolicy.ValidationError.hostPrefixNeedsSecure("__host-csrftoken")) {
            try CookiePolicy(name: "__host-csrftoken", secure: false)
        }
        #expect(throws: CookiePolicy.ValidationError.hostPrefixForbidsDomain("__HOST-sid")) {
            try CookiePolicy(name: "__HOST-sid", secure: true, domain: "example.com")
        }
        #expect(throws: CookiePolicy.ValidationError.hostPrefixNeedsSecure("__secure-sid")) {
            try CookiePolicy(name: "__secure-sid", secure: false)
        }
        let policy = try CookiePolicy(name: "__host-csrftoken", secure: true, path: "/api")
        #expect(policy.path == "/")
        #expect(policy.expiredCookies(shadowing: "/api/todos/").isEmpty)
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
        "csrftokenx=1", "  csrftoken=a=b", "a=1; \tcsrftoken=v ", "", ";;", "csrftoken=é",
    ]

    /// A single cookie is read as Hummingbird's `Cookies` reads it, without splitting the whole header.
    @Test(arguments: headers)
    func agreesWithHummingbird(header: String) {
        let expected = Cookies(from: [header])["csrftoken"]?.value
        let found = CookiePolicy.lookup(named: "csrftoken", inCookieHeader: header)
        #expect(found.value == (header == "csrftoken=" ? "" : expected))
        #expect(found != .duplicated)
    }

    @Test(arguments: ["csrftoken=1; csrftoken=2", "csrftoken=1;csrftoken=1", "csrftoken=; a=b; csrftoken=x", "csrftoken=1; csrftoken="])
    func aNameSentTwiceIsDuplicatedNotPicked(header: String) {
        #expect(CookiePolicy.lookup(named: "csrftoken", inCookieHeader: header) == .duplicated)
    }

    @Test func duplicatesAcrossCookieFieldsCount() throws {
        let policy = try CookiePolicy(name: "sessionid")
        var headers = HTTPFields()
        headers.append(HTTPField(name: .cookie, value: "a=1; sessionid=x"))
        headers.append(HTTPField(name: .cookie, value: "sessionid=y"))
        let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "h", path: "/", headerFields: headers), body: .init(buffer: .init()))
        #expect(policy.lookup(in: request) == .duplicated)
        headers = HTTPFields()
        headers.append(HTTPField(name: .cookie, value: "a=1"))
        headers.append(HTTPField(name: .cookie, value: "sessionid=y"))
        let single = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "h", path: "/", headerFields: headers), body: .init(buffer: .init()))
        #expect(policy.lookup(in: single) == .value("y"))
    }

    @Test func expiredCookiesCoverThePathPrefixesButOurs() throws {
        let policy = try CookiePolicy(name: "csrftoken")
        let paths = policy.expiredCookies(shadowing: "/api/todos/12/").map(\.path)
        #expect(paths == ["/api", "/api/", "/api/todos", "/api/todos/", "/api/todos/12", "/api/todos/12/"])
        #expect(policy.expiredCookies(shadowing: "/api/csrf").map(\.path) == ["/api", "/api/", "/api/csrf"])
        #expect(policy.expiredCookies(shadowing: "/").isEmpty)
        #expect(policy.expiredCookies(shadowing: "/api").allSatisfy { $0.maxAge == 0 && $0.value.isEmpty && $0.httpOnly })
        let deep = String(repeating: "/a", count: 100)
        #expect(policy.expiredCookies(shadowing: deep).count <= CookiePolicy.maxShadowingPaths)
    }

    @Test func aPolicyAtAnotherPathAlsoExpiresTheRoot() throws {
        let policy = try CookiePolicy(name: "csrftoken", path: "/api")
        #expect(policy.expiredCookies(shadowing: "/api/x").map(\.path) == ["/", "/api/", "/api/x"])
    }

    @Test func hostPrefixedCookiesCannotBeTossedSoNothingIsExpired() throws {
        let policy = try CookiePolicy(name: "__Host-csrftoken", secure: true)
        #expect(policy.expiredCookies(shadowing: "/api/todos/").isEmpty)
    }
}
