import Testing
@testable import TodoApp
@Test func settingsDefaults() throws { let s = try AppSettings.fromEnvironment([:]); #expect(s.port == 8000) }
