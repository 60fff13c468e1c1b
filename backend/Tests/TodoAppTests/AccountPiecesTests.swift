import Testing
@testable import TodoApp

/// The pure pieces of account management: describing a client from its `User-Agent`,
/// the personal access token format, and reading `Authorization: Bearer`.
@Suite struct ClientDescriptionTests {
    @Test(arguments: [
        ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
         "Chrome on Windows"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
         "Edge on Windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
         "Safari on macOS"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
         "Safari on iOS"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1",
         "Chrome on iOS"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
         "Chrome on Android"),
        ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
         "Samsung Internet on Android"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
         "Opera on Linux"),
        ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
         "Chrome on ChromeOS"),
        ("curl/8.5.0", "curl"),
        ("python-requests/2.31.0", "python-requests"),
        ("HTTPie/3.2.2", "HTTPie"),
        ("Mozilla/5.0 (X11; Linux x86_64)", "Unknown client on Linux"),
        ("Mozilla/5.0", "Unknown client"),
        ("", "Unknown client"),
    ])
    func describesKnownClients(userAgent: String, expected: String) {
        #expect(ClientDescription.describe(userAgent: userAgent) == expected)
    }

    @Test func noHeaderIsAnUnknownClient() {
        #expect(ClientDescription.describe(userAgent: nil) == "Unknown client")
    }

    @Test func hostileHeadersAreNeverEchoed() {
        let markup = ClientDescription.describe(userAgent: "<script>alert(1)</script>")
        #expect(markup == "Unknown client")
        let long = ClientDescription.describe(userAgent: String(repeating: "a", count: 10_000) + "/1")
        #expect(long == "Unknown client")
        let product = ClientDescription.describe(userAgent: String(repeating: "b", count: 200) + "/1")
        #expect(product == String(repeating: "b", count: ClientDescription.maxProductLength))
        let controls = ClientDescription.describe(userAgent: "evil\u{1b}[31m/1.0")
        #expect(controls == "Unknown client")
        // A marker buried past the scanned prefix is not read.
        let buried = ClientDescription.describe(userAgent: "x/1 " + String(repeating: " ", count: 600) + "Firefox/1")
        #expect(buried == "x")
        for userAgent in ["\u{0}", "Firefox/1 \u{202e}Windows", String(repeating: "Firefox/1 ", count: 1000)] {
            let described = ClientDescription.describe(userAgent: userAgent)
            #expect(described.utf8.count <= ClientDescription.maxLength)
            #expect(described.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F })
        }
    }

    @Test func addressesAreCutAndPrintable() {
        let client = SessionStore.SessionClient(userAgent: nil, address: "2001:db8::1%eth0\u{0}" + String(repeating: "9", count: 100))
        #expect(client.address.count == SessionStore.SessionClient.maxAddressLength)
        #expect(client.address.hasPrefix("2001:db8::1%eth09"))
        #expect(SessionStore.SessionClient(userAgent: nil, address: nil).address == "")
    }
}

@Suite struct AccessTokenTests {
    @Test func tokensHaveThePrefixAnd256RandomBits() {
        let tokens = (0..<50).map { _ in AccessToken.make() }
        #expect(Set(tokens).count == tokens.count)
        for token in tokens {
            #expect(token.hasPrefix("tdl_"))
            #expect(token.count == 47)
            #expect(AccessToken.isWellFormed(token))
        }
        #expect(AccessToken.hash(tokens[0]).count == 64)
        #expect(AccessToken.hash(tokens[0]) != AccessToken.hash(tokens[1]))
    }

    @Test(arguments: ["", "tdl_", "tdl_" + String(repeating: "A", count: 42), "tdl_" + String(repeating: "A", count: 44),
                      "tdx_" + String(repeating: "A", count: 43), "tdl_" + String(repeating: "A", count: 42) + "=",
                      String(repeating: "A", count: 47)])
    func malformedTokensAreNotLookedUp(token: String) {
        #expect(!AccessToken.isWellFormed(token))
    }
}

@Suite struct BearerCredentialsTests {
    @Test func readsTheBearerScheme() {
        #expect(BearerCredentials.parse([]) == .absent)
        #expect(BearerCredentials.parse(["Bearer abc"]) == .token("abc"))
        #expect(BearerCredentials.parse(["bEaReR   abc  "]) == .token("abc"))
        #expect(BearerCredentials.parse(["Bearer\tabc"]) == .token("abc"))
        #expect(BearerCredentials.parse(["Bearer a-b.c_d~e+f/g=="]) == .token("a-b.c_d~e+f/g=="))
    }

    @Test func otherSchemesAreNotOurs() {
        #expect(BearerCredentials.parse(["Basic dXNlcjpwYXNz"]) == .absent)
        #expect(BearerCredentials.parse(["Bearerabc"]) == .absent)
        #expect(BearerCredentials.parse(["Digest username=x"]) == .absent)
    }

    @Test(arguments: [["Bearer"], ["Bearer "], ["Bearer a b"], ["Bearer a,b"], ["Bearer ==="], ["Bearer é"],
                      ["Bearer abc", "Bearer def"], ["Basic x", "Bearer abc"], ["Bearer abc", "Basic x"]])
    func malformedBearerHeaders(values: [String]) {
        #expect(BearerCredentials.parse(values) == .malformed)
    }
}
