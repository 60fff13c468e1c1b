import Foundation
import Logging

/// One schema change, applied once and recorded in `schema_migrations`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    /// Statements in order, for the engine at hand.
    let statements: @Sendable (Database.Kind) -> [String]
}

/// Applies the migrations a database lacks, in order, all in one transaction, so a
/// failure leaves the schema as it was and running twice changes nothing.
struct Migrator {
    let logger: Logger

    static let all: [Migration] = [
        Migration(version: 1, name: "users, sessions, todos, login failures") { kind in
            let id = idColumn(kind)
            return [
                """
                CREATE TABLE users (
                    id \(id),
                    username TEXT NOT NULL,
                    username_key TEXT NOT NULL UNIQUE,
                    password_hash TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE sessions (
                    id_hash TEXT PRIMARY KEY,
                    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    csrf_secret TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX sessions_expires_at ON sessions (expires_at)",
                "CREATE INDEX sessions_user_id ON sessions (user_id)",
                """
                CREATE TABLE todos (
                    id \(id),
                    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    title TEXT NOT NULL,
                    completed BOOLEAN NOT NULL,
                    sort_order BIGINT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX todos_user_order ON todos (user_id, sort_order, id)",
                """
                CREATE TABLE login_failures (
                    id \(id),
                    scope TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    failed_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX login_failures_subject ON login_failures (scope, subject, failed_at)",
                "CREATE INDEX login_failures_failed_at ON login_failures (failed_at)",
            ]
        },
        Migration(version: 2, name: "todolist_append_todo on PostgreSQL") { kind in
            // Locking the user's row and reading the largest order must be two statements
            // (a statement's snapshot predates the lock it waits for); in a function they
            // are one round trip, so the lock is held for microseconds, not for the
            // client's round trips (see `TodoStore.create`). SQLite needs none: one
            // INSERT ... SELECT holds its write lock throughout.
            guard kind == .postgres else { return [] }
            return [
                """
                CREATE FUNCTION todolist_append_todo(owner BIGINT, new_title TEXT, new_completed BOOLEAN, stamp BIGINT)
                RETURNS SETOF todos LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM 1 FROM users WHERE users.id = owner FOR NO KEY UPDATE;
                    RETURN QUERY
                    WITH inserted AS (
                        INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at)
                        SELECT owner, new_title, new_completed, COALESCE(MAX(todos.sort_order), 0) + 1, stamp, stamp
                        FROM todos WHERE todos.user_id = owner
                        RETURNING *
                    )
                    SELECT * FROM inserted;
                END
                $$
                """
            ]
        },
        Migration(version: 3, name: "per-user todo cap and order bound; ids within 2^53-1 on PostgreSQL") { kind in
            // `todolist_add_todo` is `todolist_append_todo` plus the cap and the bound, for
            // both an explicit and a default order (`wanted_order` NULL), counted under the
            // same lock; a refusal returns no row (see `TodoStore.create`). The old function
            // stays for servers of the previous version sharing the database during a deploy.
            // SQLite needs no function; its ids come from AUTOINCREMENT, one by one from 1,
            // and would need 2^53 inserts to leave JavaScript's range.
            guard kind == .postgres else { return [] }
            return [
                """
                CREATE FUNCTION todolist_add_todo(
                    owner BIGINT, new_title TEXT, new_completed BOOLEAN, wanted_order BIGINT, stamp BIGINT, cap BIGINT)
                RETURNS SETOF todos LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM 1 FROM users WHERE users.id = owner FOR NO KEY UPDATE;
                    RETURN QUERY
                    WITH inserted AS (
                        INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at)
                        SELECT owner, new_title, new_completed, COALESCE(wanted_order, mine.top + 1), stamp, stamp
                        FROM (
                            SELECT COALESCE((SELECT MAX(todos.sort_order) FROM todos WHERE todos.user_id = owner), 0) AS top,
                                (SELECT COUNT(*) FROM todos WHERE todos.user_id = owner) AS held
                        ) AS mine
                        WHERE mine.held < cap AND (wanted_order IS NOT NULL OR mine.top < \(TodoStore.maxOrder))
                        RETURNING *
                    )
                    SELECT * FROM inserted;
                END
                $$
                """,
                // Identity values past 2^53-1 fail instead of reaching clients as numbers they round.
                "ALTER TABLE todos ALTER COLUMN id SET MAXVALUE \(TodoStore.maxOrder)",
                "ALTER TABLE users ALTER COLUMN id SET MAXVALUE \(TodoStore.maxOrder)",
            ]
        },
        Migration(version: 4, name: "todolist_reserve_attempts on PostgreSQL") { kind in
            // A throttled attempt is reserved under one advisory lock per subject, taken,
            // counted and written in one round trip: the locks are held for microseconds,
            // and a flood of reservations never holds pool connections while waiting on
            // the client's round trips (see `LoginThrottleStore.reserve`). Each statement of
            // a (volatile) function takes a fresh snapshot, so the count sees every row
            // committed before the lock was granted. SQLite needs none: `BEGIN IMMEDIATE`
            // serialises the same steps.
            guard kind == .postgres else { return [] }
            return [
                """
                CREATE FUNCTION todolist_reserve_attempts(
                    scopes TEXT[], subjects TEXT[], limits INT[], lock_classes INT[], window_ms BIGINT, stamp BIGINT)
                RETURNS TABLE (reserved_scope TEXT, reserved_id BIGINT, wait_ms BIGINT) LANGUAGE plpgsql AS $$
                DECLARE
                    i INT;
                    kept BIGINT;
                    longest BIGINT := 0;
                BEGIN
                    FOR i IN 1 .. cardinality(scopes) LOOP
                        PERFORM pg_advisory_xact_lock(lock_classes[i], hashtext(subjects[i]));
                    END LOOP;
                    FOR i IN 1 .. cardinality(scopes) LOOP
                        SELECT f.failed_at INTO kept FROM login_failures AS f
                        WHERE f.scope = scopes[i] AND f.subject = subjects[i] AND f.failed_at > stamp - window_ms
                        ORDER BY f.failed_at DESC LIMIT 1 OFFSET limits[i] - 1;
                        IF FOUND THEN
                            longest := GREATEST(longest, kept + window_ms - stamp);
                        END IF;
                    END LOOP;
                    IF longest > 0 THEN
                        RETURN QUERY SELECT NULL::TEXT, NULL::BIGINT, longest;
                        RETURN;
                    END IF;
                    RETURN QUERY
                    INSERT INTO login_failures AS f (scope, subject, failed_at)
                    SELECT u.s, u.k, stamp FROM unnest(scopes, subjects) AS u(s, k)
                    RETURNING f.scope, f.id, 0::BIGINT;
                END
                $$
                """
            ]
        },
        Migration(version: 5, name: "session public ids, last seen, client and address; personal access tokens") { kind in
            // Sessions get what their owner is shown: a public id (random, not the cookie or
            // its hash, see `SessionStore.makePublicID`), when the session was last seen, a
            // description of its client and the address it came from. Existing sessions keep
            // working: each gets a random public id, last seen at its creation.
            // The new columns' defaults are expressions evaluated per row, so a row written
            // without them (by a server of the previous version sharing the database during
            // a deploy, or by any other writer) still gets a distinct public id. PostgreSQL
            // adds such columns in place; SQLite cannot add a column with a non-constant
            // default, so it rebuilds the table (its documented way to change a table).
            let randomPublicID: String
            var statements: [String]
            switch kind {
            case .postgres:
                randomPublicID = "(floor(random() * \(SessionStore.maxPublicID - 1))::BIGINT + 1)"
                statements = [
                    "ALTER TABLE sessions ADD COLUMN public_id BIGINT NOT NULL DEFAULT \(randomPublicID)",
                    """
                    ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL \
                    DEFAULT (floor(extract(epoch FROM clock_timestamp()) * 1000))::BIGINT
                    """,
                    "UPDATE sessions SET last_seen_at = created_at",
                    "ALTER TABLE sessions ADD COLUMN client TEXT NOT NULL DEFAULT '\(ClientDescription.unknown)'",
                    "ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT ''",
                ]
            case .sqlite:
                randomPublicID = "(abs(random()) % \(SessionStore.maxPublicID - 1) + 1)"
                statements = [
                    """
                    CREATE TABLE sessions_v5 (
                        id_hash TEXT PRIMARY KEY,
                        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                        csrf_secret TEXT NOT NULL,
                        created_at BIGINT NOT NULL,
                        expires_at BIGINT NOT NULL,
                        public_id BIGINT NOT NULL DEFAULT \(randomPublicID),
                        last_seen_at BIGINT NOT NULL \
                            DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
                        client TEXT NOT NULL DEFAULT '\(ClientDescription.unknown)',
                        address TEXT NOT NULL DEFAULT ''
                    )
                    """,
                    """
                    INSERT INTO sessions_v5 (id_hash, user_id, csrf_secret, created_at, expires_at, last_seen_at) \
                    SELECT id_hash, user_id, csrf_secret, created_at, expires_at, created_at FROM sessions
                    """,
                    "DROP TABLE sessions",
                    "ALTER TABLE sessions_v5 RENAME TO sessions",
                    "CREATE INDEX sessions_expires_at ON sessions (expires_at)",
                    "CREATE INDEX sessions_user_id ON sessions (user_id)",
                ]
            }
            statements += [
                "CREATE UNIQUE INDEX sessions_public_id ON sessions (public_id)",
                // Personal access tokens: only the SHA-256 of the secret is kept (see
                // `AccessToken`); `abilities` is a space-separated list.
                """
                CREATE TABLE api_tokens (
                    id \(idColumn(kind)),
                    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    token_hash TEXT NOT NULL UNIQUE,
                    abilities TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT,
                    last_used_at BIGINT
                )
                """,
                "CREATE INDEX api_tokens_user_id ON api_tokens (user_id, id)",
            ]
            if kind == .postgres {
                statements.append("ALTER TABLE api_tokens ALTER COLUMN id SET MAXVALUE \(TodoStore.maxOrder)")
            }
            return statements
        },
        Migration(version: 6, name: "live update events: per-user event counters and the recent events") { _ in
            // Each user's events are numbered by their counter row (see `LiveEventLog`); the
            // recent ones are kept for replay to a reconnecting stream.
            [
                """
                CREATE TABLE live_event_counters (
                    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
                    last_id BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE live_events (
                    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    id BIGINT NOT NULL,
                    kind TEXT NOT NULL,
                    data TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (user_id, id)
                )
                """,
            ]
        },
        Migration(version: 7, name: "api_tokens by expiry, for the purge") { _ in
            // The purge reads expired tokens in expiry order (see `PurgeBatch`), as it
            // reads sessions and log-in failures by their own time columns' indexes.
            ["CREATE INDEX api_tokens_expires_at ON api_tokens (expires_at)"]
        },
        Migration(version: 8, name: "list cache notifications on PostgreSQL") { kind in
            // Every change to what `ListCache` keeps (a session, a token, a todo, a user) announces
            // the user's id on `todolist_cache` from its own transaction, whoever makes it:
            // this server, another instance, a command, plain SQL. PostgreSQL delivers a
            // transaction's notifications when it commits, once per distinct payload, and
            // a TRUNCATE drops everything ("*").
            guard kind == .postgres else { return [] }
            let channel = ListCache.channel
            return [
                """
                CREATE FUNCTION todolist_cache_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('\(channel)', OLD.user_id::text); END IF;
                    IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('\(channel)', NEW.user_id::text); END IF;
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE FUNCTION todolist_cache_user_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_notify('\(channel)', OLD.id::text);
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE FUNCTION todolist_cache_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_notify('\(channel)', '\(ListCache.everyone)');
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE TRIGGER todolist_cache_sessions AFTER UPDATE OR DELETE ON sessions
                FOR EACH ROW EXECUTE FUNCTION todolist_cache_user_changed()
                """,
                """
                CREATE TRIGGER todolist_cache_todos AFTER INSERT OR UPDATE OR DELETE ON todos
                FOR EACH ROW EXECUTE FUNCTION todolist_cache_user_changed()
                """,
                """
                CREATE TRIGGER todolist_cache_api_tokens AFTER UPDATE OR DELETE ON api_tokens
                FOR EACH ROW EXECUTE FUNCTION todolist_cache_user_changed()
                """,
                """
                CREATE TRIGGER todolist_cache_users AFTER UPDATE OR DELETE ON users
                FOR EACH ROW EXECUTE FUNCTION todolist_cache_user_row_changed()
                """,
                """
                CREATE TRIGGER todolist_cache_truncate AFTER TRUNCATE ON sessions
                FOR EACH STATEMENT EXECUTE FUNCTION todolist_cache_truncated()
                """,
                """
                CREATE TRIGGER todolist_cache_truncate AFTER TRUNCATE ON todos
                FOR EACH STATEMENT EXECUTE FUNCTION todolist_cache_truncated()
                """,
                """
                CREATE TRIGGER todolist_cache_truncate AFTER TRUNCATE ON api_tokens
                FOR EACH STATEMENT EXECUTE FUNCTION todolist_cache_truncated()
                """,
                """
                CREATE TRIGGER todolist_cache_truncate AFTER TRUNCATE ON users
                FOR EACH STATEMENT EXECUTE FUNCTION todolist_cache_truncated()
                """,
            ]
        },
    ]

    /// An integer key the database assigns: AUTOINCREMENT keeps SQLite from reusing the
    /// id of a deleted last row, as PostgreSQL's identity never does.
    static func idColumn(_ kind: Database.Kind) -> String {
        switch kind {
        case .sqlite: "INTEGER PRIMARY KEY AUTOINCREMENT"
        case .postgres: "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        }
    }

    /// Runs in the caller's transaction (`Database.migrate`).
    func run(in tx: any StoreConnection) async throws -> [Migration] {
        if tx.kind == .postgres {
            // Server processes starting together against one database take turns.
            _ = try await tx.fetch(MigrationLock())
        }
        _ = try await tx.fetch(
            SchemaStatement(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at BIGINT NOT NULL
                )
                """))
        let applied = Set(try await tx.fetch(AppliedMigrations()))
        var newlyApplied: [Migration] = []
        for migration in Self.all where !applied.contains(Int64(migration.version)) {
            for statement in migration.statements(tx.kind) {
                _ = try await tx.fetch(SchemaStatement(statement))
            }
            _ = try await tx.fetch(
                RecordMigration(version: Int64(migration.version), name: migration.name, now: Clock.milliseconds()))
            logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            newlyApplied.append(migration)
        }
        return newlyApplied
    }

