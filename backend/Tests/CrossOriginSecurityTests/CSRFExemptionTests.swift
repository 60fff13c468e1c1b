import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing

@testable import CrossOriginSecurity

/// `CSRFMiddleware`'s exemption hook: the application decides which unsafe requests skip
/// the check; every other unsafe request is checked as before, and safe ones never ask.
@Suite("CSRF exemption hook")
struct CSRFExemptionTests {
    struct Context: RequestContext, CSRFRequestContext {
        var coreContext: CoreRequestContextStorage
        var csrfBoundSecret: String? { nil }
        var isSecureRequest: Bool { false }

        init(source: ApplicationRequestContextSource) {
            self.coreContext = .init(source: source)
        }
    }

    static func application(exempting: CSRFMiddleware<Context>.Exemption?) throws -> some ApplicationProtocol {
        let protection = CSRFProtection(
            cookie: try CookiePolicy(name: "csrftoken"), trustedOrigins: TrustedOrigins([]))
        let router = Router(context: Context.self)
        router.add(middleware: CSRFMiddleware(protection: protection, exempting: exempting))
        router.post("/write") { _, _ in "written" }
        router.get("/read") { _, _ in "read" }
        return Application(router: router)
    }

    @Test func exemptedRequestsSkipTheCheckAndOthersAreStillChecked() async throws {
        let asked = NIOLockedValueBox(0)
        let app = try Self.application { request, _ in
            asked.withLockedValue { $0 += 1 }
            return request.headers[.authorization]?.hasPrefix("Bearer ") == true
        }
        try await app.test(.router) { client in
            try await client.execute(uri: "/write", method: .post, headers: [.authorization: "Bearer abc"]) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/write", method: .post) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/write", method: .post, headers: [.authorization: "Basic abc"]) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/read", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
        // Asked for the three unsafe requests only.
        #expect(asked.withLockedValue { $0 } == 3)
    }

    @Test func withoutAHookEveryUnsafeRequestIsChecked() async throws {
        let app = try Self.application(exempting: nil)
        try await app.test(.router) { client in
            try await client.execute(uri: "/write", method: .post, headers: [.authorization: "Bearer abc"]) { response in
                #expect(response.status == .forbidden)
            }
        }
    }
}
