import Foundation
import Logging

/// One line per event on standard output, in the shape of swift-log's `StreamLogHandler`:
///
///     2026-11-26T01:15:31.042Z info todolist: http.method=GET http.path=/api/ping/ [TodoApp] GET /api/ping/ 200
///
/// The server logs every request, so this runs as often as a handler does. Against
/// `StreamLogHandler` it saves the per-event work that showed in profiles (a tenth of
/// `GET /api/ping/`): the local-time conversion (which also stats `/etc/localtime`
/// each time), merging metadata dictionaries, and a lock around `fputs` plus `fflush`.
/// Timestamps are UTC with milliseconds, the line is built in one buffer and handed to
/// `LogOutput` whole, which writes it in one `write(2)` with the lines of the next few
/// milliseconds (at once from `notice` up) and never waits for the output's reader.
public struct LogLineHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:] {
        didSet { renderedMetadata = Self.render(metadata) }
    }
    public var metadataProvider: Logger.MetadataProvider?

    private let label: String
    /// `metadata` already rendered (sorted `key=value` pairs), since it rarely changes.
    private var renderedMetadata: String = ""
    private let output: LogOutput

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.init(label: label, output: .standardOutput, metadataProvider: metadataProvider)
    }

    init(label: String, output: LogOutput, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.output = output
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line = Self.line(
            level: event.level, label: label, source: event.source, message: event.message.description
        ) { line in
            let provided = metadataProvider?.get() ?? [:]
            let extra = event.metadata ?? [:]
            if provided.isEmpty && extra.isEmpty {
                if !renderedMetadata.isEmpty {
                    line.append(UInt8(ascii: " "))
                    line.append(contentsOf: renderedMetadata.utf8)
                }
            } else {
                // Later sources win, as in `StreamLogHandler`.
                var merged = metadata
                for (key, value) in provided { merged[key] = value }
                for (key, value) in extra { merged[key] = value }
                Self.render(merged, into: &line)
            }
        }
        // Warnings and errors at once (a crash or an exit may follow); the rest, every
        // request's access line among them, with the lines of the next few milliseconds.
        output.write(line, timing: event.level >= .notice ? .now : .soon)
    }

    /// The one shape of a line, stamped now:
    /// `<time> <level> <label>:<metadata> [<source>] <message>` and a newline, where
    /// `appendMetadata` appends the ` key=value` pairs (none by default).
    static func line(
        level: Logger.Level, label: String, source: String, message: String,
        metadata appendMetadata: (inout [UInt8]) -> Void = { _ in }
    ) -> [UInt8] {
        var line = [UInt8]()
        line.reserveCapacity(256)
        RFC3339.write(milliseconds: Clock.milliseconds(), to: &line)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: level.rawValue.utf8)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: label.utf8)
        line.append(UInt8(ascii: ":"))
        appendMetadata(&line)
        line.append(contentsOf: " [".utf8)
        line.append(contentsOf: source.utf8)
        line.append(contentsOf: "] ".utf8)
        line.append(contentsOf: message.utf8)
        line.append(UInt8(ascii: "\n"))
        return line
    }

    static func render(_ metadata: Logger.Metadata) -> String {
        var bytes: [UInt8] = []
        render(metadata, into: &bytes)
        return String(decoding: bytes.dropFirst(), as: UTF8.self)
    }

    /// Appends ` key=value` for each entry, keys sorted, straight into the line: the
    /// request log line has five entries, and building a string for each pair and
    /// joining them was a third of the logging's cost.
    static func render(_ metadata: Logger.Metadata, into line: inout [UInt8]) {
        for key in metadata.keys.sorted() {
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: key.utf8)
            line.append(UInt8(ascii: "="))
            switch metadata[key]! {
            case .string(let text): line.append(contentsOf: text.utf8)
            case .stringConvertible(let value): line.append(contentsOf: value.description.utf8)
            case let value: line.append(contentsOf: value.description.utf8)
            }
        }
    }
}
