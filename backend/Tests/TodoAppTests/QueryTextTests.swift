import Testing

@testable import TodoApp

struct QueryTextTests {
    @Test func sqliteNumbersPlaceholdersByTheirDigitsNotByFirstAppearance() {
        let text = QueryText("SELECT id FROM todos WHERE id = $2 AND user_id = $1")
        #expect(text.postgres == "SELECT id FROM todos WHERE id = $2 AND user_id = $1")
        #expect(text.sqlite == "SELECT id FROM todos WHERE id = ?2 AND user_id = ?1")
    }

    @Test func postgresMayHaveItsOwnText() {
        let text = QueryText("INSERT INTO t (a) VALUES ($1)", postgres: "SELECT * FROM f($1)")
        #expect(text.postgres == "SELECT * FROM f($1)")
        #expect(text.sqlite == "INSERT INTO t (a) VALUES (?1)")
    }
}
