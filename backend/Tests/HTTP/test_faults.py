"""Faults against the real server: killed mid-burst, PostgreSQL stopped under load,
SQLite on a full disk. What a client observes: nothing acknowledged is lost, nothing is
half-written, failures are prompt JSON 5xx, and service comes back by itself.

Each test prints what it measured (run with `-s` to see it)."""
from __future__ import annotations

import contextlib
import errno
import os
import pwd
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from accounts import signed_up
from api import ApiClient, assert_error
from servers import PostgresCluster

TODO_KEYS = {"id", "title", "completed", "order", "createdAt", "updatedAt"}
# PostgresEngine.leaseTimeout: how long a request may wait for a connection before 503.
LEASE_DEADLINE = 3.0
# DATABASE_QUERY_TIMEOUT's default: how long work on a leased connection may take before 503.
QUERY_DEADLINE = 3.0
# What a debug build on a shared 2-core machine may add to it.
SLACK = 1.5


def postgres_enabled() -> bool:
    return "postgres" in __import__("conftest").DATABASES


def twin(client: ApiClient) -> ApiClient:
    """Another connection for the same logged-in browser: same cookies and CSRF token."""
    other = ApiClient(client.base_url)
    other.http.cookies.update(client.http.cookies)
    other.token = client.token or client.fetch_token()
    return other


def listed_todos(client: ApiClient) -> list[dict]:
    response = client.get("/api/todos/")
    assert response.status_code == 200, response.text
    return response.json()["todos"]


def assert_consistent(todos: list[dict]) -> None:
    """Every todo whole, ids and orders distinct, listed by order then id."""
    for todo in todos:
        assert set(todo) == TODO_KEYS, todo
        assert isinstance(todo["id"], int) and isinstance(todo["order"], int), todo
        assert isinstance(todo["title"], str) and todo["title"], todo
    assert len({todo["id"] for todo in todos}) == len(todos)
    assert len({todo["order"] for todo in todos}) == len(todos), "two todos share an order"
    assert todos == sorted(todos, key=lambda todo: (todo["order"], todo["id"]))


def sqlite_path(database_url: str) -> str:
    return database_url.removeprefix("sqlite://")


def integrity_check(path: str) -> str:
    connection = sqlite3.connect(path, timeout=10)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


# kill -9 in the middle of a burst of creates -----------------------------------------------

class CreateBurst:
    """Threads creating todos as fast as they can, each on its own keep-alive connection,
    recording every todo whose 201 arrived. `attempted` holds every title sent."""

    def __init__(self, client: ApiClient, workers: int):
        self.clients = [twin(client) for _ in range(workers)]
        self.acknowledged: dict[int, str] = {}
        self.attempted: set[str] = set()
        self.unexpected: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(index,), daemon=True) for index in range(workers)]

    def _run(self, index: int) -> None:
        client = self.clients[index]
        number = 0
        while not self.stop.is_set():
            title = f"burst {index}-{number}"
            number += 1
            with self.lock:
                self.attempted.add(title)
            try:
                response = client.post("/api/todos/", json={"title": title})
            except requests.RequestException:
                return  # the server died under this request: its outcome is unknown
            if response.status_code != 201:
                with self.lock:
                    self.unexpected.append(f"{response.status_code} {response.text}")
                return
            todo = response.json()
            with self.lock:
                assert todo["title"] == title
                self.acknowledged[todo["id"]] = title

    def start(self) -> "CreateBurst":
        for thread in self.threads:
            thread.start()
        return self

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count and time.monotonic() < deadline and not self.unexpected:
            time.sleep(0.005)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=40)


