import CrossOriginSecurity

/// The contract's rules for usernames and passwords, with its error codes.
enum CredentialRules {
    static let maxUsernameLength = 150
    static let minPasswordCharacters = 8
    /// bcrypt reads at most 72 bytes; a longer password is refused, never truncated.
    static let maxPasswordBytes = 72

    /// 1–150 characters of ASCII letters, digits and `@.+-_`.
    static func validateUsername(_ username: String) throws(JSONError) {
        guard couldBeUsername(username) else {
            throw JSONError(
                .badRequest, code: "invalid_username",
                detail: "A username is 1 to 150 characters: ASCII letters, digits and @ . + - _ only.")
        }
    }

    /// 8 characters to 72 bytes of UTF-8, not all digits, not the username ignoring case.
    static func validatePassword(_ password: String, username: String) throws(JSONError) {
        func invalid(_ detail: String) -> JSONError {
            JSONError(.badRequest, code: "invalid_password", detail: detail)
        }
        if password.unicodeScalars.count < minPasswordCharacters {
            throw invalid("The password must be at least 8 characters long.")
        }
        if password.utf8.count > maxPasswordBytes {
            throw invalid("The password must be at most 72 bytes of UTF-8 (bcrypt's limit).")
        }
        // bcrypt stops at a NUL byte, which would silently shorten the password.
        if password.utf8.contains(0) {
            throw invalid("The password must not contain a NUL character.")
        }
        if password.unicodeScalars.allSatisfy({ $0.properties.numericType == .decimal }) {
            throw invalid("The password must not be entirely numeric.")
        }
        if password.lowercased() == username.lowercased() {
            throw invalid("The password must not be the username.")
        }
    }

    /// Whether bcrypt can check this password exactly; others can never match a stored hash.
    static func isVerifiable(_ password: String) -> Bool {
        !password.isEmpty && password.utf8.count <= maxPasswordBytes && !password.utf8.contains(0)
    }

    /// Whether `username` follows the rules, so that an account could have it.
    static func couldBeUsername(_ username: String) -> Bool {
        let bytes = username.utf8
        return !bytes.isEmpty && bytes.count <= maxUsernameLength && bytes.allSatisfy(isUsernameByte)
    }

    private static func isUsernameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "@"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }
}
