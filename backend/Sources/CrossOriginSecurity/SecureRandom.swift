/// Bytes from the system's cryptographic random source (`SystemRandomNumberGenerator`:
/// `getrandom(2)` on Linux), drawn eight at a time.
///
/// Drawing one byte per `UInt8.random(using:)` costs a whole `next()`, which is a system
/// call: 32 of them for a 32-byte session id, 33 for a 32-character CSRF secret. Tokens
/// are made on every log-in, sign-up and CSRF token issued, so the draws showed in
/// profiles (docs/performance.md); eight bytes per call is a quarter of that or less.
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        bytes.removeLast(bytes.count - count)
        return bytes
    }
}