def test_kill_9_mid_burst_loses_no_acknowledged_todo(servers, db):
    database_url = servers.database_url(db)
    server = servers.start(db, database_url=database_url)
    owner = signed_up(server.url)
    owner.fetch_token()
    burst = CreateBurst(owner, workers=16).start()
    try:
        burst.wait_for(200, timeout=30)
        assert not burst.unexpected, burst.unexpected[:3]
        assert len(burst.acknowledged) >= 200, "the burst did not get going"
        server.process.send_signal(signal.SIGKILL)  # mid-burst: requests are in flight
        killed_at = time.monotonic()
    finally:
        burst.join()
    assert server.process.wait(timeout=10) == -signal.SIGKILL
    assert not burst.unexpected, burst.unexpected[:3]
    acknowledged = dict(burst.acknowledged)
    in_flight_at_kill = len(burst.attempted) - len(acknowledged)
    assert in_flight_at_kill > 0, "the kill did not land mid-burst"

    restarted = servers.start(db, database_url=database_url)
    restart_seconds = time.monotonic() - killed_at
    owner.base_url = restarted.url  # same session: sessions live in the database too
    for client in burst.clients:
        client.http.close()
    todos = listed_todos(owner)
    assert_consistent(todos)
    found = {todo["id"]: todo["title"] for todo in todos}
    missing = {id: title for id, title in acknowledged.items() if found.get(id) != title}
    assert not missing, f"{len(missing)} acknowledged todos lost, e.g. {list(missing.items())[:5]}"
    # Beyond those, at most the requests that were in flight when the server died.
    extra = set(found) - set(acknowledged)
    assert len(extra) <= in_flight_at_kill, (len(extra), in_flight_at_kill)
    assert {found[id] for id in extra} <= burst.attempted
    if db == "sqlite":
        assert integrity_check(sqlite_path(database_url)) == "ok"

    after = owner.post("/api/todos/", json={"title": "after the restart"})
    assert after.status_code == 201, after.text
    assert after.json()["order"] == max(todo["order"] for todo in todos) + 1
    assert_consistent(listed_todos(owner))
    print(f"\n[kill -9 {db}] acknowledged {len(acknowledged)}, in flight {in_flight_at_kill}, "
          f"committed but unacknowledged {len(extra)}, kill to serving again {restart_seconds:.2f}s")


# PostgreSQL stopped while the server is under load -------------------------------------------