    /// Any constant shared by every process of this application.
    static let advisoryLockKey: Int64 = 0x746F_646F_6C69
}

// MARK: Queries (the bookkeeping; the schema changes themselves are `SchemaStatement`s)

struct MigrationLock: StoreCommand {
    static let name = "todolist_migration_lock"
    static let text = QueryText(postgresOnly: "SELECT pg_advisory_xact_lock(\(Migrator.advisoryLockKey))")
    static let isReadOnly = false
    var binds: [QueryValue] { [] }
}

struct AppliedMigrations: IntegerRowsQuery {
    static let name = "todolist_applied_migrations"
    static let text = QueryText("SELECT CAST(version AS BIGINT) FROM schema_migrations ORDER BY version")
    static let isReadOnly = true
    var binds: [QueryValue] { [] }
}

/// `version` is an `integer` column, hence the cast of the `bigint` sent.
struct RecordMigration: StoreCommand {
    static let name = "todolist_record_migration"
    static let text = QueryText(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (CAST($1 AS BIGINT), $2, $3)")
    static let isReadOnly = false
    let version: Int64
    let name: String
    let now: Int64
    var binds: [QueryValue] { [.integer(version), .text(name), .integer(now)] }
}

/// Times are stored as integer milliseconds since 1970 (UTC) on both engines, which
/// compare and index them the same way.
enum Clock {
    static func milliseconds(_ date: Date = Date()) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }
}
