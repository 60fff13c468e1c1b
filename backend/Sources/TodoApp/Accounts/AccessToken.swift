import Crypto
import Foundation

/// Personal access tokens: their format, how they are stored, and how a request
/// presents one (`Authorization: Bearer <token>`, RFC 6750).
///
/// A token is `tdl_` followed by 256 random bits from the system's CSPRNG as unpadded
/// base64url. The prefix lets secret scanners and people recognise a leaked one. Only
/// the SHA-256 of the whole token is stored, and that is enough: a slow, salted hash
/// (bcrypt) protects *guessable* secrets such as passwords against offline guessing,
/// but nobody can enumerate 2^256 candidates, so a fast hash loses nothing, and it
/// keeps the look-up one indexed equality per request, as fast as a session's, with no
/// bcrypt work an unauthenticated client could make the server do.
enum AccessToken {
    static let prefix = "tdl_"
    /// The prefix and 43 base64url characters.
    static let length = prefix.utf8.count + SessionStore.tokenLength

    static func make() -> String {
        prefix + SessionStore.makeToken()
    }

    /// Whether a presented token could be one of ours; others are not looked up.
    static func isWellFormed(_ token: String) -> Bool {
        token.utf8.count == length && token.hasPrefix(prefix)
            && SessionStore.isWellFormed(String(token.dropFirst(prefix.count)))
    }

    /// Lower-case hex SHA-256: the key the table stores.
    static func hash(_ token: String) -> String {
        Hex.lowercase(SHA256.hash(data: Array(token.utf8)))
    }
}

/// What a request's `Authorization` header says about bearer tokens.
enum BearerCredentials: Equatable, Sendable {
    /// No `Authorization` header, or one of another scheme (not ours to judge).
    case absent
    /// `Bearer` with a token of RFC 6750's syntax (not yet known to be ours).
    case token(String)
    /// `Bearer` with nothing, or something that is no token, after it; or the header more than once.
    case malformed

    /// Reads the `Authorization` field values: the scheme is case-insensitive (RFC 9110),
    /// spaces around the token are allowed, the token is RFC 6750's `b64token`.
    static func parse(_ values: [String]) -> BearerCredentials {
        guard let value = values.first else { return .absent }
        let bytes = Array(value.utf8)
        let scheme = bytes.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        guard scheme.count == 6, String(decoding: scheme, as: UTF8.self).lowercased() == "bearer" else {
            return values.count > 1 && values.contains(where: isBearer) ? .malformed : .absent
        }
        guard values.count == 1 else { return .malformed }
        let rest = bytes.dropFirst(scheme.count)
        let credentials = rest.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let trimmed = credentials.reversed().drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }.reversed()
        guard rest.first == UInt8(ascii: " ") || rest.first == UInt8(ascii: "\t"), !trimmed.isEmpty,
            isB64Token(Array(trimmed))
        else { return .malformed }
        return .token(String(decoding: trimmed, as: UTF8.self))
    }

    private static func isBearer(_ value: String) -> Bool {
        value.utf8.prefix(7).map { $0 | 0x20 } == Array("bearer ".utf8)
    }

    /// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
    static func isB64Token(_ bytes: [UInt8]) -> Bool {
        let body = bytes.reversed().drop { $0 == UInt8(ascii: "=") }
        guard !body.isEmpty else { return false }
        return body.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"),
                UInt8(ascii: "/"):
                true
            default:
                false
            }
        }
    }
}