class MixedLoad:
    """Threads sending reads and creates on their own connections; every outcome is
    recorded with when it was sent and how long it took."""

    def __init__(self, client: ApiClient, workers: int):
        self.clients = [twin(client) for _ in range(workers)]
        self.outcomes: list[tuple[float, float, str, object]] = []  # sent, seconds, request, status or exception
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(index,), daemon=True) for index in range(workers)]

    def _run(self, index: int) -> None:
        client = self.clients[index]
        number = 0
        while not self.stop.is_set():
            number += 1
            started = time.monotonic()
            if number % 2:
                name, call = "GET /api/todos/", lambda: client.get("/api/todos/")
            else:
                name, call = "POST /api/todos/", lambda: client.post("/api/todos/", json={"title": f"load {index}"})
            try:
                response = call()
                outcome: object = response
            except requests.RequestException as error:
                outcome = error
            with self.lock:
                self.outcomes.append((started, time.monotonic() - started, name, outcome))
            time.sleep(0.01)

    def start(self) -> "MixedLoad":
        for thread in self.threads:
            thread.start()
        return self

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def since(self, moment: float) -> list[tuple[float, float, str, object]]:
        with self.lock:
            return [outcome for outcome in self.outcomes if outcome[0] >= moment]

    def first_answer(self, after: float, statuses: set[int], timeout: float) -> float | None:
        """When the first request sent after `after` got one of `statuses`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answered = [sent + seconds for sent, seconds, _, outcome in self.since(after)
                        if isinstance(outcome, requests.Response) and outcome.status_code in statuses]
            if answered:
                return min(answered)
            time.sleep(0.02)
        return None


def assert_answered_through_the_outage(outcomes, after_recovery, bound: float, outage_began: float,
                                       server, owner: ApiClient) -> list[float]:
    """Every request answered within `bound` seconds, with 200/201 or `503 database_unavailable`
    (never a hang, a reset or a 500); only successes once recovered; the same process serving
    a consistent list. Returns how long each 503 took."""
    failures = []
    for sent, seconds, name, outcome in outcomes:
        if not isinstance(outcome, requests.Response):  # a hang, a reset, a dropped connection
            failures.append(f"{name} sent {sent - outage_began:+.2f}s after the outage began: {outcome!r}")
            continue
        if seconds > bound:
            failures.append(f"{name}: answered {outcome.status_code} after {seconds:.2f}s")
        if outcome.status_code == 503:
            assert_error(outcome, 503, "database_unavailable")
        elif outcome.status_code not in (200, 201):
            failures.append(f"{name}: {outcome.status_code} {outcome.text}")
    assert not failures, f"{len(failures)} of {len(outcomes)}: {failures[:5]}"
    assert after_recovery and all(
        isinstance(outcome, requests.Response) and outcome.status_code in (200, 201)
        for *_, outcome in after_recovery), "failures after recovery"
    assert server.process.poll() is None  # the same process, no restart
    assert requests.get(server.url + "/api/health/", timeout=5).status_code == 200
    assert_consistent(listed_todos(owner))
    return [seconds for sent, seconds, _, outcome in outcomes
            if isinstance(outcome, requests.Response) and outcome.status_code == 503]


def test_postgres_stopped_under_load_answers_503_promptly_and_recovers(servers):
    """Complements test_sessions' outage test (one request at a time) with requests in
    flight at the moment PostgreSQL stops and while it comes back."""
    if not postgres_enabled():
        pytest.skip("PostgreSQL tests are disabled")
    cluster = PostgresCluster().start()  # its own, so stopping it affects no other test
    load = None
    try:
        server = servers.start("postgres", database_url=cluster.create_database())
        owner = signed_up(server.url)
        owner.fetch_token()
        load = MixedLoad(owner, workers=12).start()
        time.sleep(1.5)

        stopped_at = time.monotonic()
        cluster.stop()
        stop_seconds = time.monotonic() - stopped_at
        first_503 = load.first_answer(stopped_at, {503}, timeout=LEASE_DEADLINE + SLACK + 5)
        assert first_503 is not None, "no 503 after PostgreSQL stopped"
        time.sleep(LEASE_DEADLINE + 1)  # past the first leases' deadline, into the outage
        health_started = time.monotonic()
        health = requests.get(server.url + "/api/health/", timeout=LEASE_DEADLINE + SLACK + 5)
        health_seconds = time.monotonic() - health_started
        assert health.status_code == 503
        assert health.headers["Content-Type"].startswith("application/json")
        assert health.json() == {"status": "unavailable", "database": "unavailable"}
        assert requests.get(server.url + "/api/ping/", timeout=5).status_code == 200

        restarted_at = time.monotonic()
        cluster.start()
        recovered = load.first_answer(restarted_at, {200, 201}, timeout=30)
        assert recovered is not None, "no request succeeded within 30 s of PostgreSQL's return"
        time.sleep(1.5)
        load.join()
        after_recovery = [outcome for outcome in load.since(recovered + 0.5)]

        outcomes = load.since(0)
        during = assert_answered_through_the_outage(
            outcomes, after_recovery, LEASE_DEADLINE + SLACK, stopped_at, server, owner)
        print(f"\n[postgres outage] {len(outcomes)} requests, {len(during)} answered 503; "
              f"pg_ctl stop took {stop_seconds:.2f}s; first 503 {first_503 - stopped_at:.2f}s after the stop began; "
              f"slowest 503 {max(during):.2f}s; health during the outage {health_seconds:.2f}s; "
              f"first success {recovered - restarted_at:.2f}s after the restart began")
    finally:
        if load is not None:
            load.join()
        cluster.cleanup()


def cluster_processes(cluster: PostgresCluster) -> list[int]:
    """The postmaster and every process under it (backends, checkpointer, ...)."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [postmaster]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def test_postgres_frozen_mid_query_answers_503_within_the_deadlines_and_recovers(servers):
    """PostgreSQL stops answering without closing anything (SIGSTOP: a hung host, a network
    partition): requests waiting for a connection answer 503 at the lease deadline, and
    requests whose query is in flight at the query deadline, whose connection is then
    closed; nothing hangs, and service resumes once PostgreSQL answers again. The same
    bound covers a query sent on a connection that closed while it was being leased."""
    if not postgres_enabled():
        pytest.skip("PostgreSQL tests are disabled")
    cluster = PostgresCluster().start()
    load = None
    frozen: list[int] = []
    try:
        server = servers.start("postgres", database_url=cluster.create_database())
        owner = signed_up(server.url)
        owner.fetch_token()
        load = MixedLoad(owner, workers=12).start()
        time.sleep(1.5)

        frozen_at = time.monotonic()
        frozen = cluster_processes(cluster)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        first_503 = load.first_answer(frozen_at, {503}, timeout=LEASE_DEADLINE + QUERY_DEADLINE + SLACK + 5)
        assert first_503 is not None, "no 503 while PostgreSQL was frozen"
        time.sleep(LEASE_DEADLINE + QUERY_DEADLINE)
        ping_started = time.monotonic()
        assert requests.get(server.url + "/api/ping/", timeout=5).status_code == 200
        ping_seconds = time.monotonic() - ping_started

        thawed_at = time.monotonic()
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        frozen = []
        recovered = load.first_answer(thawed_at, {200, 201}, timeout=30)
        assert recovered is not None, "no request succeeded within 30 s of PostgreSQL answering again"
        time.sleep(1.5)
        load.join()
        after_recovery = load.since(recovered + 0.5)

        outcomes = load.since(0)
        during = assert_answered_through_the_outage(
            outcomes, after_recovery, LEASE_DEADLINE + QUERY_DEADLINE + SLACK, frozen_at, server, owner)
        print(f"\n[postgres frozen] {len(outcomes)} requests, {len(during)} answered 503, the slowest after "
              f"{max(during):.2f}s; ping while frozen {ping_seconds * 1000:.0f} ms; first success "
              f"{recovered - thawed_at:.2f}s after the thaw")
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if load is not None:
            load.join()
        cluster.cleanup()


