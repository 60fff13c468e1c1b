import CrossOriginSecurity
import Testing

@testable import TodoApp

@Suite("Settings")
struct SettingsTests {
    @Test func defaults() throws {
        let settings = try AppSettings.fromEnvironment([:])
        #expect(settings.host == "127.0.0.1")
        #expect(settings.port == 8000)
        #expect(settings.frontendOrigins.allows("http://localhost:3000"))
        #expect(settings.cookieSameSite == .lax)
        #expect(!settings.cookieSecure)
        #expect(settings.csrfCookieName == "csrftoken")
        #expect(settings.sessionCookieName == "sessionid")
        #expect(settings.databaseURL == "sqlite://./data/todolist.sqlite3")
    }

    @Test func oneListDrivesCORSAndCSRF() throws {
        let settings = try AppSettings.fromEnvironment(["FRONTEND_ORIGINS": "https://app.example.com,https://*.example.org"])
        #expect(settings.frontendOrigins.allows("https://app.example.com"))
        #expect(settings.frontendOrigins.allows("https://x.example.org"))
        #expect(!settings.frontendOrigins.allows("http://localhost:3000"))
    }

    @Test(arguments: [
        ("FRONTEND_ORIGINS", "http://localhost:3000/app"),
        ("FRONTEND_ORIGINS", "localhost:3000"),
        ("FRONTEND_ORIGINS", ","),
        ("COOKIE_SAMESITE", "sometimes"),
        ("COOKIE_SECURE", "maybe"),
        ("PORT", "99999"),
        ("LOG_LEVEL", "loud"),
        ("CSRF_COOKIE_NAME", "__Host-csrftoken"),
        ("DATABASE_URL", "mysql://x"),
        ("BCRYPT_COST", "3"),
    ])
    func invalidValuesNameTheSetting(name: String, value: String) {
        #expect {
            try AppSettings.fromEnvironment([name: value])
        } throws: { error in
            (error as? AppSettings.InvalidSetting)?.name == name
        }
    }

    @Test func sameSiteNoneRequiresSecure() throws {
        #expect(throws: AppSettings.InvalidSetting.self) {
            try AppSettings.fromEnvironment(["COOKIE_SAMESITE": "None"])
        }
        let settings = try AppSettings.fromEnvironment(["COOKIE_SAMESITE": "None", "COOKIE_SECURE": "true"])
        #expect(settings.cookieSameSite == CookiePolicy.SameSite.none)
    }

    // MARK: Secure cookie names

    @Test func secureCookiesDefaultToHostPrefixedNames() throws {
        let settings = try AppSettings.fromEnvironment(["COOKIE_SECURE": "true"])
        #expect(settings.csrfCookieName == "__Host-csrftoken")
        #expect(settings.sessionCookieName == "__Host-sessionid")
        let csrf = try settings.csrfCookiePolicy()
        #expect(csrf.secure && csrf.path == "/" && csrf.domain == nil)
    }

    @Test func explicitCookieNamesWinOverSecureDefaults() throws {
        let settings = try AppSettings.fromEnvironment([
            "COOKIE_SECURE": "true", "CSRF_COOKIE_NAME": "csrftoken", "SESSION_COOKIE_NAME": "__Secure-sid",
        ])
        #expect(settings.csrfCookieName == "csrftoken")
        #expect(settings.sessionCookieName == "__Secure-sid")
    }

    @Test func cookieDomainWithSecureCookiesFallsBackToSecurePrefix() throws {
        let settings = try AppSettings.fromEnvironment(["COOKIE_SECURE": "true", "COOKIE_DOMAIN": ".example.com"])
        #expect(settings.csrfCookieName == "__Secure-csrftoken")
        #expect(settings.sessionCookieName == "__Secure-sessionid")
        #expect(try settings.sessionCookiePolicy().domain == ".example.com")
        // An explicit __Host- name with a domain is still refused, naming the setting.
        #expect {
            try AppSettings.fromEnvironment([
                "COOKIE_SECURE": "true", "COOKIE_DOMAIN": ".example.com", "SESSION_COOKIE_NAME": "__Host-sessionid",
            ])
        } throws: { error in
            (error as? AppSettings.InvalidSetting)?.name == "SESSION_COOKIE_NAME"
        }
    }

    @Test func insecureCookiesKeepPlainNames() throws {
        let settings = try AppSettings.fromEnvironment(["COOKIE_DOMAIN": ".example.com"])
        #expect(settings.csrfCookieName == "csrftoken")
        #expect(settings.sessionCookieName == "sessionid")
    }

    // MARK: Allowed hosts

    @Test func allowedHostsAreOffByDefault() throws {
        #expect(try !AppSettings.fromEnvironment([:]).allowedHosts.isEnabled)
        #expect(try !AppSettings.fromEnvironment(["ALLOWED_HOSTS": "  "]).allowedHosts.isEnabled)
    }

    @Test func allowedHostsParse() throws {
        let settings = try AppSettings.fromEnvironment(["ALLOWED_HOSTS": "api.example.com, .example.org"])
        #expect(settings.allowedHosts.entries == [.exact("api.example.com"), .domain("example.org")])
        #expect(settings.allowedHosts.allows(hostHeader: "API.example.com:8443"))
        #expect(!settings.allowedHosts.allows(hostHeader: "evil.example"))
    }

    @Test(arguments: ["https://api.example.com", "api.example.com:443", "*.example.com"])
    func invalidAllowedHostsNameTheSetting(value: String) {
        #expect {
            try AppSettings.fromEnvironment(["ALLOWED_HOSTS": value])
        } throws: { error in
            (error as? AppSettings.InvalidSetting)?.name == "ALLOWED_HOSTS"
        }
    }

    @Test func everyNewSettingIsDocumented() {
        let names = AppSettings.documentation.map(\.name)
        #expect(names.contains("ALLOWED_HOSTS"))
        #expect(names.contains("PUBLIC_SUFFIX_LIST"))
    }

    // MARK: Deploy check (an inline suffix list; the real one is exercised by the HTTP tests)

    static let suffixes = PublicSuffixList(rules: "com\nnet\nio\ngithub.io\nuk\nco.uk\n")

    func findings(_ environment: [String: String]) throws -> [DeployCheck.Finding] {
        var base = [
            "ALLOWED_HOSTS": "api.example.com", "FRONTEND_ORIGINS": "https://app.example.com",
            "COOKIE_SECURE": "true", "TRUSTED_PROXIES": "127.0.0.1",
        ]
        base.merge(environment) { $1 }
        base = base.filter { !$0.value.isEmpty }
        let settings = try AppSettings.fromEnvironment(base)
        return DeployCheck(settings: settings, suffixes: .success(Self.suffixes)).findings()
    }

    @Test func soundLayoutHasNoFindings() throws {
        #expect(try findings([:]).isEmpty)
    }

    @Test func crossSiteFrontendDependsOnSameSite() throws {
        let lax = try findings(["FRONTEND_ORIGINS": "https://foo.github.io", "ALLOWED_HOSTS": "bar.github.io"])
        #expect(lax.map(\.id) == ["E002"])
        #expect(lax.first?.level == .error)
        let none = try findings(["FRONTEND_ORIGINS": "https://app.example.net", "COOKIE_SAMESITE": "None"])
        #expect(none.map(\.id) == ["W004"])
        let sameSite = try findings(["ALLOWED_HOSTS": "api.example.co.uk", "FRONTEND_ORIGINS": "https://www.example.co.uk"])
        #expect(sameSite.isEmpty)
    }

    @Test func anyApiHostSameSiteWithTheOriginIsEnough() throws {
        #expect(try findings(["ALLOWED_HOSTS": "localhost,api.example.com"]).isEmpty)
    }

    @Test func errorsComeFirst() throws {
        let report = try findings(["BCRYPT_COST": "4", "FRONTEND_ORIGINS": "https://*.github.io"])
        #expect(report.map(\.id) == ["E001", "W008"])
        #expect(report[0].description.hasPrefix("error E001: "))
    }

    @Test func unreadableSuffixListSkipsSiteChecksWithOneFinding() throws {
        let settings = try AppSettings.fromEnvironment([
            "ALLOWED_HOSTS": "api.example.com", "FRONTEND_ORIGINS": "https://app.example.net",
            "COOKIE_SECURE": "true", "TRUSTED_PROXIES": "127.0.0.1", "PUBLIC_SUFFIX_LIST": "/nonexistent/list.dat",
        ])
        let report = DeployCheck(settings: settings).findings()
        #expect(report.map(\.id) == ["W009"])
        #expect(report[0].message.contains("/nonexistent/list.dat"))
    }

    @Test func startUpCheckRunsOnlyForDeployments() throws {
        #expect(try !DeployCheck.runsAtStartUp(AppSettings.fromEnvironment([:])))
        #expect(try DeployCheck.runsAtStartUp(AppSettings.fromEnvironment(["ALLOWED_HOSTS": "localhost"])))
        #expect(try DeployCheck.runsAtStartUp(AppSettings.fromEnvironment(["COOKIE_SECURE": "true"])))
    }
}
