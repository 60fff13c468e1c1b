"""Data at scale (issue 13): what a database of production size does to the requests.

On each engine, two databases side by side (on PostgreSQL in one cluster): a small one
holding only the bench's users, and one seeded by bench/seed.py (10,000 users, 1,000,000
todos, 100,000 sessions, log-in failures). Release servers, the bench's settings (bcrypt
cost 10, abuse limits lifted). Measured:

1. `GET /api/todos/` (a user with 20 todos, wrk -t2 -c32): p99 on the seeded database
   within 2x the small one's (both measured in alternating rounds; the median of the
   rounds' p99 is compared).
2. Log-in and sign-up (bcrypt cost 10), a handful each, sequential, alternating between
   the databases: the slowest on the seeded one within 2x the slowest on the small one.
3. The purge: the server deletes expired sessions and old log-in failures in batches at
   start-up (1 s after; then every 10 minutes, PurgeService.swift). The seeded database is
   given 30,000 expired sessions and 50,000 old failures again and its server restarted
   while wrk reads the list in back-to-back 1-second slices; a reader polls the oldest such
   row left, which dates the purge. The p99 of every slice that overlaps the purge is
   within 2x the worst of as many slices taken the same way from another start of the
   server with nothing to purge, its first second left out as the purge's is (a freshly
   started server's slices are slower than a steady run whatever it does; the steady
   small run's p99 is shown beside); a slice
   without any answer is a stall. Then the same again with `GET /api/ping/` (no table
   touched): a stall there is the whole server's.
4. The largest allowed list (10,000 todos, the per-user limit): `GET /api/todos/` p50/p99
   at 2, 4 and 8 connections (one user's tabs), and the server's RSS growth while
   answering it (VmRSS sampled every 50 ms, VmHWM): p99 ≤ 500 ms at 2 connections, peak
   RSS within the bench's 80 MiB.

Usage: python3 bench/scale.py --server backend/.build-release/release/todolist-server
           [--duration 10] [--databases postgres,sqlite] [--rounds 3] [--logins 16]
           [--users 10000 --todos 1000000 --sessions 100000]  (smaller for a quick check)
           [--only-purge]  (the list's rounds and the list during the purge only: for A/B runs)
Writes bench/results/<date>-<commit>-scale.json and .md (-2, -3... for further runs).
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "backend" / "Tests" / "HTTP"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import LOG_FLUSH_SECONDS, PostgresCluster, ServerProcess, sqlite_url  # noqa: E402

import bench  # noqa: E402  (bench/bench.py: wrk scripts, Account, parse_wrk)
import seed  # noqa: E402

ORIGIN = bench.ORIGIN
# The bench's throughput settings (bench.py): bcrypt cost 10, and every client is one
# loopback address, so the per-address limits are lifted. The throttle windows keep their
# defaults: the purge's bound for log-in failures depends on them (seed.OLD_FAILURE_MS).
SERVER_ENV = {"BCRYPT_COST": str(seed.BCRYPT_COST), "LOG_LEVEL": "info",
              "LOGIN_FAILURES_PER_ADDRESS": "1000000", "LOGIN_FAILURES_PER_USERNAME": "1000000",
              "SIGNUPS_PER_ADDRESS": "1000000", "HASHING_QUEUE_LIMIT": "100000", "HASHING_QUEUE_PER_ADDRESS": "100000"}
SCALE_FACTOR = 2.0  # issue 13: "within 2x of the small database"
LIST = "GET /api/todos/ (20 todos)"
PING = "GET /api/ping/"
LARGEST = "GET /api/todos/ (10,000 todos)"
# One user's largest list loaded by several of their tabs or devices at once (a user holds
# at most STREAMS_PER_USER = 10 live tabs).
LARGEST_CONNECTIONS = [2, 4, 8]
# The issue asks for the largest list "within a benchmarked time and memory" without
# numbers; ours: a page of 10,000 todos within half a second (p99) with two loading at
# once, and the server's peak RSS while answering it within the bench's RSS limit for the
# whole run (bench.py RSS_LIMIT_MIB): the largest allowed list does not blow the budget.
LARGEST_P99_LIMIT_MS = {2: 500.0}
LARGEST_RSS_LIMIT_MIB = bench.RSS_LIMIT_MIB
# With 8 answers of ~1.5 MB in flight on 2 cores each waits for the others: seconds.
LARGEST_TIMEOUT_S = 30
PURGE_TIMEOUT_S = 120


class RowCounter:
    """What the purge still has to delete, asked on a connection of its own (PostgreSQL: one
    psql kept open; SQLite: a reader on the WAL file). `count` reads every row to purge, so
    it is asked once; `oldest` reads one index entry a table (past those already deleted),
    cheap enough to poll beside the measurement without loading the database."""

    def __init__(self, url: str, bound_ms: int):
        sessions = f"FROM sessions WHERE expires_at <= {bound_ms}"
        failures = f"FROM login_failures WHERE failed_at <= {bound_ms - seed.OLD_FAILURE_MS}"
        self.count_sql = f"SELECT (SELECT count(*) {sessions}), (SELECT count(*) {failures})"
        self.oldest_sql = f"SELECT (SELECT min(expires_at) {sessions}), (SELECT min(failed_at) {failures})"
        self.path = seed.sqlite_path(url)
        if self.path is not None:
            self.connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self.psql = subprocess.Popen(["psql", "-X", "-A", "-t", "-q", "-d", url], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, bufsize=1)

    def _ask(self, sql: str) -> tuple:
        if self.path is not None:
            return tuple(self.connection.execute(sql).fetchone())
        self.psql.stdin.write(sql + ";\n")
        self.psql.stdin.flush()
        return tuple(int(value) if value else None for value in self.psql.stdout.readline().strip().split("|"))

    def count(self) -> tuple[int, int]:
        """How many sessions and log-in failures are left to purge."""
        return self._ask(self.count_sql)

    def oldest(self) -> tuple[int | None, int | None]:
        """The oldest time left to purge in each table; None once a table has none."""
        return self._ask(self.oldest_sql)

    def close(self) -> None:
        if self.path is not None:
            self.connection.close()
        else:
            self.psql.stdin.close()
            self.psql.wait()


class PurgeWatch(threading.Thread):
    """Polls a RowCounter every `interval` s: when the purge started (the oldest row left to
    purge changed; the purge deletes the oldest first) and ended (none left)."""

    def __init__(self, counter: RowCounter, interval: float = 0.05, timeout: float = PURGE_TIMEOUT_S):
        super().__init__(daemon=True)
        self.deadline = time.monotonic() + timeout
        self.counter = counter
        self.interval = interval
        self.initial = counter.count()
        self.initial_oldest = counter.oldest()
        self.started: float | None = None
        self.ended: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            oldest = self.counter.oldest()
            now = time.monotonic()
            if self.started is None and oldest != self.initial_oldest:
                self.started = now
            if oldest == (None, None):
                self.ended = now
                self.started = self.started or now
                return
            self.stop.wait(self.interval)


class RSSSampler(threading.Thread):
    """The largest VmRSS of a process seen every 50 ms while running."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_kib = max(self.peak_kib, status_kib(self.pid, "VmRSS"))
            self.stop.wait(0.05)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def list_statuses(server: ServerProcess) -> dict[str, int]:
    """How many `GET /api/todos/` answers of each status the server logged since the last call
    (wrk counts non-2xx answers but does not say which)."""
    time.sleep(4 * LOG_FLUSH_SECONDS)  # the last answers' access lines reach the log
    counts: dict[str, int] = {}
    for status in re.findall(r"http\.method=GET http\.path=/api/todos/ http\.status=(\d+)", server.new_log_lines()):
        counts[status] = counts.get(status, 0) + 1
    return counts


