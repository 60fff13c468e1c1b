import Testing

@testable import TodoApp

@Suite struct StrictJSONParserTests {
    func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }

    func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBytes { try StrictJSONParser.parse($0) }
    }

    @Test func readsEveryKindOfValue() throws {
        let value = try parse(#" {"s": "a\u00e9\ud83d\ude00\n", "i": -12, "d": 1.25e1, "b": [true, false, null], "o": {}} "#)
        #expect(
            value
                == .object([
                    "s": .string("aé😀\n"), "i": .integer(-12), "d": .number(12.5),
                    "b": .array([.bool(true), .bool(false), .null]), "o": .object([:]),
                ]))
    }

    @Test func integersBeyond64BitsAreNumbers() throws {
        #expect(try parse("9223372036854775807") == .integer(Int64.max))
        #expect(try parse("9223372036854775808") == .number(9_223_372_036_854_775_808))
        #expect(try parse("-0") == .integer(0))
        #expect(try parse("-9223372036854775808") == .integer(Int64.min))
        // A number: the nearest Double, which is -2^63 itself.
        #expect(try parse("-9223372036854775809") == .number(-9_223_372_036_854_775_808.0))
    }

    @Test func numbersAreIntegersByValueNotBySpelling() throws {
        #expect(try parse("1.5e2") == .integer(150))
        #expect(try parse("2.000") == .integer(2))
        #expect(try parse("1500e-1") == .integer(150))
        #expect(try parse("-0.0e7") == .integer(0))
        #expect(try parse("0e99999999999") == .integer(0))
        #expect(try parse("1.00000000000000001") == .number(1))
        #expect(try parse("15e-1") == .number(1.5))
        #expect(try parse("1e19") == .number(1e19))
    }

    @Test(arguments: [
        "{\"a\":1,}", "[1,]", "{\"a\":1} x", "// c\n{}", "NaN", "Infinity", "-Infinity", "'a'", "{a:1}",
        "01", "1.", ".5", "+1", "0x1", "\"\\x41\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}", "\"a\tb\"", "", " ", "[", "{\"a\"}", "tru", "nul",
        "\"\\u12\"", "\"\\uZZZZ\"",
    ])
    func refusesWhatRFC8259Refuses(_ text: String) {
        #expect(throws: StrictJSONParser.JSONSyntaxError.self) { try parse(text) }
    }

    @Test(arguments: [
        [0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80],
    ] as [[UInt8]])
    func refusesInvalidUTF8InStrings(_ bytes: [UInt8]) {
        #expect(throws: StrictJSONParser.JSONSyntaxError.self) { try parse([0x22] + bytes + [0x22]) }
    }

    @Test func refusesAByteOrderMark() {
        #expect(throws: StrictJSONParser.JSONSyntaxError.self) { try parse([0xEF, 0xBB, 0xBF] + Array("{}".utf8)) }
    }

    @Test func limitsNesting() throws {
        let allowed = String(repeating: "[", count: StrictJSONParser.maxDepth) + String(repeating: "]", count: StrictJSONParser.maxDepth)
        _ = try parse(allowed)
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: StrictJSONParser.JSONSyntaxError.self) { try parse(deep) }
    }
}
