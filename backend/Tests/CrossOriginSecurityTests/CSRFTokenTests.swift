import Testing

@testable import CrossOriginSecurity

@Suite("CSRF token format")
struct CSRFTokenTests {
    @Test func secretsAre32AlphanumericCharactersAndDistinct() {
        let secrets = (0..<100).map { _ in CSRFToken.makeSecret() }
        #expect(Set(secrets).count == 100)
        for secret in secrets {
            #expect(secret.utf8.count == 32)
            #expect(secret.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        }
    }

    @Test func secretsUseEveryCharacterOfTheAlphabetAboutEvenly() {
        var counts: [Character: Int] = [:]
        for _ in 0..<2000 {
            for character in CSRFToken.makeSecret() { counts[character, default: 0] += 1 }
        }
        // 64,000 characters over 62: about 1,032 each; a modulo bias or a byte lost
        // between draws would show as a character far off (or missing).
        #expect(counts.count == 62)
        #expect(counts.values.allSatisfy { (800...1300).contains($0) }, "\(counts.values.sorted())")
    }

    @Test func secureRandomGivesTheBytesAskedFor() {
        for count in [0, 1, 7, 8, 9, 32, 33, 100] {
            #expect(SecureRandom.bytes(count).count == count)
        }
        #expect(SecureRandom.bytes(32) != SecureRandom.bytes(32))
    }

    @Test func maskUnmaskRoundTrip() {
        for _ in 0..<50 {
            let secret = CSRFToken.makeSecret()
            let token = CSRFToken.mask(secret)
            #expect(token.utf8.count == 64)
            #expect(CSRFToken.secret(fromToken: token) == secret)
            #expect(CSRFToken.token(token, matchesSecret: secret))
        }
    }

    @Test func eachMaskIsFresh() {
        let secret = CSRFToken.makeSecret()
        let tokens = Set((0..<20).map { _ in CSRFToken.mask(secret) })
        #expect(tokens.count == 20)
    }

    /// Values computed with Django's own `_mask_cipher_secret` for a fixed mask.
    @Test func matchesDjangosCipher() {
        let secret = "abcdefghijklmnopqrstuvwxyzABCDEF"
        let mask = "0123456789abcdefghijklmnopqrstuv"
        // Django: pairs of indices added modulo 62 in the alphabet a-zA-Z0-9.
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let expectedCipher = String(zip(secret, mask).map { s, m in
            alphabet[(alphabet.firstIndex(of: s)! + alphabet.firstIndex(of: m)!) % 62]
        })
        let token = mask + expectedCipher
        #expect(CSRFToken.secret(fromToken: token) == secret)
    }

    @Test func unmaskedTokenIsTheSecret() throws {
        let secret = CSRFToken.makeSecret()
        try CSRFToken.validateFormat(secret)
        #expect(CSRFToken.token(secret, matchesSecret: secret))
        #expect(!CSRFToken.token(CSRFToken.makeSecret(), matchesSecret: secret))
    }

    @Test(arguments: ["", "abc", String(repeating: "a", count: 31), String(repeating: "a", count: 33),
                      String(repeating: "a", count: 63), String(repeating: "a", count: 65)])
    func wrongLengthsAreNamed(token: String) {
        #expect(throws: CSRFToken.FormatError.incorrectLength) { try CSRFToken.validateFormat(token) }
    }

    @Test(arguments: [String(repeating: "a", count: 31) + "-", String(repeating: "a", count: 63) + "_",
                      String(repeating: "é", count: 16), String(repeating: "a", count: 31) + " "])
    func invalidCharactersAreNamed(token: String) {
        #expect(throws: CSRFToken.FormatError.self) { try CSRFToken.validateFormat(token) }
        if token.utf8.count == 32 || token.utf8.count == 64 {
            #expect(throws: CSRFToken.FormatError.invalidCharacters) { try CSRFToken.validateFormat(token) }
        }
    }

    @Test func tokenForAnotherSecretDoesNotMatch() {
        let secret = CSRFToken.makeSecret()
        let other = CSRFToken.mask(CSRFToken.makeSecret())
        #expect(!CSRFToken.token(other, matchesSecret: secret))
    }

    @Test func constantTimeEquality() {
        #expect(CSRFToken.constantTimeEquals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!CSRFToken.constantTimeEquals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!CSRFToken.constantTimeEquals(Array("abc".utf8), Array("abcd".utf8)))
    }

    @Test func failureReasonsAndSentences() {
        #expect(CSRFFailure.tokenMalformed(.incorrectLength).detail
            == "CSRF token from the 'X-Csrftoken' HTTP header has incorrect length.")
        #expect(CSRFFailure.cookieMalformed(.invalidCharacters).detail == "CSRF cookie has invalid characters.")
        #expect(CSRFFailure.Reason.allCases.filter(\.isRetryable)
            == [.cookieMissing, .cookieMalformed, .tokenMissing, .tokenMalformed, .tokenIncorrect])
    }
}