def cookie_headers(session: str) -> dict[str, str]:
    return {"Origin": ORIGIN, "Cookie": f"sessionid={session}"}


def timed_auth(base: str, path: str, username: str, password: str) -> tuple[float, int]:
    """One log-in or sign-up as a browser sends it (CSRF token first); seconds and status."""
    client = requests.Session()
    client.headers["Origin"] = ORIGIN
    token = client.get(base + "/api/csrf/").json()["csrfToken"]
    started = time.perf_counter()
    response = client.post(base + path, json={"username": username, "password": password},
                           headers={"X-CSRFToken": token}, timeout=30)
    return time.perf_counter() - started, response.status_code


class Target:
    """One database and its server: what the scenarios need to send requests."""

    def __init__(self, label: str, url: str):
        self.label = label
        self.url = url
        self.server: ServerProcess | None = None
        self.list_headers: dict[str, str] = {}
        self.login: tuple[str, str] = ("", "")

    def start(self) -> "Target":
        self.server = ServerProcess(self.url, env=SERVER_ENV).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.cleanup()
            self.server = None

    @property
    def base(self) -> str:
        return self.server.url


def prepare_small(target: Target) -> None:
    """The bench's users on the small database: a reader with 20 todos, a user who logs in."""
    reader = bench.Account(target.base, "scale-reader")
    for index in range(20):
        reader.post("/api/todos/", {"title": f"Todo number {index}"})
    target.list_headers = reader.headers()
    login = bench.Account(target.base, "scale-login")
    target.login = (login.username, login.password)


