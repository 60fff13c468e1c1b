import NIOCore
import PostgresNIO
import Testing
@testable import TodoApp

/// `GET /api/todos/` reads the session (or the token) and the todos in one statement, shaped
/// per engine (`ColumnReader.nestsRows`): whatever the shape, the todos are exactly those
/// `TodoStore.list` reads, in its order, titles intact.
@Suite struct ListWithParentTests {
    static let titles = [
        "first", "שלום 👋🏽", #"quotes "x", a \ backslash, {braces}, (parens), NULL"#,
        String(repeating: "é", count: 500), " padded ", "last",
    ]

    /// The owner's todos (orders out of creation order, one order shared, so ties go by id)
    /// and a stranger's todo, which no read of the owner's may show.
    static func fill(_ database: Database) async throws -> (owner: UserRecord, empty: UserRecord) {
        let users = UserStore(database: database)
        let owner = try await users.create(username: "nested", passwordHash: "hash")
        let empty = try await users.create(username: "empty", passwordHash: "hash")
        let stranger = try await users.create(username: "stranger", passwordHash: "hash")
        let todos = TodoStore(database: database)
        for (index, title) in titles.enumerated() {
            let order: Int64 = index == 3 ? 8 : Int64(10 - index)
            _ = try await todos.create(userID: owner.id, title: title, completed: index % 2 == 1, order: order)
        }
        _ = try await todos.create(userID: stranger.id, title: "theirs", completed: false, order: nil)
        return (owner, empty)
    }

    @Test(arguments: TestDatabases.kinds)
    func theSessionsTodosAreTheListItself(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let (owner, empty) = try await Self.fill(database)
            let todos = TodoStore(database: database)
            let sessions = SessionStore(database: database, lifetime: 3600)
            let issued = try await StoreTests.issueSession(in: database, for: owner, secretLetter: "n", lifetime: 3600)
            #expect(try await todos.list(userID: owner.id).count == Self.titles.count)
            for completed in [nil, true, false] as [Bool?] {
                let read = try await sessions.loadWithTodos(token: issued.token, completed: completed)
                #expect(read?.0.session == issued.session)
                #expect(read?.1 == (try await todos.list(userID: owner.id, completed: completed)))
            }

            let emptySession = try await StoreTests.issueSession(in: database, for: empty, secretLetter: "e", lifetime: 3600)
            let none = try await sessions.loadWithTodos(token: emptySession.token, completed: nil)
            #expect(none?.0.session == emptySession.session)
            #expect(none?.1 == [])
            #expect(try await sessions.loadWithTodos(token: SessionStore.makeToken(), completed: nil) == nil)
        }
    }

    @Test(arguments: TestDatabases.kinds)
    func theTokensTodosAreTheListItselfWhenItMayReadThem(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { database in
            let (owner, _) = try await Self.fill(database)
            let todos = TodoStore(database: database)
            let tokens = TokenStore(database: database)
            let reader = try await tokens.create(userID: owner.id, name: "reader", abilities: [.todosRead], expiresIn: nil)
            let writer = try await tokens.create(userID: owner.id, name: "writer", abilities: [.todosWrite], expiresIn: nil)
            for completed in [nil, true, false] as [Bool?] {
                let read = try await tokens.authenticateWithTodos(reader.token, completed: completed)
                #expect(read?.1 == (try await todos.list(userID: owner.id, completed: completed)))
                let refused = try await tokens.authenticateWithTodos(writer.token, completed: completed)
                #expect(refused?.0.userID == owner.id)
                #expect(refused?.1 == [])
            }
        }
    }

    /// A record of a nested list is read field by field, each field's type checked.
    @Test func aRecordsFieldsAreReadByType() throws {
        var record = ByteBuffer()
        record.writeInteger(Int32(3))
        record.writeInteger(UInt32(PostgresDataType.int8.rawValue))
        record.writeInteger(Int32(8))
        record.writeInteger(Int64(-42))
        record.writeInteger(UInt32(PostgresDataType.text.rawValue))
        record.writeInteger(Int32(-1))
        record.writeInteger(UInt32(PostgresDataType.bool.rawValue))
        record.writeInteger(Int32(1))
        record.writeInteger(UInt8(1))

        var fields = try PostgresRecordColumns(record: record, query: "q", row: 0)
        #expect(try fields.integer() == -42)
        let isNull = fields.nextIsNull()
        #expect(isNull)
        #expect(throws: UnexpectedColumn.self) {
            var null = fields
            return try null.text()
        }
        #expect(try fields.optionalText() == nil)
        #expect(try fields.bool() == true)
        #expect(throws: UnexpectedColumn.self) {
            var past = fields
            return try past.integer()
        }
        #expect(throws: UnexpectedColumn.self) {
            var mistyped = try PostgresRecordColumns(record: record, query: "q", row: 0)
            return try mistyped.text()
        }
        #expect(throws: UnexpectedColumn.self) {
            var truncated = try PostgresRecordColumns(record: record.getSlice(at: 0, length: 16)!, query: "q", row: 0)
            return try truncated.integer()
        }
    }
}
