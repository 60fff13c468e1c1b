"""Storage under faults: another process holding SQLite's write lock, database errors
and what reaches the log."""
from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
import time

import pytest
import requests

from accounts import signed_up
from api import FRONTEND_ORIGIN, ApiClient

HOLD_SECONDS = 2.0
FAST = 0.5


def sqlite_path(server) -> str:
    return server.database_url[len("sqlite://"):]


def test_a_write_waiting_for_another_process_leaves_the_event_loops_free(servers):
    """While another process holds the write lock, writes wait for it off the event
    loops: pings and reads on fresh connections (spread over every loop) stay fast, and
    the waiting writes then succeed."""
    server = servers.start("sqlite")
    writers = [signed_up(server.url) for _ in range(4)]
    reader = signed_up(server.url)
    assert reader.post("/api/todos/", json={"title": "before"}).status_code == 201
    for writer in writers:
        writer.fetch_token()

    holder = sqlite3.connect(sqlite_path(server), isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")
    held_at = time.monotonic()
    results: dict[int, tuple[int, float]] = {}

    def write(index: int) -> None:
        started = time.monotonic()
        response = writers[index].post("/api/todos/", json={"title": f"waited {index}"})
        results[index] = (response.status_code, time.monotonic() - started)

    signup_result: list[int] = []
    newcomer = ApiClient(server.url)
    newcomer.fetch_token()

    def sign_up() -> None:
        # A transaction (`BEGIN IMMEDIATE`) rather than a single statement.
        signup_result.append(newcomer.signup("newcomer_during_lock", "correct horse battery").status_code)

    threads = [threading.Thread(target=write, args=(index,)) for index in range(len(writers))]
    threads.append(threading.Thread(target=sign_up))
    for thread in threads:
        thread.start()
    time.sleep(0.2)

    slowest = {"ping": 0.0, "todos": 0.0}
    try:
        while time.monotonic() - held_at < HOLD_SECONDS - 0.2:
            # A new connection each time: the server hands connections to its loops in turn.
            started = time.monotonic()
            ping = requests.get(server.url + "/api/ping/", timeout=10)
            slowest["ping"] = max(slowest["ping"], time.monotonic() - started)
            assert ping.status_code == 200
            started = time.monotonic()
            todos = requests.get(server.url + "/api/todos/", timeout=10, cookies=reader.http.cookies.get_dict(),
                                 headers={"Origin": FRONTEND_ORIGIN})
            slowest["todos"] = max(slowest["todos"], time.monotonic() - started)
            assert todos.status_code == 200, todos.text
            assert [todo["title"] for todo in todos.json()["todos"]] == ["before"]
            assert not results and not signup_result, f"a write finished while the lock was held: {results}"
    finally:
        holder.execute("COMMIT")
        holder.close()
    for thread in threads:
        thread.join(timeout=10)

    print(f"slowest while the lock was held: {slowest}; writes (status, seconds): {results}")
    assert slowest["ping"] < FAST and slowest["todos"] < FAST, slowest
    assert len(results) == len(writers)
    for index, (status, elapsed) in results.items():
        assert status == 201, results
        assert elapsed >= HOLD_SECONDS - 0.4, results
    assert signup_result == [201]
    for index, writer in enumerate(writers):
        assert [todo["title"] for todo in writer.get("/api/todos/").json()["todos"]] == [f"waited {index}"]


def test_a_write_waits_at_most_the_busy_timeout_then_answers_503(servers):
    """A lock held longer than the busy timeout (5 s) makes the write fail as
    unavailable, not hang; nothing is written."""
    server = servers.start("sqlite")
    writer = signed_up(server.url)
    writer.fetch_token()
    holder = sqlite3.connect(sqlite_path(server), isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        response = writer.post("/api/todos/", json={"title": "never"})
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "database_unavailable"
    assert 4.0 <= elapsed < 8.0, elapsed
    assert writer.get("/api/todos/").json()["todos"] == []


# Every insert into `sessions` or `users` fails. On PostgreSQL a CHECK constraint, whose
# error's `detail` is "Failing row contains (...)": the whole row, session hash, CSRF
# secret or password hash included.
BREAK_INSERTS = {
    "sqlite": [
        f"CREATE TRIGGER forced_failure_{table} BEFORE INSERT ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'forced_failure'); END"
        for table in ("sessions", "users")
    ],
    "postgres": [
        f"ALTER TABLE {table} ADD CONSTRAINT forced_failure CHECK (created_at < 0) NOT VALID"
        for table in ("sessions", "users")
    ],
}


def break_inserts(kind: str, server, servers) -> None:
    if kind == "sqlite":
        connection = sqlite3.connect(sqlite_path(server), isolation_level=None, timeout=5)
        for statement in BREAK_INSERTS["sqlite"]:
            connection.execute(statement)
        connection.close()
    else:
        cluster = servers.request.getfixturevalue("postgres_cluster")
        name = server.database_url.rsplit("/", 1)[1]
        for statement in BREAK_INSERTS["postgres"]:
            cluster.psql(statement, database=name)


def test_database_errors_are_logged_without_the_values_of_their_rows(servers, db):
    """A failing statement is a logged 500, and the log line names the failure but
    carries none of the statement's values: no session hash, no CSRF secret, no
    password hash."""
    server = servers.start(db)
    client = signed_up(server.url, name="logvictim")
    token = client.cookie("sessionid")
    assert token
    break_inserts(db, server, servers)
    server.new_log_lines()

    login = client.login("logvictim", "correct horse battery")
    assert login.status_code == 500, login.text
    assert login.json()["error"] == "internal_error"
    signup = ApiClient(server.url).signup("another_victim", "correct horse battery")
    assert signup.status_code == 500, signup.text

    log = server.new_log_lines()
    failures = [line for line in log.splitlines() if "unexpected failure" in line]
    assert len(failures) == 2, log
    assert all("forced_failure" in line for line in failures), failures
    assert token not in log and hashlib.sha256(token.encode()).hexdigest() not in log, log
    # No session hash (64 hex digits), CSRF secret (32 letters and digits) or bcrypt hash
    # of the rows the statements were writing.
    values = re.sub(r"hb\.request\.id=\S+", "", log)
    assert not re.search(r"\b[0-9a-f]{64}\b", values), log
    assert not re.search(r"\b[A-Za-z0-9]{32}\b", values), log
    assert "$2b$" not in log and "$2a$" not in log and "$2y$" not in log, log


def test_a_large_purge_leaves_the_server_answering(servers):
    """Tens of thousands of expired sessions and old log-in failures, purged at start-up
    in batches: pings, reads and writes keep answering while the purge runs."""
    server = servers.start("sqlite")
    user = signed_up(server.url)
    assert user.post("/api/todos/", json={"title": "kept"}).status_code == 201
    user.fetch_token()
    server.stop()
    add_expired_rows(server, 40_000)

    server.start()  # the purge runs a second after start-up
    slowest = {"ping": 0.0, "todos": 0.0, "create": 0.0}
    deadline = time.monotonic() + 30
    while "purged expired rows" not in server.logs() and time.monotonic() < deadline:
        for name, send in [
            ("ping", lambda: requests.get(server.url + "/api/ping/", timeout=30)),
            ("todos", lambda: user.get("/api/todos/")),
            ("create", lambda: user.post("/api/todos/", json={"title": "during the purge"})),
        ]:
            started = time.monotonic()
            assert send().status_code in (200, 201)
            slowest[name] = max(slowest[name], time.monotonic() - started)
    assert "purged expired rows" in server.logs(), server.logs()
    assert re.search(r"sessions=40000\b", server.logs()) and re.search(r"login_failures=40000\b", server.logs())
    print(f"slowest while the purge ran: {slowest}")
    assert max(slowest.values()) < FAST, slowest
    remaining = sqlite3.connect(sqlite_path(server), timeout=10)
    try:
        assert remaining.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1
    finally:
        remaining.close()


def add_expired_rows(server, count: int, failures: int | None = None) -> None:
    """`count` sessions expired a day ago and as many log-in failures as old (or
    `failures`), written while the server is stopped: its next start-up purges them."""
    expired = int(time.time() * 1000) - 86_400_000
    connection = sqlite3.connect(sqlite_path(server), timeout=10)
    with connection:
        user_id = connection.execute("SELECT id FROM users").fetchone()[0]
        connection.executemany(
            "INSERT INTO sessions (id_hash, user_id, csrf_secret, created_at, expires_at, public_id, last_seen_at) "
            "VALUES (?, ?, 'secret', ?, ?, ?, ?)",
            ((hashlib.sha256(str(n).encode()).hexdigest(), user_id, expired, expired, 10_000_000 + n, expired)
             for n in range(count)))
        connection.executemany(
            "INSERT INTO login_failures (scope, subject, failed_at) VALUES ('username', ?, ?)",
            ((f"someone-{n}", expired) for n in range(count if failures is None else failures)))
    connection.close()


def list_latencies(server, cookie: str, until, readers: int = 4) -> list[float]:
    """`GET /api/todos/` by `readers` clients at once, each on its own keep-alive
    connection (spread over the event loops), back to back until `until()` is true; every
    answer's duration in seconds."""
    durations: list[list[float]] = [[] for _ in range(readers)]
    failures: list[str] = []

    def read(mine: list[float]) -> None:
        http = requests.Session()
        http.cookies.set("sessionid", cookie)
        try:
            while not until():
                started = time.monotonic()
                response = http.get(server.url + "/api/todos/", timeout=30)
                mine.append(time.monotonic() - started)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                    return
        finally:
            http.close()

    threads = [threading.Thread(target=read, args=(mine,)) for mine in durations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return [duration for mine in durations for duration in mine]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def test_a_slow_purge_does_not_hold_up_the_list(servers):
    """A purge whose statements are slow (here a trigger makes each deleted log-in failure
    cost a millisecond or two of SQLite's CPU, as a big table's index upkeep or a slow disk
    would) runs beside the requests, not in their way: the list's slow answers (p99,
    several clients at once, each on its own connection) while it runs stay within twice
    those of the same clients on the same server once it is over."""
    server = servers.start("sqlite")
    user = signed_up(server.url)
    assert user.post("/api/todos/", json={"title": "kept"}).status_code == 201
    cookie = user.cookie("sessionid")
    server.stop()
    add_expired_rows(server, 2_000, failures=1_000)
    connection = sqlite3.connect(sqlite_path(server), timeout=10)
    with connection:
        connection.execute(
            "CREATE TRIGGER slow_purge AFTER DELETE ON login_failures BEGIN SELECT count(*) FROM "
            "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000) SELECT x FROM c); END")
    connection.close()

    server.start()  # the purge runs a second after start-up
    started = time.monotonic()
    deadline = started + 90
    during = list_latencies(
        server, cookie, lambda: "purged expired rows" in server.logs() or time.monotonic() > deadline)
    purge_seconds = time.monotonic() - started
    assert "purged expired rows" in server.logs(), server.logs()
    assert re.search(r"sessions=2000\b", server.logs()) and re.search(r"login_failures=1000\b", server.logs())
    baseline_until = time.monotonic() + max(2.0, min(purge_seconds, 10.0))
    after = list_latencies(server, cookie, lambda: time.monotonic() > baseline_until)

    print(f"list during the purge ({len(during)} answers, {purge_seconds:.1f} s) p50/p90/p99: "
          + "/".join(f"{percentile(during, q) * 1000:.1f}" for q in (0.5, 0.9, 0.99))
          + f" ms; after it ({len(after)}): "
          + "/".join(f"{percentile(after, q) * 1000:.1f}" for q in (0.5, 0.9, 0.99)) + " ms")
    assert percentile(during, 0.99) <= 2 * percentile(after, 0.99), (percentile(during, 0.99), percentile(after, 0.99))
