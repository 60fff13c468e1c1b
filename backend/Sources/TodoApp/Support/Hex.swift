/// Lower-case hexadecimal, for digests and `\u00XX` escapes.
enum Hex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Two digits per byte.
    static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
