"""Seeds a database at the scale of issue 13 ("Data at scale"): 10,000 users, 1,000,000
todos, 100,000 sessions (some expired) and login failures (most too old to count), so
that the bench (bench/scale.py) measures requests against tables of that size.

    DATABASE_URL=postgres://... python3 bench/seed.py [--server PATH] [--manifest FILE]
    make seed DATABASE_URL=...

The database is migrated first (`todolist-server migrate`) and must hold no users. On
PostgreSQL every table is loaded with `COPY ... FROM STDIN` through one `psql`, in one
transaction; on SQLite with python's sqlite3 in one transaction. Then `VACUUM ANALYZE`
(PostgreSQL) or `ANALYZE` (SQLite), so the planner sees the sizes.

What the rows hold is what the server writes (backend/Sources/TodoApp/Storage):
- users: `username_key` is the ASCII lower-cased name; every `password_hash` is one real
  bcrypt hash (cost 10) of `PASSWORD`, computed by the server itself (`create-user` on a
  throw-away SQLite file), so any seeded user can log in.
- todos: per user, orders 1..n as the server assigns them; ids in creation order across
  users (a user's todos are spread over the table, as in a database that grew), counts
  skewed (log-normal: most users a few dozen, a few thousands), none above the
  per-user limit; `KNOWN_USERS` have fixed counts (the largest allowed list, 20 todos).
- sessions: `id_hash` is the lower-case hex SHA-256 of a cookie value of 32 random bytes in
  unpadded base64url (`SessionStore.makeToken`/`hash`), `csrf_secret` 32 characters of
  Django's alphabet, `public_id` unique in 1...2^53-1; expired ones expired up to 16 days
  ago, so the purge has work. The known users' sessions are returned (cookie values), so
  a bench can send requests as them.
- login_failures: old ones (older than the longest throttle window) for the purge, and a
  few recent ones on other subjects (never 127.0.0.1 nor a known user).
- identity sequences (PostgreSQL) are set past the copied ids; AUTOINCREMENT (SQLite)
  follows explicit ids by itself. No live events are seeded, so `live_event_counters`
  stays empty, as for users who never changed a todo.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = REPO / "backend" / ".build" / "debug" / "todolist-server"

PASSWORD = "scale-password-1"
BCRYPT_COST = 10
TODOS_PER_USER = 10_000  # the server's default per-user limit (TODOS_PER_USER, API.md "Limits")
SESSION_LIFETIME_MS = 1_209_600 * 1000  # SESSION_LIFETIME's default
# The purge deletes log-in failures older than the longer of the log-in and sign-up
# throttle windows (defaults 900 s and 3600 s): "old" ones are older than this.
OLD_FAILURE_MS = 3600 * 1000
MAX_PUBLIC_ID = 9_007_199_254_740_991
CSRF_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
DAY_MS = 86_400_000

# Users 1, 2, 3 by role: (username, todos). The rest are user00004 ... with skewed counts.
KNOWN_USERS = {
    "largest": ("scale-largest", TODOS_PER_USER),  # the largest allowed list
    "reader": ("scale-reader", 20),  # the bench's list of 20 todos
    "login": ("scale-login", 5),  # logs in during the bench
}
CLIENTS = ["Firefox on Linux", "Chrome on Windows", "Safari on macOS", "Safari on iOS", "Chrome on Android",
           "Edge on Windows", "curl", "Unknown client"]
VERBS = ["Buy", "Call", "Write", "Fix", "Read", "Plan", "Book", "Clean", "Send", "Check", "Order", "Review"]
NOUNS = ["milk", "the plumber", "quarterly report", "bike tyre", "chapter 4", "holiday", "dentist appointment",
         "kitchen", "invoice 2231", "garden hose", "birthday present", "pull request"]


def make_token() -> str:
    """A cookie value as `SessionStore.makeToken` makes it."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def hash_token(token: str) -> str:
    """`SessionStore.hash`: lower-case hex SHA-256 of the cookie value."""
    return hashlib.sha256(token.encode()).hexdigest()


