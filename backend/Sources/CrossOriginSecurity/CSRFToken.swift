import Crypto

/// Django's CSRF token format, so tokens are interchangeable with a Django backend.
///
/// The *secret* is 32 characters of `[a-zA-Z0-9]` and lives in the cookie. A
/// *token* handed to the page is either the secret itself (32 characters) or,
/// normally, a fresh 32-character mask followed by the secret shifted by the mask
/// (64 characters). A new mask per response keeps the secret out of any response
/// body (BREACH) while every masked form stays valid for the same secret.
public enum CSRFToken {
    public static let secretLength = 32
    public static let maskedLength = 64

    /// Django's `CSRF_ALLOWED_CHARS`: `string.ascii_letters + string.digits`, in that order.
    /// The order is part of the wire format: masking adds indices into this table.
    static let alphabet: [UInt8] = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)

    private static let indexOf: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = Int8(index) }
        return table
    }()

    /// Why a token or secret does not have Django's format; the raw value is Django's wording.
    public enum FormatError: String, Error, Sendable {
        case incorrectLength = "has incorrect length"
        case invalidCharacters = "has invalid characters"
    }

    /// A new secret from the system's cryptographic random source.
    public static func makeSecret() -> String {
        randomString(length: secretLength)
    }

    /// The secret masked with a fresh random mask (64 characters).
    public static func mask(_ secret: String) -> String {
        let mask = Array(randomString(length: secretLength).utf8)
        let secretBytes = Array(secret.utf8)
        precondition(secretBytes.count == secretLength, "a CSRF secret has 32 characters")
        var output = mask
        output.reserveCapacity(maskedLength)
        for (secretByte, maskByte) in zip(secretBytes, mask) {
            let sum = Int(indexOf[Int(secretByte)]) + Int(indexOf[Int(maskByte)])
            output.append(alphabet[sum % alphabet.count])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The secret inside a token: a 64-character token is unmasked, a 32-character
    /// one is the secret itself. The token must already have passed `validateFormat`.
    public static func secret(fromToken token: String) -> String {
        let bytes = Array(token.utf8)
        guard bytes.count == maskedLength else { return token }
        var output = [UInt8]()
        output.reserveCapacity(secretLength)
        for offset in 0..<secretLength {
            let maskIndex = Int(indexOf[Int(bytes[offset])])
            let cipherIndex = Int(indexOf[Int(bytes[secretLength + offset])])
            output.append(alphabet[(cipherIndex - maskIndex + alphabet.count) % alphabet.count])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Django's `_check_token_format`: length first, then characters.
    public static func validateFormat(_ token: String) throws(FormatError) {
        let bytes = token.utf8
        guard bytes.count == secretLength || bytes.count == maskedLength else { throw .incorrectLength }
        guard bytes.allSatisfy({ indexOf[Int($0)] >= 0 }) else { throw .invalidCharacters }
    }

    /// Whether `token` (either length) carries `secret`, compared in constant time.
    public static func token(_ token: String, matchesSecret secret: String) -> Bool {
        let candidate = Array(self.secret(fromToken: token).utf8)
        let expected = Array(secret.utf8)
        guard candidate.count == expected.count else { return false }
        return constantTimeEquals(candidate, expected)
    }

    /// Compares two equal-length byte strings without an early exit.
    public static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

    /// Uniform characters from the alphabet, by rejection sampling over random bytes
    /// (62 does not divide 256, so a plain modulo would bias the first characters).
    static func randomString(length: Int) -> String {
        var output = [UInt8]()
        output.reserveCapacity(length)
        while output.count < length {
            // 248 = 4 × 62: a byte at or above it is rejected (3 %), so a few spare bytes
            // nearly always suffice for one draw.
            for byte in SecureRandom.bytes(length - output.count + 8) where byte < 248 && output.count < length {
                output.append(alphabet[Int(byte) % alphabet.count])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