def measure_list(target: Target, database: str, duration: int, warmup: int) -> dict:
    load = os.getloadavg()[0]
    figures = bench.measure(LIST, target.base + "/api/todos/", bench.lua_script("GET", target.list_headers, None),
                            32, duration, warmup)
    figures.update(database=database, dataset=target.label, load_before=load)
    return figures


def measure_auth(small: Target, seeded: Target, database: str, count: int) -> list[dict]:
    """Log-ins and sign-ups, alternating between the databases so that both see the same
    machine (other work on it comes and goes)."""
    times = {(kind, target.label): [] for kind in ("log-in", "sign-up") for target in (small, seeded)}
    failures = {key: [] for key in times}
    for _ in range(count):
        for target in (small, seeded):
            seconds, status = timed_auth(target.base, "/api/auth/login/", *target.login)
            times[("log-in", target.label)].append(seconds)
            if status != 200:
                failures[("log-in", target.label)].append(status)
            name = f"scale-signup-{uuid.uuid4().hex[:12]}"
            seconds, status = timed_auth(target.base, "/api/auth/signup/", name, "scale-password-2")
            times[("sign-up", target.label)].append(seconds)
            if status != 201:
                failures[("sign-up", target.label)].append(status)
    rows = []
    for (kind, label), values in times.items():
        rows.append({"scenario": f"POST /api/auth/{'login' if kind == 'log-in' else 'signup'}/ "
                                 f"(bcrypt cost {seed.BCRYPT_COST}, {count} sequential)",
                     "kind": kind, "database": database, "dataset": label, "connections": 1,
                     "requests_per_s": len(values) / sum(values), "p50_ms": statistics.median(values) * 1000,
                     "p99_ms": max(values) * 1000, "non_2xx": len(failures[(kind, label)]), "errors": 0,
                     "ok": not failures[(kind, label)]})
    return rows


def one_slice(target: Target, path: str, script: str, started: float) -> dict:
    """`GET path` at 32 connections for one second; `begun` and `ended` from `started`."""
    begun = time.monotonic()
    figures = bench.run_wrk(target.base + path, script, 32, 1)
    figures.update(begun=begun - started, ended=time.monotonic() - started)
    figures.pop("raw", None)
    if figures["requests_per_s"] == 0:
        # No answer within the slice: every request waited at least that long (wrk
        # then prints a latency of 0, and counts no timeout before 2 s).
        figures.update(stalled=True, p50_ms=None, p99_ms=(figures["ended"] - figures["begun"]) * 1000)
    return figures


