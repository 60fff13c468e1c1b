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
}
