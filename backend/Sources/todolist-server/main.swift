import ArgumentParser
import Foundation
import Logging
import TodoApp

/// `todolist-server`: the todolist JSON API.
@main
struct TodolistServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "todolist-server",
        abstract: "The todolist JSON API.",
        discussion: settingsHelp,
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )

    static var settingsHelp: String {
        var lines = ["Settings are read from the environment:", ""]
        for setting in AppSettings.documentation {
            lines.append("  \(setting.name) (default: \(setting.defaultValue))")
            lines.append("      \(setting.meaning)")
        }
        return lines.joined(separator: "\n")
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP server (the default).",
        discussion: TodolistServer.settingsHelp
    )

    @Option(help: "Address to listen on (overrides HOST).")
    var host: String?

    @Option(help: "Port to listen on (overrides PORT).")
    var port: Int?

    func run() async throws {
        var settings = try loadSettings()
        if let host { settings.host = host }
        if let port { settings.port = port }
        let logger = makeLogger(level: settings.logLevel)
        let app = try await TodoApplication.build(settings: settings, logger: logger)
        try await app.runService()
    }
}

/// Settings or exit 2 with one line naming the bad setting.
func loadSettings() throws -> AppSettings {
    do {
        return try AppSettings.fromEnvironment()
    } catch {
        FileHandle.standardError.write(Data("todolist-server: \(error.description)\n".utf8))
        throw ExitCode(2)
    }
}

func makeLogger(level: Logger.Level) -> Logger {
    var logger = Logger(label: "todolist")
    logger.logLevel = level
    return logger
}
