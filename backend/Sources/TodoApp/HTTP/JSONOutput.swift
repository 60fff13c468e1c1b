import NIOCore

/// A value the API answers with, written straight into the response's bytes.
///
/// Foundation's `JSONEncoder` builds a tree of boxed values, then walks it, and
/// formats dates through a calendar; on the list endpoint that was a sixth of a
/// request's CPU. The API returns a handful of small, fixed shapes, so each one
/// writes itself.
protocol JSONRepresentable: Sendable {
    func write(to json: inout JSONOutput)
}

/// Appends JSON tokens to a byte array, placing the commas itself: after a value, the
/// next key or array element is preceded by one. Keys are `StaticString`s written as
/// they are, so they must not need escaping; string values are escaped as RFC 8259 requires.
///
/// Bytes go to a plain `[UInt8]` (each append is a bounds check and a store) and into
/// a `ByteBuffer` once, at the end.
struct JSONOutput {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    var buffer: ByteBuffer { ByteBuffer(bytes: bytes) }

    // MARK: Structure

    mutating func beginObject() { open(UInt8(ascii: "{")) }
    mutating func endObject() { close(UInt8(ascii: "}")) }
    mutating func beginArray() { open(UInt8(ascii: "[")) }
    mutating func endArray() { close(UInt8(ascii: "]")) }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        needsComma = false
    }

    private mutating func close(_ bracket: UInt8) {
        bytes.append(bracket)
        needsComma = true
    }

    mutating func key(_ key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    // MARK: Values

    mutating func null() {
        separate()
        append("null")
    }

    mutating func bool(_ value: Bool) {
        separate()
        append(value ? "true" : "false")
    }

    mutating func integer(_ value: Int64) {
        separate()
        appendDigits(of: value)
    }

    mutating func integer(_ value: Int) {
        integer(Int64(value))
    }

    mutating func value(_ value: (some JSONRepresentable)?) {
        if let value { value.write(to: &self) } else { null() }
    }

    /// A string, escaping `"`, `\\` and control characters; everything else is written as UTF-8.
    mutating func string(_ value: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            if !utf8.contains(where: Self.needsEscape) {
                bytes.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                guard Self.needsEscape(byte) else {
                    bytes.append(byte)
                    continue
                }
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
                default:
                    append("u00")
                    bytes.append(Hex.digits[Int(byte >> 4)])
                    bytes.append(Hex.digits[Int(byte & 0x0F)])
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// An RFC 3339 timestamp in UTC with milliseconds, e.g. `"2026-11-25T21:41:52.123Z"`,
    /// from milliseconds since 1970.
    mutating func timestamp(milliseconds: Int64) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        RFC3339.write(milliseconds: milliseconds, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func appendDigits(of value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        // The magnitude as unsigned, so Int64.min has one too.
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { scratch in
            repeat {
                scratch[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            bytes.append(contentsOf: scratch[(20 - count)...])
        }
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }
}

/// RFC 3339 timestamps in UTC with millisecond precision, computed with integer
/// arithmetic (Howard Hinnant's days-to-civil) rather than through a calendar.
enum RFC3339 {
    static func string(milliseconds: Int64) -> String {
        var text: [UInt8] = []
        write(milliseconds: milliseconds, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends the 24 bytes of `YYYY-MM-DDTHH:MM:SS.mmmZ`, formatted in a scratch buffer
    /// and appended at once (a list of 20 todos writes 40 of them).
    static func write(milliseconds: Int64, to text: inout [UInt8]) {
        let millisecondsPerDay: Int64 = 86_400_000
        var days = milliseconds / millisecondsPerDay
        var rest = milliseconds % millisecondsPerDay
        if rest < 0 {
            rest += millisecondsPerDay
            days -= 1
        }
        let (year, month, day) = civil(daysSince1970: days)
        let time = Int(rest)
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { out in
            func put(_ value: Int, at offset: Int, width: Int) {
                var value = value
                var index = offset + width - 1
                while index >= offset {
                    out[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                    index -= 1
                }
            }
            put(Int(year), at: 0, width: 4)
            out[4] = UInt8(ascii: "-")
            put(Int(month), at: 5, width: 2)
            out[7] = UInt8(ascii: "-")
            put(Int(day), at: 8, width: 2)
            out[10] = UInt8(ascii: "T")
            put(time / 3_600_000, at: 11, width: 2)
            out[13] = UInt8(ascii: ":")
            put(time / 60_000 % 60, at: 14, width: 2)
            out[16] = UInt8(ascii: ":")
            put(time / 1000 % 60, at: 17, width: 2)
            out[19] = UInt8(ascii: ".")
            put(time % 1000, at: 20, width: 3)
            out[23] = UInt8(ascii: "Z")
            text.append(contentsOf: out)
        }
    }

    /// (year, month, day) of the proleptic Gregorian calendar for a day count from 1970-01-01.
    static func civil(daysSince1970 days: Int64) -> (Int64, Int64, Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
