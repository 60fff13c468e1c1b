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
        let output = LogOutput(descriptor: descriptors[1])
        var handler = LogLineHandler(
            label: "todolist", output: output,
            metadataProvider: provided.isEmpty ? nil : .init { provided })
        handler.metadata = handlerMetadata
        log(Logger(label: "todolist") { _ in handler })
        output.close()
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

    /// A pipe (or a socket, as systemd's journal gives) nobody reads: writing never waits.
    /// Every line is either delivered, whole and in order, or counted in a line saying how
    /// many were dropped, which follows the lines before it once the reader reads.
    @Test(arguments: ["pipe", "socket"], [LogOutput.Timing.now, .soon])
    func aFullOutputQueuesThenDropsAndCountsWithoutWaiting(kind: String, timing: LogOutput.Timing) throws {
        var descriptors: [Int32] = [0, 0]
        if kind == "pipe" {
            #expect(pipe(&descriptors) == 0)
        } else {
            #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &descriptors) == 0)
        }
        defer { close(descriptors[0]) }
        let output = LogOutput(descriptor: descriptors[1], backlogLimit: 10_000)
        // A pipe's output has a description of its own; a socket's is the one given.
        if kind == "pipe" { close(descriptors[1]) }
        defer { if kind == "socket" { close(descriptors[1]) } }
        let total = 100_000  // 1.2 MB: more than a pipe or a socket buffer holds, and the backlog
        for index in 0..<total {
            output.write(Array("line \(index)\n".utf8), timing: timing)  // returns: the test would hang here otherwise
        }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var delivered: [Int] = []
        var dropped: [Int] = []
        // Read without blocking, for at most 10 s: a line unaccounted for fails the test, not hangs it.
        _ = fcntl(descriptors[0], F_SETFL, fcntl(descriptors[0], F_GETFL) | O_NONBLOCK)
        let deadline = ContinuousClock.now + .seconds(10)
        while delivered.count + dropped.reduce(0, +) < total && ContinuousClock.now < deadline {
            let count = read(descriptors[0], &buffer, buffer.count)
            guard count > 0 else {
                try #require(count < 0 && errno == EAGAIN)
                usleep(1000)
                continue
            }
            received += buffer[..<count]
            while let end = received.firstIndex(of: UInt8(ascii: "\n")) {
                let text = String(decoding: received[..<end], as: UTF8.self)
                received.removeSubrange(...end)
                if let number = text.wholeMatch(of: #/line (\d+)/#) {
                    delivered.append(Int(number.1)!)
                } else {
                    let notice = try #require(
                        text.wholeMatch(of: #/.+Z warning todolist: \[TodoApp\] (\d+) log lines dropped: their reader fell behind/#),
                        "not a line of the test's nor a notice: \(text)")
                    dropped.append(Int(notice.1)!)
                }
            }
        }
        output.close()
        #expect(delivered == delivered.sorted() && Set(delivered).count == delivered.count, "out of order or repeated")
        #expect(delivered.first == 0)
        #expect(!dropped.isEmpty)
        #expect(delivered.count + dropped.reduce(0, +) == total)
    }

    /// Reads what a non-blocking pipe holds now.
    static func available(_ descriptor: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var text: [UInt8] = []
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            guard count > 0 else { break }
            text += buffer[..<count]
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func nonBlockingPipe() -> [Int32] {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        _ = fcntl(descriptors[0], F_SETFL, fcntl(descriptors[0], F_GETFL) | O_NONBLOCK)
        return descriptors
    }

    /// The access log's lines wait to be written together; a warning takes them out with it,
    /// in order, at once; `flush()` (at exit) writes what waits.
    @Test func soonLinesWaitAndANowLineWritesThemBeforeItself() throws {
        let descriptors = Self.nonBlockingPipe()
        defer { close(descriptors[0]) }
        let output = LogOutput(descriptor: descriptors[1], flushInterval: .seconds(60))
        close(descriptors[1])  // the output has a description of its own
        defer { output.close() }

        output.write(Array("one\n".utf8), timing: .soon)
        output.write(Array("two\n".utf8), timing: .soon)
        usleep(100_000)
        #expect(Self.available(descriptors[0]) == "")
        output.write(Array("three\n".utf8), timing: .now)
        #expect(Self.available(descriptors[0]) == "one\ntwo\nthree\n")

        output.write(Array("four\n".utf8), timing: .soon)
        output.flush()
        #expect(Self.available(descriptors[0]) == "four\n")
    }

    /// A `.soon` line is written by itself once the interval has passed, with those gathered meanwhile.
    @Test func soonLinesAreWrittenAfterTheInterval() throws {
        let descriptors = Self.nonBlockingPipe()
        defer { close(descriptors[0]) }
        let output = LogOutput(descriptor: descriptors[1], flushInterval: .milliseconds(50))
        close(descriptors[1])
        defer { output.close() }

        var received = ""
        for round in 0..<3 {
            for index in 0..<100 { output.write(Array("\(round).\(index)\n".utf8), timing: .soon) }
            let deadline = ContinuousClock.now + .seconds(5)
            while received.split(separator: "\n").count < 100 * (round + 1) && ContinuousClock.now < deadline {
                usleep(5_000)
                received += Self.available(descriptors[0])
            }
        }
        let expected = (0..<3).flatMap { round in (0..<100).map { "\(round).\($0)" } }
        #expect(received.split(separator: "\n").map(String.init) == expected)
    }

    /// What an output holds at exit is written: the server's last requests stay in its log.
    @Test func closingWritesWhatWaits() throws {
        let descriptors = Self.nonBlockingPipe()
        defer { close(descriptors[0]) }
        let output = LogOutput(descriptor: descriptors[1], flushInterval: .seconds(60))
        close(descriptors[1])
        output.write(Array("last\n".utf8), timing: .soon)
        output.close()
        #expect(Self.available(descriptors[0]) == "last\n")
    }
}