# Random bytes to Django's alphabet (a modulo bias of no consequence for bench data).
CSRF_TABLE = bytes(ord(CSRF_ALPHABET[byte % len(CSRF_ALPHABET)]) for byte in range(256))


def csrf_secret() -> str:
    return os.urandom(32).translate(CSRF_TABLE).decode()


class Plan:
    """Every row to write, generated from `seed` (ids, counts, times) and the system's
    random source (cookie values, CSRF secrets)."""

    def __init__(self, users: int, todos: int, sessions: int, expired: int, failures: int, old_failures: int,
                 seed: int, now_ms: int):
        if users < len(KNOWN_USERS):
            raise SystemExit(f"--users must be at least {len(KNOWN_USERS)}")
        known = sum(count for _, count in KNOWN_USERS.values())
        if todos < known or todos - known > (users - len(KNOWN_USERS)) * (TODOS_PER_USER - 1):
            raise SystemExit(f"--todos must be from {known} to what {users} users may hold")
        if expired > sessions or old_failures > failures:
            raise SystemExit("--expired must not exceed --sessions, nor --old-failures --failures")
        self.rng = random.Random(seed)
        self.now = now_ms
        self.users = users
        self.todo_total = todos
        self.session_total = sessions
        self.expired = expired
        self.failure_total = failures
        self.old_failures = old_failures
        self.counts = self._todo_counts()
        self.known: dict[str, dict] = {}
        self.public_ids: set[int] = set()

    def username(self, user_id: int) -> str:
        for index, (name, _) in enumerate(KNOWN_USERS.values(), start=1):
            if index == user_id:
                return name
        return f"user{user_id:05d}"

    def _todo_counts(self) -> list[int]:
        """Todos per user (index 0 is user 1): fixed for the known users, log-normal for the
        rest, scaled to the total, each below the per-user limit."""
        fixed = [count for _, count in KNOWN_USERS.values()]
        rest = self.users - len(fixed)
        remaining = self.todo_total - sum(fixed)
        cap = TODOS_PER_USER - 1
        weights = [self.rng.lognormvariate(0, 1.3) for _ in range(rest)]
        total = sum(weights)
        counts = [min(cap, int(w / total * remaining)) for w in weights]
        # Rounding and the cap leave some todos over: one more each to random users with room.
        short = remaining - sum(counts)
        while short > 0:
            index = self.rng.randrange(rest)
            if counts[index] < cap:
                counts[index] += 1
                short -= 1
        return fixed + counts

    def user_rows(self, password_hash: str):
        for user_id in range(1, self.users + 1):
            name = self.username(user_id)
            created = self.now - self.rng.randrange(DAY_MS, 730 * DAY_MS)
            yield (user_id, name, name.lower(), password_hash, created)

    def todo_rows(self):
        """(id, user_id, title, completed, sort_order, created_at, updated_at), ids in the
        order the todos were created: the users' todos interleaved."""
        owners = [user_id for user_id, count in enumerate(self.counts, start=1) for _ in range(count)]
        self.rng.shuffle(owners)
        orders = [0] * (self.users + 1)
        span = 365 * DAY_MS
        total = len(owners)
        for index, user_id in enumerate(owners):
            orders[user_id] += 1
            order = orders[user_id]
            created = self.now - span + span * index // total
            title = f"{VERBS[index % len(VERBS)]} {NOUNS[(index // 7) % len(NOUNS)]} ({order})"
            completed = self.rng.random() < 0.3
            updated = created + (self.rng.randrange(0, 7 * DAY_MS) if completed else 0)
            yield (index + 1, user_id, title, completed, order, created, min(updated, self.now))

    def _public_id(self) -> int:
        while True:
            value = self.rng.randrange(1, MAX_PUBLIC_ID + 1)
            if value not in self.public_ids:
                self.public_ids.add(value)
                return value

    def _session(self, expired: bool) -> tuple:
        # Never a known user: their own session is the one the bench uses.
        user_id = self.rng.randrange(len(KNOWN_USERS) + 1, self.users + 1)
        if expired:
            # Expired from 1 minute to 16 days ago.
            last_seen = self.now - SESSION_LIFETIME_MS - self.rng.randrange(60_000, 16 * DAY_MS)
        else:
            last_seen = self.now - self.rng.randrange(0, SESSION_LIFETIME_MS - 60_000)
        created = last_seen - self.rng.randrange(0, 60 * DAY_MS)
        address = f"198.51.100.{self.rng.randrange(1, 255)}"
        return (hash_token(make_token()), user_id, csrf_secret(), created, last_seen + SESSION_LIFETIME_MS,
                self._public_id(), last_seen, self.rng.choice(CLIENTS), address)

    def session_rows(self):
        """(id_hash, user_id, csrf_secret, created_at, expires_at, public_id, last_seen_at,
        client, address). The first rows are the known users' live sessions."""
        for index, role in enumerate(KNOWN_USERS, start=1):
            token, secret = make_token(), csrf_secret()
            self.known[role] = {"id": index, "username": self.username(index), "todos": self.counts[index - 1],
                                "session": token, "csrf_secret": secret}
            yield (hash_token(token), index, secret, self.now - DAY_MS, self.now + SESSION_LIFETIME_MS,
                   self._public_id(), self.now, "Firefox on Linux", "127.0.0.1")
        others = self.session_total - len(KNOWN_USERS)
        # Expired sessions are spread over the table, as refreshes (updates) leave them.
        expired = set(self.rng.sample(range(others), min(self.expired, others)))
        for index in range(others):
            yield self._session(index in expired)

    def expired_session_rows(self):
        """`expired` more expired sessions (for another purge)."""
        for _ in range(self.expired):
            yield self._session(True)

    def _failure(self, old: bool) -> tuple:
        if old:
            failed_at = self.now - OLD_FAILURE_MS - self.rng.randrange(60_000, 7 * DAY_MS)
        else:
            failed_at = self.now - self.rng.randrange(0, 600_000)
        kind = self.rng.random()
        if kind < 0.6:
            first_other = len(KNOWN_USERS) + 1
            return ("username", self.username(self.rng.randrange(first_other, self.users + 1)).lower(), failed_at)
        if kind < 0.9:
            return ("address", f"203.0.113.{self.rng.randrange(1, 255)}", failed_at)
        return ("signup", f"192.0.2.{self.rng.randrange(1, 255)}", failed_at)

    def failure_rows(self):
        """(id, scope, subject, failed_at): old ones first (ids follow time), then recent ones
        on subjects no bench client uses."""
        for index in range(self.failure_total):
            yield (index + 1,) + self._failure(index < self.old_failures)

    def old_failure_rows(self):
        """(scope, subject, failed_at): `old_failures` more old ones (for another purge)."""
        for _ in range(self.old_failures):
            yield self._failure(True)


