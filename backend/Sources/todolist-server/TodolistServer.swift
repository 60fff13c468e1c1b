import ArgumentParser
import Foundation
import Logging
import TodoApp

/// `todolist-server`: the todolist JSON API (started from `main.swift`).
struct TodolistServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "todolist-server",
        abstract: "The todolist JSON API.",
        discussion: settingsHelp,
        subcommands: [Serve.self, Migrate.self, CreateUser.self, Check.self],
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
        var settings = loadSettings()
        if let host { settings.host = host }
        if let port { settings.port = port }
        let logger = makeLogger(level: settings.logLevel)
        let app = try await failingClearly("cannot start") {
            try await TodoApplication.build(settings: settings, logger: logger)
        }
        try await app.runService()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the database schema up to date (the server also does this at start-up).",
        discussion: "Uses DATABASE_URL. Running it again when the schema is current changes nothing."
    )

    func run() async throws {
        let settings = loadSettings()
        let logger = makeLogger(level: settings.logLevel)
        let applied = try await failingClearly("migration failed") {
            try await Administration.migrate(settings: settings, logger: logger)
        }
        print(applied.isEmpty ? "schema is up to date" : applied.joined(separator: "\n"))
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Review the settings for a production deployment (like Django's check --deploy).",
        discussion: """
            Prints one line per finding, `<level> <id>: <message>` (errors first), then a summary. \
            Exit status: 0 with no findings or warnings only, 1 when there is an error (a layout \
            that cannot work or that trusts other sites), 2 when a setting is invalid. The server \
            logs the same findings when it starts with ALLOWED_HOSTS set or COOKIE_SECURE=true. \
            Reads the environment like `serve`; touches no database.
            """
    )

    func run() throws {
        let settings = loadSettings()
        let findings = DeployCheck(settings: settings).findings()
        for finding in findings {
            print(finding.description)
        }
        let errors = findings.filter { $0.level == .error }.count
        let warnings = findings.count - errors
        print(findings.isEmpty
            ? "System check identified no issues."
            : "System check identified \(errors) error\(errors == 1 ? "" : "s") and \(warnings) warning\(warnings == 1 ? "" : "s").")
        if errors > 0 { throw ExitCode(1) }
    }
}

struct CreateUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-user",
        abstract: "Create a user account.",
        discussion: """
            The password is asked twice without echo on a terminal; otherwise it is the \
            first line of standard input (for scripts: `echo \"$PASSWORD\" | todolist-server create-user NAME`).
            """
    )

    @Argument(help: "The username: 1-150 ASCII letters, digits and @.+-_")
    var username: String

    func run() async throws {
        let settings = loadSettings()
        let logger = makeLogger(level: settings.logLevel)
        let password = try readPassword()
        let id = try await failingClearly("cannot create the user") {
            try await Administration.createUser(settings: settings, username: username, password: password, logger: logger)
        }
        print("created user \(username) with id \(id)")
    }

    func readPassword() throws -> String {
        guard isatty(STDIN_FILENO) == 1 else {
            guard let line = readLine(strippingNewline: true) else {
                fail("no password on standard input")
            }
            return line.hasSuffix("\r") ? String(line.dropLast()) : line
        }
        let first = try promptWithoutEcho("Password: ")
        let second = try promptWithoutEcho("Password (again): ")
        guard first == second else { fail("the passwords differ") }
        return first
    }

    /// Reads a line from the terminal with echo off, restoring the terminal even on failure.
    func promptWithoutEcho(_ prompt: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var original = termios()
        guard tcgetattr(STDIN_FILENO, &original) == 0 else { fail("cannot read the terminal's settings") }
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else { fail("no password entered") }
        return line
    }
}

/// Runs `operation`; a failure prints one line naming what failed and exits 1, or exits 2
/// as `loadSettings` does when it is a setting found invalid only where it is used (a
/// `FRONTEND_ORIGINS` wildcard over a public suffix).
func failingClearly<Result>(_ what: String, _ operation: () async throws -> Result) async throws -> Result {
    do {
        return try await operation()
    } catch let error as AppSettings.InvalidSetting {
        exitForInvalidSetting(error)
    } catch {
        fail("\(what): \(LoggedError.describe(error))")
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("todolist-server: \(message)\n".utf8))
    Foundation.exit(1)
}

/// Settings or exit 2 with one line naming the bad setting.
func loadSettings() -> AppSettings {
    do {
        return try AppSettings.fromEnvironment()
    } catch {
        exitForInvalidSetting(error)
    }
}

/// One line naming the bad setting, then exit 2 (README: "Settings").
func exitForInvalidSetting(_ error: AppSettings.InvalidSetting) -> Never {
    FileHandle.standardError.write(Data("todolist-server: \(error.description)\n".utf8))
    Foundation.exit(2)
}

/// Called once per process, by whichever command runs.
func makeLogger(level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in LogLineHandler(label: label) }
    var logger = Logger(label: "todolist")
    logger.logLevel = level
    return logger
}