def measure_reference_slices(target: Target, path: str, headers: dict[str, str], count: int) -> list[dict]:
    """`count` slices as `measure_purge` takes them (from the server's start, 1 second
    each), with nothing to purge, after a first one that is not counted: the purge's
    reference, what a freshly started server's slices look like anyway (each slice's new
    connections, PostgreSQL's connections and prepared statements still being made). The
    first slice, before the purge's 1-second delay is over, is left out on both sides: it
    is the slowest of a start."""
    script = bench.lua_script("GET", headers, None)
    started = time.monotonic()
    target.start()
    try:
        return [one_slice(target, path, script, started) for _ in range(count + 1)][1:]
    finally:
        target.stop()


def measure_purge(target: Target, database: str, args, name: str, path: str,
                  headers: dict[str, str], with_reference: bool = False) -> tuple[dict, dict]:
    """Adds purgeable rows, restarts the server and sends `GET path` in 1-second slices
    until the purge is over (and one slice more); `with_reference`, then as many slices
    (5 to 30) from another start with nothing to purge."""
    added = seed.add_purgeable(target.url, args.users, args.expired, args.old_failures)
    bound = int(time.time() * 1000)
    counter = RowCounter(target.url, bound)
    watch = PurgeWatch(counter)
    initial = watch.initial
    watch.start()
    script = bench.lua_script("GET", headers, None)
    slices: list[dict] = []
    started = time.monotonic()
    target.start()
    try:
        after = 0
        while after < 1 and time.monotonic() - started < PURGE_TIMEOUT_S:
            figures = one_slice(target, path, script, started)
            slices.append(figures)
            if watch.ended is not None and watch.ended < figures["begun"] + started:
                after += 1
        # A slice overlaps the purge when it ran while rows were being deleted. The first
        # slice, the server's first second (the purge waits 1 s), is left out as in the
        # reference: a start's slowest whatever the server does.
        purge_start = (watch.started - started) if watch.started else None
        purge_end = (watch.ended - started) if watch.ended else None
        during = [s for s in slices[1:] if purge_start is not None
                  and s["ended"] >= purge_start and s["begun"] <= (purge_end if purge_end is not None else 1e9)]
    finally:
        watch.stop.set()
        watch.join(timeout=5)
        counter.close()
    statuses = list_statuses(target.server) if target.server else {}
    logs = target.server.logs() if target.server else ""
    # How long the server itself took for the list (its log's durations): tells a wait
    # inside the server from one in the client or the kernel.
    durations = sorted(float(ms) for ms in re.findall(
        r"duration_ms=([\d.]+) \S+ http\.method=GET http\.path=/api/todos/ ", logs))
    target.stop()
    reference = measure_reference_slices(target, path, headers, min(max(len(during), 5), 30)) if with_reference else []
    worst = max(during, key=lambda s: s["p99_ms"] or 0) if during else None
    stalled = sum(1 for s in during if s.get("stalled"))
    non_2xx = sum(s["non_2xx"] for s in during)
    errors = sum(s["errors"] for s in during)
    row = {"scenario": f"{name} while {initial[0]} expired sessions and {initial[1]} old log-in failures are purged",
           "database": database, "dataset": "seeded", "connections": 32,
           "requests_per_s": statistics.mean(s["requests_per_s"] for s in during) if during else 0.0,
           "p50_ms": worst["p50_ms"] if worst else None, "p99_ms": worst["p99_ms"] if worst else None,
           "non_2xx": non_2xx, "errors": errors, "statuses": statuses, "stalled_slices": stalled,
           "ok": bool(during) and purge_end is not None and non_2xx == 0 and errors == 0 and not stalled,
           "reference_p99_ms": max((s["p99_ms"] or 0 for s in reference), default=None)}
    purge = {"database": database, "probe": name, "rows_added": added, "expired_sessions": initial[0],
             "old_login_failures": initial[1], "started_s": purge_start, "ended_s": purge_end,
             "seconds": (purge_end - purge_start) if purge_start is not None and purge_end is not None else None,
             "slices": slices, "slices_during": len(during), "stalled_slices": stalled,
             "reference_slices": reference,
             "server_list_ms": {"answers": len(durations),
                                "p99": durations[int(len(durations) * 0.99)] if durations else None,
                                "max": durations[-1] if durations else None},
             "server_log": [line for line in logs.splitlines() if "purge" in line]}
    return row, purge