def server_password_hash(server: Path) -> str:
    """A bcrypt hash of PASSWORD at BCRYPT_COST, made by the server's own `create-user`."""
    folder = Path(tempfile.mkdtemp(prefix="todolist-seed-hash-"))
    try:
        database = folder / "hash.sqlite3"
        env = {**os.environ, "DATABASE_URL": f"sqlite://{database}", "BCRYPT_COST": str(BCRYPT_COST),
               "LOG_LEVEL": "warning"}
        subprocess.run([str(server), "create-user", "hash-source"], input=PASSWORD + "\n", text=True, env=env,
                       check=True, capture_output=True, cwd=folder)
        with sqlite3.connect(database) as connection:
            (value,) = connection.execute("SELECT password_hash FROM users").fetchone()
        return value
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def migrate(server: Path, url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "warning"}
    result = subprocess.run([str(server), "migrate"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"todolist-server migrate failed:\n{result.stdout}{result.stderr}")


def psql(url: str, sql: str) -> str:
    result = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"psql failed: {result.stderr}")
    return result.stdout.strip()


USERS = ("users", "id, username, username_key, password_hash, created_at")
TODOS = ("todos", "id, user_id, title, completed, sort_order, created_at, updated_at")
SESSIONS = ("sessions", "id_hash, user_id, csrf_secret, created_at, expires_at, public_id, last_seen_at, client, address")
FAILURES = ("login_failures", "id, scope, subject, failed_at")
# Added failures get their id from the database.
NEW_FAILURES = ("login_failures", "scope, subject, failed_at")

