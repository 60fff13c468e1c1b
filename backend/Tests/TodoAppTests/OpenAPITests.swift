import Foundation
import Testing
@testable import TodoApp

/// `docs/openapi.yaml` must list exactly the paths and methods the router serves.
@Suite struct OpenAPITests {
    static let documentURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // TodoAppTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // backend
        .deletingLastPathComponent()  // repository
        .appendingPathComponent("docs/openapi.yaml")

    static let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// The `paths:` section read line by line: a path is a two-space-indented key
    /// starting with `/`, its operations four-space-indented method keys.
    static func documentedOperations(_ text: String) -> Set<String> {
        var operations: Set<String> = []
        var inPaths = false
        var currentPath: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" "), !line.isEmpty, !line.hasPrefix("#") {
                inPaths = line.hasPrefix("paths:")
                currentPath = nil
                continue
            }
            guard inPaths, line.hasSuffix(":") else { continue }
            if line.hasPrefix("  /") {
                currentPath = String(line.dropFirst(2).dropLast()).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let path = currentPath {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if methods.contains(String(key)) { operations.insert("\(key.uppercased()) \(path)") }
            }
        }
        return operations
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        let text = try String(contentsOf: Self.documentURL, encoding: .utf8)
        #expect(text.hasPrefix("openapi: 3.1"))
        let documented = Self.documentedOperations(text)

        let served = try await TestDatabases.with(.sqlite) { database in
            let (_, routes) = try TodoApplication.assemble(settings: try AppSettings.fromEnvironment([:]), database: database)
            var served: Set<String> = []
            for (path, methods) in routes.routes {
                // Hummingbird's `:name` parameters are OpenAPI's `{name}`.
                let openAPIPath = path.split(separator: "/", omittingEmptySubsequences: false)
                    .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                    .joined(separator: "/")
                for method in methods { served.insert("\(method.rawValue) \(openAPIPath)") }
            }
            return served
        }
        #expect(!served.isEmpty)
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
    }
}
