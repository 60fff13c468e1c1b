/// Parses a request body as RFC 8259 JSON and nothing more lenient.
///
/// Foundation's decoder accepts trailing commas and keeps the last of two equal keys;
/// two parsers that disagree about one body are how a request gets read one way by a
/// check and another way by the code behind it. So this parser refuses, as
/// `JSONSyntaxError`: trailing commas, comments, `NaN`/`Infinity`, single quotes,
/// unescaped control characters, invalid UTF-8 (overlong forms and encoded surrogates
/// included), lone surrogate escapes, duplicate keys (compared after unescaping), a
/// byte-order mark, anything after the value, and nesting deeper than `maxDepth`
/// (so a body of brackets cannot exhaust the stack).
///
/// Numbers that are exactly integers fitting 64 bits become `.integer`; every other number `.number`.
struct StrictJSONParser {
    struct JSONSyntaxError: Error, Equatable {
        /// What is wrong, for the client's `detail`.
        let reason: String
        /// Byte offset into the body.
        let offset: Int
    }

    static let maxDepth = 64

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
        var parser = StrictJSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected data after the JSON value") }
        return value
    }

    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(reason: reason, offset: index)
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard let byte = current else { throw error("unexpected end of the body") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw error("unexpected end of the body") }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw error("unexpected character") }
        index += count
    }

    private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth) levels") }
        index += 1  // {
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            guard current == UInt8(ascii: "\"") else { throw error("expected a member name in double quotes") }
            let keyOffset = index
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after a member name") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            guard members.updateValue(value, forKey: key) == nil else {
                throw JSONSyntaxError(reason: "duplicate member name", offset: keyOffset)
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                index += 1
                return .object(members)
            default:
                throw error("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth) levels") }
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                index += 1
                return .array(elements)
            default:
                throw error("expected ',' or ']' in an array")
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    ///
    /// A number whose value is exactly an integer that fits 64 bits is `.integer`, however it
    /// is written (`2.0`, `1e2`, `150e-1`); any other is `.number`, even one a `Double` would
    /// round to an integer (`1.00000000000000001`).
    private mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = index
        let isNegative = current == UInt8(ascii: "-")
        if isNegative { index += 1 }
        guard let first = current, Self.isDigit(first) else { throw error("a number needs digits") }
        var digits: [UInt8] = [first]
        index += 1
        if first != UInt8(ascii: "0") {
            while let byte = current, Self.isDigit(byte) {
                digits.append(byte)
                index += 1
            }
        } else if let byte = current, Self.isDigit(byte) {
            throw error("a number must not have leading zeros")
        }
        var fractionDigits = 0
        if current == UInt8(ascii: ".") {
            index += 1
            guard let byte = current, Self.isDigit(byte) else { throw error("a fraction needs digits") }
            while let byte = current, Self.isDigit(byte) {
                digits.append(byte)
                fractionDigits += 1
                index += 1
            }
        }
        var exponent = 0
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            let isNegativeExponent = current == UInt8(ascii: "-")
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let byte = current, Self.isDigit(byte) else { throw error("an exponent needs digits") }
            while let byte = current, Self.isDigit(byte) {
                exponent = min(exponent * 10 + Int(byte - UInt8(ascii: "0")), 100_000)  // far past any Int64
                index += 1
            }
            if isNegativeExponent { exponent = -exponent }
        }
        if let integer = Self.exactInteger(digits: digits, shift: exponent - fractionDigits, isNegative: isNegative) {
            return .integer(integer)
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let number = Double(text) else { throw JSONSyntaxError(reason: "unreadable number", offset: start) }
        return .number(number)
    }

    /// `digits` × 10^`shift`, negated when `isNegative`, when that is an integer that fits 64 bits.
    private static func exactInteger(digits: [UInt8], shift: Int, isNegative: Bool) -> Int64? {
        var significant = digits[...]
        var shift = shift
        while shift < 0, significant.last == UInt8(ascii: "0") {
            significant = significant.dropLast()
            shift += 1
        }
        guard shift >= 0 else { return nil }
        var magnitude: UInt64 = 0
        for byte in significant {
            let (times, overflowed) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, carried) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflowed, !carried else { return nil }
            magnitude = sum
        }
        guard magnitude != 0 else { return 0 }
        guard shift <= 19 else { return nil }  // 10^19 alone is past Int64
        for _ in 0..<shift {
            let (times, overflowed) = magnitude.multipliedReportingOverflow(by: 10)
            guard !overflowed else { return nil }
            magnitude = times
        }
        if isNegative {
            return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil
        }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// A string token; its raw bytes must be valid UTF-8 and its escapes complete.
    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1  // opening quote
        let start = index
        var hasEscapes = false
        var hasNonASCII = false
        while true {
            guard let byte = current else { throw error("unterminated string") }
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw error("unescaped control character in a string") }
            if byte >= 0x80 { hasNonASCII = true }
            if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                index += 1
                guard current != nil else { throw error("unterminated string") }
            }
            index += 1
        }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
        index += 1  // closing quote
        if hasNonASCII {
            guard String(validating: raw, as: UTF8.self) != nil else {
                throw JSONSyntaxError(reason: "invalid UTF-8 in a string", offset: start)
            }
        }
        guard hasEscapes else { return String(decoding: raw, as: UTF8.self) }
        return try Self.unescape(raw, offset: start)
    }

    private static func unescape(_ raw: UnsafeRawBufferPointer, offset: Int) throws(JSONSyntaxError) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(raw.count)
        var position = 0
        func fail(_ reason: String) -> JSONSyntaxError {
            JSONSyntaxError(reason: reason, offset: offset + position)
        }
        func hexQuad(at start: Int) throws(JSONSyntaxError) -> UInt32 {
            guard start + 4 <= raw.count else { throw fail("incomplete \\u escape") }
            var value: UInt32 = 0
            for byte in raw[start..<start + 4] {
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw fail("invalid \\u escape")
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while position < raw.count {
            let byte = raw[position]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                position += 1
                continue
            }
            let escape = raw[position + 1]
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escape)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hexQuad(at: position + 2)
                if (0xDC00...0xDFFF).contains(scalar) { throw fail("lone low surrogate") }
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one.
                    let next = position + 6
                    guard next + 1 < raw.count, raw[next] == UInt8(ascii: "\\"), raw[next + 1] == UInt8(ascii: "u") else {
                        throw fail("lone high surrogate")
                    }
                    let low = try hexQuad(at: next + 2)
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("lone high surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    position += 6
                }
                guard let decoded = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                Unicode.UTF8.encode(decoded) { output.append($0) }
                position += 4
            default:
                throw fail("invalid escape")
            }
            position += 2
        }
        return String(decoding: output, as: UTF8.self)
    }
}