# Fails the transaction when a copied row names a user that does not exist.
ORPHAN_CHECK = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM todos LEFT JOIN users ON users.id = todos.user_id WHERE users.id IS NULL)
        OR EXISTS (SELECT 1 FROM sessions LEFT JOIN users ON users.id = sessions.user_id WHERE users.id IS NULL) THEN
        RAISE EXCEPTION 'seeded rows name a user that does not exist';
    END IF;
END
$$;
"""


def load_postgres(url: str, tables: list[tuple[tuple[str, str], object]], set_identities: bool = False) -> int:
    """(table, columns) and their rows through one psql, in one transaction; returns the
    number of rows."""
    # A superuser skips the per-row foreign key triggers (most of the load's time) and checks
    # every reference in one join per table instead, before committing.
    skip_triggers = psql(url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == "t"
    process = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = 0
    try:
        process.stdin.write("BEGIN;\n")
        if skip_triggers:
            process.stdin.write("SET LOCAL session_replication_role = replica;\n")
        for (table, columns), source in tables:
            process.stdin.write(f"COPY {table} ({columns}) FROM STDIN;\n")
            batch = []
            for row in source:
                # COPY's text format: the generated text holds no tab, newline or backslash,
                # and PostgreSQL reads True/False as booleans.
                batch.append("\t".join(map(str, row)))
                if len(batch) == 10_000:
                    process.stdin.write("\n".join(batch) + "\n")
                    rows += len(batch)
                    batch.clear()
            if batch:
                process.stdin.write("\n".join(batch) + "\n")
                rows += len(batch)
            process.stdin.write("\\.\n")
        if set_identities:
            # Identity columns hand out ids after the copied ones (`is_called`: max is taken).
            for table in ("users", "todos", "login_failures"):
                process.stdin.write(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}));\n")
        if skip_triggers:
            process.stdin.write(ORPHAN_CHECK)
        process.stdin.write("COMMIT;\n")
        process.stdin.close()
    except BrokenPipeError:
        pass
    errors = process.stderr.read()
    if process.wait() != 0:
        raise SystemExit(f"psql COPY failed: {errors}")
    return rows


def load_sqlite(path: Path, tables: list[tuple[tuple[str, str], object]]) -> int:
    """(table, columns) and their rows in one transaction; returns the number of rows.
    AUTOINCREMENT's counters follow the explicit ids by themselves."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("PRAGMA cache_size = -262144")  # 256 MiB: the indexes stay in memory while loading
        connection.execute("BEGIN IMMEDIATE")
        rows = 0
        for (table, columns), source in tables:
            marks = ", ".join("?" * len(columns.split(",")))
            rows += connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", source).rowcount
        connection.execute("COMMIT")
        return rows
    finally:
        connection.close()


def load(url: str, tables: list[tuple[tuple[str, str], object]], set_identities: bool = False) -> int:
    path = sqlite_path(url)
    if path is not None:
        return load_sqlite(path, tables)
    return load_postgres(url, tables, set_identities)


def add_purgeable(url: str, users: int, sessions: int = 30_000, failures: int = 50_000, seed_value: int = 14) -> int:
    """Adds `sessions` expired sessions and `failures` log-in failures too old to count to a
    seeded database of `users` users, so that the server's next purge has that much work
    again (bench/scale.py); returns the number of rows."""
    plan = Plan(users, sum(count for _, count in KNOWN_USERS.values()), sessions, sessions, failures, failures,
                seed_value, int(time.time() * 1000))
    return load(url, [(SESSIONS, plan.expired_session_rows()), (NEW_FAILURES, plan.old_failure_rows())])


def sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite://"):
        return Path(url[len("sqlite://"):])
    return None


