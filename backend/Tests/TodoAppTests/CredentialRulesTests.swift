import CrossOriginSecurity
import Testing
@testable import TodoApp

@Suite struct CredentialRulesTests {
    func code(_ check: () throws -> Void) -> String? {
        do {
            try check()
            return nil
        } catch let error as JSONError {
            return error.code
        } catch {
            return "\(error)"
        }
    }

    @Test func usernames() {
        for valid in ["a", "Alice.Smith+todo@example.com", "under_score-dash", String(repeating: "x", count: 150)] {
            #expect(code { try CredentialRules.validateUsername(valid) } == nil, "\(valid)")
        }
        for invalid in ["", String(repeating: "x", count: 151), "with space", "émile", "semi;colon", "null\0byte", "😀"] {
            #expect(code { try CredentialRules.validateUsername(invalid) } == "invalid_username", "\(invalid)")
        }
    }

    @Test func passwords() {
        for valid in ["correct horse", "12345678a", "pässwörd", String(repeating: "é", count: 36)] {
            #expect(code { try CredentialRules.validatePassword(valid, username: "alice") } == nil, "\(valid)")
        }
        let invalid = [
            "short", "1234567", "12345678", "١٢٣٤٥٦٧٨٩", "AliceSmith", String(repeating: "a", count: 73),
            String(repeating: "é", count: 37), "password\0with-nul",
        ]
        for password in invalid {
            #expect(code { try CredentialRules.validatePassword(password, username: "alicesmith") } == "invalid_password", "\(password)")
        }
    }

    @Test func bcryptNeverMatchesAnUnverifiablePassword() async throws {
        let hasher = PasswordHasher(cost: 4, queueLimit: 1, queuePerAddress: 1, threads: 1)
        try await hasher.withPlace(for: nil) { place in
            let hash = try await hasher.hash("correct horse", in: place)
            #expect(try await hasher.verify("correct horse", against: hash, in: place))
            #expect(try await hasher.verify("correct horsE", against: hash, in: place) == false)
            #expect(try await hasher.verify("correct horse", against: nil, in: place) == false)
            // bcrypt reads 72 bytes: a longer password sharing them must still fail.
            let long = String(repeating: "p", count: 72)
            let longHash = try await hasher.hash(long, in: place)
            #expect(try await hasher.verify(long + "extra", against: longHash, in: place) == false)
        }
    }
}
