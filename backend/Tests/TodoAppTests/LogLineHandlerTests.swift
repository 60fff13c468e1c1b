import Foundation
import Logging
import Testing

@testable import TodoApp

struct LogLineHandlerTests {
    /// What one `Logger` call writes, read back from a pipe.
    static func line(
        handlerMetadata: Logger.Metadata = [:], provided: Logger.Metadata = [:],
        _ log: (Logger) -> Void
    ) throws -> String {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        var handler = LogLineHandler(
            label: "todolist", output: descriptors[1],
            metadataProvider: provided.isEmpty ? nil : .init { provided })
        handler.metadata = handlerMetadata
        log(Logger(label: "todolist") { _ in handler })
        close(descriptors[1])
        let data = FileHandle(fileDescriptor: descriptors[0]).readDataToEndOfFile()
        return try #require(String(data: data, encoding: .utf8))
    }

    @Test func aLineHasUTCTimeLevelLabelSortedMetadataSourceAndMessage() throws {
        let line = try Self.line(handlerMetadata: ["hb.request.id": "abc", "z": "handler"]) { logger in
            logger.info("GET /api/ping/ 200", metadata: ["http.status": .stringConvertible(200), "z": "event", "a": ["x", "y"]])
        }
        let pattern = #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info todolist: (.*) \[TodoAppTests\] GET /api/ping/ 200\n$/#
        let match = try #require(line.wholeMatch(of: pattern))
        // Keys sorted; the event's value wins over the handler's for the same key.
        #expect(match.1 == #"a=["x", "y"] hb.request.id=abc http.status=200 z=event"#)
    }

    @Test func metadataFromTheProviderIsMergedUnderTheEventsOwn() throws {
        let line = try Self.line(handlerMetadata: ["k": "handler"], provided: ["k": "provided", "p": "1"]) { logger in
            logger.warning("w")
        }
        #expect(line.hasSuffix(" warning todolist: k=provided p=1 [TodoAppTests] w\n"))
    }

    @Test func withoutMetadataTheLineHasNoEmptyField() throws {
        let line = try Self.line { logger in logger.error("plain") }
        #expect(line.hasSuffix(" error todolist: [TodoAppTests] plain\n"))
    }
}