def measure_largest(target: Target, session: str, todos: int, database: str, duration: int, warmup: int) -> list[dict]:
    """The largest allowed list at a few connections, with the server's RSS growth."""
    url = target.base + "/api/todos/"
    script = bench.lua_script("GET", cookie_headers(session), None)
    pid = target.server.process.pid
    # Growth is counted from the RSS before the first of these requests: memory the
    # allocator keeps after one level is still memory the list cost.
    baseline_kib = status_kib(pid, "VmRSS")
    size = len(requests.get(url, headers=cookie_headers(session)).content)
    list_statuses(target.server)
    rows = []
    for connections in LARGEST_CONNECTIONS:
        hwm_before = status_kib(pid, "VmHWM")
        sampler = RSSSampler(pid)
        sampler.start()
        bench.run_wrk(url, script, connections, warmup, timeout=LARGEST_TIMEOUT_S)
        figures = bench.run_wrk(url, script, connections, duration, timeout=LARGEST_TIMEOUT_S)
        sampler.stop.set()
        sampler.join()
        hwm_after = status_kib(pid, "VmHWM")
        peak_kib = max(sampler.peak_kib, hwm_after if hwm_after > hwm_before else 0)
        time.sleep(1)
        figures.pop("raw", None)
        figures["statuses"] = list_statuses(target.server)
        figures.update(scenario=LARGEST, database=database, dataset="seeded", connections=connections,
                       todos=todos, response_bytes=size, rss_before_kib=baseline_kib, rss_peak_kib=peak_kib,
                       rss_after_kib=status_kib(pid, "VmRSS"), growth_kib=peak_kib - baseline_kib,
                       ok=figures["non_2xx"] == 0 and figures["errors"] == 0 and figures["requests_per_s"] > 0)
        rows.append(figures)
        print(f"  {database:8} {LARGEST} c={connections:<3} {figures['requests_per_s']:8.1f} req/s  "
              f"p50 {bench.fmt(figures['p50_ms'])} ms  p99 {bench.fmt(figures['p99_ms'])} ms  "
              f"RSS {baseline_kib / 1024:.1f} → peak {peak_kib / 1024:.1f} MiB", flush=True)
    return rows


def run_engine(database: str, args, cluster: PostgresCluster | None, workdir: Path) -> tuple[list[dict], list[dict], dict]:
    """Every scenario on one engine; (rows, purges, seed manifest)."""
    if database == "postgres":
        small_url, seeded_url = cluster.create_database(), cluster.create_database()
    else:
        for name in ("small", "seeded"):
            (workdir / name).mkdir()
        small_url, seeded_url = sqlite_url(workdir / "small"), sqlite_url(workdir / "seeded")
    manifest = seed.seed(seeded_url, Path(args.server), users=args.users, todos=args.todos, sessions=args.sessions,
                         expired=args.expired, failures=args.failures, old_failures=args.old_failures)
    known = manifest["known"]
    small, seeded = Target("small", small_url), Target("seeded", seeded_url)
    seeded.list_headers = cookie_headers(known["reader"]["session"])
    seeded.login = (known["login"]["username"], manifest["password"])
    rows: list[dict] = []
    try:
        small.start()
        prepare_small(small)
        seeded.start()
        # The start-up purge of what the seed expired; the scenarios below run after it.
        watch = PurgeWatch(RowCounter(seeded_url, int(time.time() * 1000)))
        watch.run()
        watch.counter.close()
        for _ in range(args.rounds):
            for target in (small, seeded):
                figures = measure_list(target, database, args.duration, args.warmup)
                rows.append(figures)
                print(f"  {database:8} {target.label:6} {LIST:28} {figures['requests_per_s']:>8.0f} req/s"
                      f"  p99 {bench.fmt(figures['p99_ms'])} ms  {'ok' if figures['ok'] else 'FAILED'}", flush=True)
        for figures in ([] if args.only_purge else measure_auth(small, seeded, database, args.logins)):
            rows.append(figures)
            print(f"  {database:8} {figures['dataset']:6} {figures['kind']:8} p50 {bench.fmt(figures['p50_ms'])} ms"
                  f"  slowest {bench.fmt(figures['p99_ms'])} ms  {'ok' if figures['ok'] else 'FAILED'}", flush=True)
        if not args.only_purge:
            rows += measure_largest(seeded, known["largest"]["session"], known["largest"]["todos"], database,
                                    args.duration, args.warmup)
        seeded.stop()
        # The list during the purge; then, with as many rows to purge again, a request that
        # touches no table: whether a stall is the database's or the whole server's.
        purges = []
        probes = [(LIST, "/api/todos/", seeded.list_headers), (PING, "/api/ping/", {"Origin": ORIGIN})]
        for name, path, headers in probes[:1] if args.only_purge else probes:
            purge_row, purge = measure_purge(seeded, database, args, name, path, headers, with_reference=path == "/api/todos/")
            rows.append(purge_row)
            purges.append(purge)
            print(f"  {database:8} purge of {purge['expired_sessions']} sessions and {purge['old_login_failures']} "
                  f"log-in failures: {bench.fmt(purge['seconds'])} s; {name} p99 in the {purge['slices_during']} "
                  f"slice(s) during it: worst {bench.fmt(purge_row['p99_ms'])} ms"
                  f"{', ' + str(purge['stalled_slices']) + ' without any answer' if purge['stalled_slices'] else ''}",
                  flush=True)
    finally:
        small.stop()
        seeded.stop()
    return rows, purges, {k: v for k, v in manifest.items() if k not in ("known", "password")}