def seed(url: str, server: Path, users: int = 10_000, todos: int = 1_000_000, sessions: int = 100_000,
         expired: int = 30_000, failures: int = 60_000, old_failures: int = 50_000, seed_value: int = 13,
         quiet: bool = False) -> dict:
    """Migrates and seeds the (user-less) database at `url`; returns the manifest: counts,
    timings, the shared password and the known users with their session cookies."""
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    server = Path(server).resolve()
    started = time.monotonic()
    migrate(server, url)
    path = sqlite_path(url)
    if path is not None:
        with sqlite3.connect(path) as connection:
            (existing,) = connection.execute("SELECT count(*) FROM users").fetchone()
    else:
        existing = int(psql(url, "SELECT count(*) FROM users"))
    if existing:
        raise SystemExit(f"the database already holds {existing} users: seed an empty one")
    password_hash = server_password_hash(server)
    plan = Plan(users, todos, sessions, expired, failures, old_failures, seed_value, int(time.time() * 1000))
    say(f"seeding {users} users, {todos} todos (largest list {max(plan.counts)}), {sessions} sessions "
        f"({expired} expired), {failures} log-in failures ({old_failures} old) into {url.split('@')[-1]}")
    load_started = time.monotonic()
    rows = load(url, [(USERS, plan.user_rows(password_hash)), (TODOS, plan.todo_rows()),
                      (SESSIONS, plan.session_rows()), (FAILURES, plan.failure_rows())], set_identities=True)
    load_seconds = time.monotonic() - load_started
    analyze_started = time.monotonic()
    if path is not None:
        with sqlite3.connect(path) as connection:
            connection.execute("ANALYZE")
    else:
        # VACUUM also sets the visibility map, as autovacuum would have on a database that grew.
        psql(url, "VACUUM (ANALYZE)")
    analyze_seconds = time.monotonic() - analyze_started
    total = time.monotonic() - started
    say(f"loaded {rows} rows in {load_seconds:.1f} s ({rows / load_seconds:,.0f} rows/s); "
        f"{'ANALYZE' if path else 'VACUUM (ANALYZE)'} {analyze_seconds:.1f} s; total {total:.1f} s")
    return {"database": "sqlite" if path else "postgres", "users": users, "todos": todos, "sessions": sessions,
            "expired_sessions": expired, "login_failures": failures, "old_login_failures": old_failures,
            "largest_list": max(plan.counts), "rows": rows, "load_seconds": load_seconds,
            "analyze_seconds": analyze_seconds, "rows_per_second": rows / load_seconds, "seconds": total,
            "password": PASSWORD, "known": plan.known}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="the database to seed (default: $DATABASE_URL)")
    parser.add_argument("--server", default=os.environ.get("TODOLIST_SERVER_BIN", str(DEFAULT_SERVER)),
                        help="todolist-server binary, for migrate and the password hash")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--todos", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--expired", type=int, default=30_000, help="of the sessions, how many have expired")
    parser.add_argument("--failures", type=int, default=60_000, help="log-in failure rows")
    parser.add_argument("--old-failures", type=int, default=50_000, help="of them, how many are too old to count")
    parser.add_argument("--seed", type=int, default=13, help="random seed of ids, counts and times")
    parser.add_argument("--manifest", help="write the known users, their session cookies and the timings here (JSON)")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL (postgres://... or sqlite://...) to the database to seed")
    server = Path(args.server)
    if not server.exists():
        parser.error(f"{server} is missing: build the backend first (make backend)")
    if sqlite_path(args.database_url) is None and not shutil.which("psql"):
        parser.error("psql is missing (scripts/install-deps.sh test installs PostgreSQL's client)")
    manifest = seed(args.database_url, server, args.users, args.todos, args.sessions, args.expired, args.failures,
                    args.old_failures, args.seed)
    if args.manifest:
        Path(args.manifest).write_text(json.dumps(manifest, indent=2) + "\n")
        os.chmod(args.manifest, 0o600)  # it holds session cookies
        print(f"manifest (session cookies of {', '.join(manifest['known'])}): {args.manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
