import Foundation
import NIOCore
import Testing

@testable import TodoApp

@Suite struct JSONOutputTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (999, "1970-01-01T00:00:00.999Z"),
        (86_399_999, "1970-01-01T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_795_729_312_123, "2026-11-26T21:41:52.123Z"),
        (4_107_542_399_999, "2100-02-28T23:59:59.999Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-86_400_001, "1969-12-30T23:59:59.999Z"),
    ])
    func timestamps(milliseconds: Int64, expected: String) {
        // Exact milliseconds: Foundation's formatter, working from a Double, prints .998 for some of these.
        #expect(RFC3339.string(milliseconds: milliseconds) == expected)
    }

    /// Whole seconds (which a Double holds exactly) after the Gregorian reform, where
    /// Foundation's calendar and the proleptic one agree.
    @Test func daysOverEightCenturiesMatchFoundation() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!)
        for day in stride(from: Int64(-135_000), through: 150_000, by: 37) {
            let milliseconds = day * 86_400_000 + 45_296_000
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            #expect(RFC3339.string(milliseconds: milliseconds) == date.formatted(style))
        }
    }

    @Test(arguments: ["plain", "quote \" and \\ backslash", "new\nline\ttab\r", "\u{1}\u{1f}", "émoji 🎉 עברית", ""])
    func stringsRoundTrip(value: String) throws {
        var json = JSONOutput()
        json.beginArray()
        json.string(value)
        json.integer(-42)
        json.bool(true)
        json.null()
        json.endArray()
        let data = Data(json.buffer.readableBytesView)
        let decoded = try JSONSerialization.jsonObject(with: data) as? [Any]
        #expect(decoded?.first as? String == value)
        #expect(decoded?.count == 4)
    }

    @Test func integersAtTheEdges() {
        var json = JSONOutput()
        json.beginArray()
        for value in [Int64.min, -1, 0, 7, 10, 9_007_199_254_740_991, Int64.max] { json.integer(value) }
        json.endArray()
        #expect(String(buffer: json.buffer) == "[-9223372036854775808,-1,0,7,10,9007199254740991,9223372036854775807]")
    }

    @Test func objectsPlaceTheirCommas() {
        let todo = Todo(id: 7, title: "Write \"docs\"", completed: true, order: 3, createdAt: 0, updatedAt: 1)
        var json = JSONOutput()
        TodoController.TodoList(todos: [todo, todo]).write(to: &json)
        let text = String(buffer: json.buffer)
        let one = #"{"id":7,"title":"Write \"docs\"","completed":true,"order":3,"#
            + #""createdAt":"1970-01-01T00:00:00.000Z","updatedAt":"1970-01-01T00:00:00.001Z"}"#
        #expect(text == #"{"todos":["# + one + "," + one + "]}")
    }
}