def median_p99(rows: list[dict], database: str, dataset: str) -> float | None:
    values = [r["p99_ms"] for r in rows if r["scenario"] == LIST and r["database"] == database
              and r["dataset"] == dataset and r["p99_ms"] is not None]
    return statistics.median(values) if values else None


def verdicts(rows: list[dict], databases: list[str]) -> list[dict]:
    found = []
    for database in databases:
        small = median_p99(rows, database, "small")
        seeded = median_p99(rows, database, "seeded")
        list_ok = all(r["ok"] for r in rows if r["scenario"] == LIST and r["database"] == database)
        if small and seeded:
            found.append({"target": f"{LIST} on {database}: p99 seeded ≤ {SCALE_FACTOR:g} × small "
                                    f"({seeded:.2f} vs {small:.2f} ms; value: the ratio)",
                          "value": seeded / small, "met": list_ok and seeded <= SCALE_FACTOR * small})
        for kind in ("log-in", "sign-up"):
            pair = {r["dataset"]: r for r in rows if r.get("kind") == kind and r["database"] == database}
            if "small" in pair and "seeded" in pair:
                s, l = pair["small"]["p99_ms"], pair["seeded"]["p99_ms"]
                found.append({"target": f"{kind} on {database}: slowest seeded ≤ {SCALE_FACTOR:g} × small "
                                        f"({l:.0f} vs {s:.0f} ms; value: the ratio)",
                              "value": l / s, "met": pair["small"]["ok"] and pair["seeded"]["ok"]
                              and l <= SCALE_FACTOR * s})
        for row in rows:
            if row["database"] != database:
                continue
            if row["scenario"].startswith(LIST + " while") and row.get("reference_p99_ms"):
                # Both sides are 1-second slices from a server's start: the purge's against as
                # many with nothing to purge. (Against the small database's steady 10-second
                # run, the slices before a purge begins are already 2-3 times as slow.)
                reference = row["reference_p99_ms"]
                found.append({"target": f"{row['scenario']} on {database}: worst slice's p99 ≤ {SCALE_FACTOR:g} × "
                                        f"the worst of as many slices from a start with nothing to purge "
                                        f"({bench.fmt(row['p99_ms'])} vs {reference:.2f} ms; steady small run "
                                        f"{bench.fmt(small)} ms; value: the ratio)",
                              "value": (row["p99_ms"] or 1e9) / reference,
                              "met": row["ok"] and (row["p99_ms"] or 1e9) <= SCALE_FACTOR * reference})
            if row["scenario"].startswith(PING + " while"):
                found.append({"target": f"{row['scenario']} on {database}: answered in every slice (no stall; "
                                        f"value: the worst slice's p99)",
                              "value": row["p99_ms"], "met": row["ok"]})
            if row["scenario"] == LARGEST:
                refused = {status: count for status, count in row.get("statuses", {}).items() if status != "200"}
                unanswered = "; none answered within the run" if row["requests_per_s"] == 0 else ""
                found.append({"target": f"{LARGEST} on {database} at {row['connections']} connections: every request "
                                        f"answered 200 (value: how many were not"
                                        f"{': ' + ', '.join(f'{n} × {code}' for code, n in sorted(refused.items())) if refused else ''}"
                                        f"{unanswered})",
                              "value": row["non_2xx"] + row["errors"], "met": row["ok"]})
                limit = LARGEST_P99_LIMIT_MS.get(row["connections"])
                if limit is not None:
                    found.append({"target": f"{LARGEST} on {database} at {row['connections']} connections: "
                                            f"p99 ≤ {limit:.0f} ms",
                                  "value": row["p99_ms"], "met": row["ok"] and (row["p99_ms"] or 1e9) <= limit})
                found.append({"target": f"{LARGEST} on {database} at {row['connections']} connections: peak RSS "
                                        f"≤ {LARGEST_RSS_LIMIT_MIB} MiB (growth {row['growth_kib'] / 1024:.1f} MiB "
                                        f"from {row['rss_before_kib'] / 1024:.1f}; answer "
                                        f"{row['response_bytes'] / 1e6:.2f} MB)",
                              # Memory is judged on whatever was answered (a refused request
                              # fails the time target, not this one).
                              "value": row["rss_peak_kib"] / 1024,
                              "met": row["requests_per_s"] > 0 and row["rss_peak_kib"] / 1024 <= LARGEST_RSS_LIMIT_MIB})
    return found