# SQLite on a full disk ---------------------------------------------------------------------

@contextlib.contextmanager
def tmpfs(size: str):
    """A tmpfs of `size` of its own, unmounted afterwards; skips the test where mounting is impossible."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = Path(tempfile.mkdtemp(prefix="todolist-full-disk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def small_disk():
    with tmpfs("16m") as folder:
        yield folder


def fill(folder: Path) -> Path:
    """Writes a filler file until the file system refuses another byte."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    handle.write(block)
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
    return filler


def age_sessions(path: str, seconds: int) -> None:
    connection = sqlite3.connect(path, timeout=10)
    try:
        with connection:
            connection.execute("UPDATE sessions SET expires_at = expires_at - ?", (seconds * 1000,))
    finally:
        connection.close()


def test_sqlite_on_a_full_disk_answers_507_keeps_reads_and_recovers(servers, small_disk):
    database_url = f"sqlite://{small_disk / 'todolist.sqlite3'}"
    server = servers.start("sqlite", database_url=database_url)
    owner = signed_up(server.url)
    owner.fetch_token()
    before = [owner.post("/api/todos/", json={"title": f"before {n}"}) for n in range(20)]
    assert all(response.status_code == 201 for response in before)
    # The session was last refreshed two minutes ago, so reading it now also wants to
    # push out its expiry: a write, which a full disk refuses.
    age_sessions(sqlite_path(database_url), seconds=120)
    filler = fill(small_disk)

    # The WAL file may still have room for a few pages: write until the disk shows.
    title = "x" * 490
    acknowledged = [todo["id"] for todo in (todo.json() for todo in before)]
    refused = None
    for number in range(2000):
        response = owner.post("/api/todos/", json={"title": f"{number} {title}"})
        if response.status_code != 201:
            refused = response
            break
        acknowledged.append(response.json()["id"])
    assert refused is not None, "2000 creates of 490 characters fit on a full 16 MiB disk"
    assert_error(refused, 507, "insufficient_storage")
    # Still full: every write is refused the same way, nothing is half-written.
    assert_error(owner.post("/api/todos/", json={"title": "while full"}), 507, "insufficient_storage")
    assert_error(owner.patch("/api/todos/", json={"completed": True}), 507, "insufficient_storage")
    assert "storage full" in server.logs()

    # Reads keep working.
    todos = listed_todos(owner)
    assert_consistent(todos)
    assert [todo["id"] for todo in todos] == acknowledged
    assert not any(todo["completed"] for todo in todos)
    assert owner.get(f"/api/todos/{acknowledged[0]}/").status_code == 200
    assert owner.get("/api/auth/me/").json()["user"] is not None
    health = requests.get(server.url + "/api/health/", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok", "database": "ok"}
    assert integrity_check(sqlite_path(database_url)) == "ok"

    # Space comes back: writes work again, same process.
    filler.unlink()
    created = owner.post("/api/todos/", json={"title": "after the disk was freed"})
    assert created.status_code == 201, created.text
    toggled = owner.patch("/api/todos/", json={"completed": True})
    assert toggled.status_code == 200 and toggled.json() == {"updated": len(acknowledged) + 1}
    todos = listed_todos(owner)
    assert_consistent(todos)
    assert [todo["id"] for todo in todos] == acknowledged + [created.json()["id"]]
    assert server.process.poll() is None
    assert server.stop() == 0
    assert integrity_check(sqlite_path(database_url)) == "ok"
    print(f"\n[full disk] {len(acknowledged)} todos acknowledged, refused after {len(acknowledged) - 20} "
          f"creates once the disk was full")


def test_postgres_on_a_full_disk_answers_507_keeps_reads_and_recovers(servers):
    """PostgreSQL refuses to extend a table on a full disk (SQLSTATE 53100) and stays up."""
    if not postgres_enabled():
        pytest.skip("PostgreSQL tests are disabled")
    with tmpfs("96m") as folder:  # an initialised cluster takes about 40 MiB
        entry = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if entry:
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        cluster = PostgresCluster()
        os.rmdir(cluster.dir)
        cluster.dir, cluster.data = folder, folder / "data"
        cluster.start()
        try:
            server = servers.start("postgres", database_url=cluster.create_database())
            owner = signed_up(server.url)
            owner.fetch_token()
            acknowledged = []
            for number in range(20):
                response = owner.post("/api/todos/", json={"title": f"before {number}"})
                assert response.status_code == 201, response.text
                acknowledged.append(response.json()["id"])
            filler = fill(folder)
            refused, title = None, "x" * 490
            for number in range(3000):
                response = owner.post("/api/todos/", json={"title": f"{number} {title}"})
                if response.status_code != 201:
                    refused = response
                    break
                acknowledged.append(response.json()["id"])
            assert refused is not None, "3000 creates of 490 characters fit on a full disk"
            assert_error(refused, 507, "insufficient_storage")
            assert "storage full" in server.logs()

            todos = listed_todos(owner)
            assert_consistent(todos)
            assert [todo["id"] for todo in todos] == acknowledged  # the refused one is not there

            filler.unlink()
            created = owner.post("/api/todos/", json={"title": "after the disk was freed"})
            assert created.status_code == 201, created.text
            assert [todo["id"] for todo in listed_todos(owner)] == acknowledged + [created.json()["id"]]
            assert server.process.poll() is None
            assert server.stop() == 0
            print(f"\n[full disk postgres] {len(acknowledged)} todos acknowledged, refused after "
                  f"{len(acknowledged) - 20} creates once the disk was full")
        finally:
            cluster.stop()


def test_a_log_reader_that_stops_reading_holds_up_no_request(tmp_path):
    """The server's standard output is a pipe whose reader stops reading (a stopped `| tee`,
    a stalled log shipper): once the pipe is full, requests are still answered promptly; the
    lines that did not fit are dropped and counted in a line of their own, and logging goes
    on whole once the reader reads again."""
    from servers import ServerProcess, sqlite_url

    server = ServerProcess(sqlite_url(tmp_path))
    read_end, write_end = os.pipe()
    try:
        try:
            server.start(output=write_end)
        finally:
            os.close(write_end)  # the server holds its own copy
        http = requests.Session()
        # A request line is ~200 bytes: 4,000 of them fill the pipe (64 KiB) and more.
        slowest = 0.0
        for _ in range(4000):
            started = time.monotonic()
            assert http.get(server.url + "/api/ping/", timeout=5).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        print(f"slowest ping with the log's reader stopped: {slowest * 1000:.1f} ms")
        assert slowest < 1.0

        # The reader reads again: what was kept, the count of what was dropped, then new
        # lines, each whole.
        os.set_blocking(read_end, False)
        received = b""
        marker = "/api/after-reading/"  # a 404, logged with its path
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and marker.encode() not in received:
            with contextlib.suppress(BlockingIOError):
                while chunk := os.read(read_end, 1 << 16):
                    received += chunk
            http.get(server.url + marker, timeout=5)
            time.sleep(0.05)
        text = received.decode()
        assert re.search(r"\d+ log lines dropped: their reader fell behind\n", text), text[-2000:]
        assert marker in text
        lines = text.splitlines()
        assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \w+ todolist: ", line) for line in lines), \
            [line for line in lines if not re.match(r"^\d{4}-", line)][:3]
        assert server.process.poll() is None
    finally:
        if server.process is not None:
            server.process.terminate()
            with contextlib.suppress(OSError):
                os.set_blocking(read_end, True)
                while os.read(read_end, 1 << 16):
                    pass
        server.stop()
        os.close(read_end)
        shutil.rmtree(server.workdir, ignore_errors=True)