def write_results(rows: list[dict], purges: list[dict], seeds: list[dict], found: list[dict]) -> Path:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip() or "unknown"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    loads = [r["load_before"] for r in rows if "load_before" in r]
    lines = [f"Data at scale (bench/scale.py) {stamp}, commit {commit}, wrk -t2, {os.cpu_count()} cores shared by "
             f"wrk, PostgreSQL and the server; 1-minute load average before the list runs: "
             f"{', '.join(f'{value:.1f}' for value in loads) or '—'} (above ~2, other work shared the cores).", ""]
    for figures in seeds:
        lines.append(f"- seeded {figures['database']}: {figures['users']} users, {figures['todos']} todos (largest "
                     f"list {figures['largest_list']}), {figures['sessions']} sessions ({figures['expired_sessions']} "
                     f"expired), {figures['login_failures']} log-in failures ({figures['old_login_failures']} old): "
                     f"{figures['rows']} rows in {figures['load_seconds']:.1f} s ({figures['rows_per_second']:,.0f} "
                     f"rows/s), ANALYZE {figures['analyze_seconds']:.1f} s")
    lines += ["", "| database | data | scenario | conns | req/s | p50 ms | p99 ms | non-2xx | errors |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        status = "" if row["ok"] else " **FAILED**"
        lines.append(f"| {row['database']} | {row['dataset']} | {row['scenario']}{status} | {row['connections']} | "
                     f"{row['requests_per_s']:.0f} | {bench.fmt(row['p50_ms'])} | {bench.fmt(row['p99_ms'])} | "
                     f"{row['non_2xx']} | {row['errors']} |")
    largest = [r for r in rows if r["scenario"] == LARGEST]
    if largest:
        lines += ["", "| database | largest list: conns | answer MB | RSS before MiB | peak MiB | after MiB |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['database']} | {r['connections']} | {r['response_bytes'] / 1e6:.2f} | "
                  f"{r['rss_before_kib'] / 1024:.1f} | {r['rss_peak_kib'] / 1024:.1f} | {r['rss_after_kib'] / 1024:.1f} |"
                  for r in largest]
    for purge in purges:
        slices = ", ".join(f"{s['begun']:.1f}–{s['ended']:.1f} s: "
                           f"{'no answer' if s.get('stalled') else bench.fmt(s['p99_ms'])}" for s in purge["slices"])
        server = purge["server_list_ms"]
        lines += ["", f"Purge on {purge['database']}, {purge['probe']} measured: {purge['expired_sessions']} expired sessions and "
                      f"{purge['old_login_failures']} old log-in failures, deleted from {bench.fmt(purge['started_s'])} s "
                      f"to {bench.fmt(purge['ended_s'])} s after the server's start "
                      f"({bench.fmt(purge['seconds'])} s). p99 (ms) per 1-second slice: {slices}."]
        if purge.get("reference_slices"):
            reference = ", ".join(f"{'no answer' if s.get('stalled') else bench.fmt(s['p99_ms'])}"
                                  for s in purge["reference_slices"])
            lines += ["", f"The same slices from another start of the server, nothing to purge (its first left out): {reference}."]
        lines += [f"Server log: `{line.split(' todolist: ', 1)[-1]}`" for line in purge["server_log"]]
        if server["answers"]:
            lines.append(f"The server's own durations for the list over the whole scenario ({server['answers']} answers): "
                         f"p99 {bench.fmt(server['p99'])} ms, slowest {bench.fmt(server['max'])} ms.")
    for row in rows:
        odd = {status: count for status, count in row.get("statuses", {}).items() if status != "200"}
        if odd:
            lines += ["", f"{row['database']}, {row['scenario']} at {row['connections']} connections: the server "
                          f"answered {', '.join(f'{count} × {status}' for status, count in sorted(odd.items()))} "
                          f"(besides 200)."]
    lines += ["", "| target | value | met |", "|---|---:|---|"]
    lines += [f"| {v['target']} | {bench.fmt(v['value'])} | {'yes' if v['met'] else '**no**'} |" for v in found]
    markdown = "\n".join(lines) + "\n"
    base = bench.save_results(f"{stamp}-{commit}-scale", markdown, {
        "date": stamp, "commit": commit, "seeds": seeds,
        "rows": [{k: v for k, v in r.items() if k != "raw"} for r in rows], "purges": purges, "targets": found})
    print()
    print(markdown)
    print(f"written: {base.with_suffix('.json')} and {base.with_suffix('.md')}")
    return base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="alternating list measurements per database")
    parser.add_argument("--logins", type=int, default=16, help="log-ins and sign-ups per database")
    parser.add_argument("--databases", default="postgres,sqlite")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--todos", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--expired", type=int, default=30_000)
    parser.add_argument("--failures", type=int, default=60_000)
    parser.add_argument("--old-failures", type=int, default=50_000)
    parser.add_argument("--only-purge", action="store_true",
                        help="only the list's rounds (the small database's p99 is the reference) and the list "
                             "during the purge: no log-ins, largest list or ping probe")
    args = parser.parse_args()
    args.server = str(Path(args.server).resolve())
    os.environ["TODOLIST_SERVER_BIN"] = args.server
    databases = args.databases.split(",")
    rows: list[dict] = []
    purges: list[dict] = []
    seeds: list[dict] = []
    workdir = Path(tempfile.mkdtemp(prefix="todolist-scale-"))
    cluster = None
    try:
        for database in databases:
            if database == "postgres":
                if not shutil.which("psql") or not Path("/usr/lib/postgresql/15/bin/pg_ctl").exists():
                    print("PostgreSQL is not installed: skipping its scenarios")
                    continue
                cluster = PostgresCluster().start()
            engine_dir = workdir / database
            engine_dir.mkdir()
            try:
                engine_rows, engine_purges, manifest = run_engine(database, args, cluster, engine_dir)
            finally:
                if cluster:
                    cluster.cleanup()
                    cluster = None
                shutil.rmtree(engine_dir, ignore_errors=True)
            rows += engine_rows
            purges += engine_purges
            seeds.append(manifest)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(bench.SCRIPT_DIR, ignore_errors=True)
    found = verdicts(rows, databases)
    write_results(rows, purges, seeds, found)
    return 0 if all(v["met"] for v in found) and all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
