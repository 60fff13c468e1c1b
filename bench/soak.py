"""Soak: mixed traffic (reads, creates, patches, deletes, log-ins) from many keep-alive
connections against the real server for a while, then the verdict:

- 0 errors: every request answered, in time, with the status a browser expects
  (no 5xx, no 4xx, no reset or dropped connection, no timeout);
- RSS growth of at most --max-rss-growth (10 %) from the first to the last window
  (mean VmRSS of /proc/<pid>/status, sampled every 0.5 s);
- the server still answers /api/ping/ and /api/health/ promptly at the end, and a new
  user can sign up and create a todo.

Each connection is one virtual client: its own user, and its own address through
X-Forwarded-For (the loopback peer is a trusted proxy), so the production throttles and
the bcrypt queue's per-address share apply with their defaults and nothing is throttled:
log-ins use the right password, one at a time per client.

Usage: python3 bench/soak.py [--duration 60] [--connections 128] [--databases sqlite,postgres]
(`make soak` runs the full length; `make test` a short one). Exit status 1 on any failure.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "backend" / "Tests" / "HTTP"))

from servers import PostgresCluster, ServerProcess, sqlite_url  # noqa: E402

ORIGIN = "http://localhost:3000"
PASSWORD = "soak password 1"
REQUEST_TIMEOUT_S = 10
# Todos each client keeps: beyond this it deletes instead of creating, so lists stay small.
TODOS_PER_CLIENT = 30
SERVER_ENV = {"TRUSTED_PROXIES": "127.0.0.1", "LOG_LEVEL": "warning"}


class HTTPConnection:
    """One keep-alive HTTP/1.1 connection, just enough of the protocol for this server."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed by the server")
        status = int(status_line.split()[1])
        response_headers: list[tuple[str, str]] = []
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            response_headers.append((name.strip().lower(), value.strip()))
        fields = dict(response_headers)
        if fields.get("transfer-encoding", "").lower() == "chunked":
            payload = b""
            while (size := int((await self.reader.readline()).split(b";")[0], 16)) > 0:
                payload += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
        else:
            payload = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, response_headers, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Stats:
    def __init__(self):
        self.count = Counter()        # per operation
        self.failures: list[str] = []
        self.latencies: list[float] = []
        self.statuses = Counter()

    def record(self, operation: str, status: int | None, seconds: float, failure: str | None) -> None:
        self.count[operation] += 1
        self.latencies.append(seconds)
        if status is not None:
            self.statuses[f"{status // 100}xx"] += 1
        if failure:
            self.failures.append(f"{operation}: {failure}")


class VirtualClient:
    """A browser-like client: its own user, cookies, CSRF token and address."""

    def __init__(self, port: int, index: int, stats: Stats, run_id: str):
        self.connection = HTTPConnection(port)
        self.username = f"soak_{run_id}_{index}"
        self.address = f"10.{77 + index // 65536}.{index // 256 % 256}.{index % 256}"
        self.cookies: dict[str, str] = {}
        self.token = ""
        self.todos: list[int] = []
        self.stats = stats
        self.random = random.Random(index)

    def headers(self, unsafe: bool) -> dict[str, str]:
        headers = {"Origin": ORIGIN, "X-Forwarded-For": self.address}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if unsafe:
            headers["X-CSRFToken"] = self.token
        return headers

    async def call(self, operation: str, method: str, path: str, expected: int, body=None, record=True):
        """The response's JSON on the expected status; None (and a recorded failure) otherwise."""
        started = time.monotonic()
        status, failure, document = None, None, None
        try:
            payload = None if body is None else json.dumps(body).encode()
            status, headers, raw = await asyncio.wait_for(
                self.connection.request(method, path, self.headers(method not in ("GET", "HEAD")), payload),
                REQUEST_TIMEOUT_S)
            self.take_cookies(headers)
            if status != expected:
                failure = f"{status} {raw[:200]!r}"
            elif raw:
                document = json.loads(raw)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            failure = repr(error)
            self.connection.close()
        if record:
            self.stats.record(operation, status, time.monotonic() - started, failure)
        elif failure:
            raise RuntimeError(f"{operation}: {failure}")
        return document if failure is None else None

    def take_cookies(self, headers: list[tuple[str, str]]) -> None:
        for name, value in headers:
            if name != "set-cookie":
                continue
            pair = value.split(";", 1)[0]
            cookie, _, content = pair.partition("=")
            attributes = value.lower()
            if not content or "max-age=0" in attributes:
                self.cookies.pop(cookie.strip(), None)
            else:
                self.cookies[cookie.strip()] = content.strip()

    async def refresh_token(self, record=True) -> None:
        document = await self.call("GET /api/csrf/", "GET", "/api/csrf/", 200, record=record)
        if document:
            self.token = document["csrfToken"]

    async def sign_up(self) -> None:
        await self.refresh_token(record=False)
        await self.call("sign-up", "POST", "/api/auth/signup/", 201,
                        {"username": self.username, "password": PASSWORD}, record=False)
        await self.refresh_token(record=False)

    async def step(self) -> None:
        roll = self.random.random()
        if roll < 0.35:
            await self.call("GET /api/todos/", "GET", "/api/todos/", 200)
        elif roll < 0.45 and self.todos:
            await self.call("GET /api/todos/<id>/", "GET", f"/api/todos/{self.random.choice(self.todos)}/", 200)
        elif roll < 0.65:
            if len(self.todos) >= TODOS_PER_CLIENT:
                todo = self.todos.pop(0)
                await self.call("DELETE /api/todos/<id>/", "DELETE", f"/api/todos/{todo}/", 204)
            else:
                created = await self.call("POST /api/todos/", "POST", "/api/todos/", 201,
                                          {"title": f"soak todo {self.random.random()}"})
                if created:
                    self.todos.append(created["id"])
        elif roll < 0.85 and self.todos:
            body = self.random.choice([{"completed": self.random.random() < 0.5},
                                       {"title": f"renamed {self.random.random()}"},
                                       {"order": self.random.randint(-1000, 1000)}])
            await self.call("PATCH /api/todos/<id>/", "PATCH", f"/api/todos/{self.random.choice(self.todos)}/",
                            200, body)
        elif roll < 0.90:
            await self.call("GET /api/auth/me/", "GET", "/api/auth/me/", 200)
        elif roll < 0.94:
            # A log-in rotates the CSRF secret, so the browser fetches its token again.
            await self.call("log-in", "POST", "/api/auth/login/", 200,
                            {"username": self.username, "password": PASSWORD})
            await self.refresh_token()
        else:
            await self.call("POST /api/ping/", "POST", "/api/ping/", 200)

    async def run_until(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            await self.step()


class RSSSampler:
    def __init__(self, pid: int):
        self.pid = pid
        self.samples: list[tuple[float, float]] = []  # seconds since start, MiB

    async def run(self, started: float, deadline: float, interval: float = 0.5) -> None:
        while time.monotonic() < deadline:
            self.samples.append((time.monotonic() - started, rss_mib(self.pid)))
            await asyncio.sleep(interval)
        self.samples.append((time.monotonic() - started, rss_mib(self.pid)))

    def window_mean(self, start: float, end: float) -> float:
        return statistics.fmean(mib for at, mib in self.samples if start <= at <= end)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def soak(server: ServerProcess, duration: float, connections: int, window: float) -> dict:
    stats = Stats()
    run_id = os.urandom(4).hex()
    clients = [VirtualClient(server.port, index, stats, run_id) for index in range(connections)]
    # Sign-ups are set-up, not load: a few at a time, within the bcrypt queue's bound.
    gate = asyncio.Semaphore(8)

    async def sign_up(client: VirtualClient) -> None:
        async with gate:
            await client.sign_up()
    await asyncio.gather(*(sign_up(client) for client in clients))

    sampler = RSSSampler(server.process.pid)
    started = time.monotonic()
    deadline = started + duration
    await asyncio.gather(sampler.run(started, deadline), *(client.run_until(deadline) for client in clients))
    elapsed = time.monotonic() - started
    for client in clients:
        client.connection.close()

    first = sampler.window_mean(0, window)
    last = sampler.window_mean(elapsed - window, elapsed)
    latencies = sorted(stats.latencies)
    return {
        "seconds": round(elapsed, 1),
        "connections": connections,
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "by_operation": dict(stats.count),
        "statuses": dict(sorted(stats.statuses.items())),
        "failures": len(stats.failures),
        "failure_examples": stats.failures[:10],
        "rss_first_window_mib": round(first, 1),
        "rss_last_window_mib": round(last, 1),
        "rss_growth_percent": round((last / first - 1) * 100, 1),
        "rss_peak_mib": round(max(mib for _, mib in sampler.samples), 1),
        "window_s": window,
    }


def still_healthy(server: ServerProcess) -> list[str]:
    """Problems with the server after the soak (none when it serves as before)."""
    problems = []
    for path in ("/api/ping/", "/api/health/"):
        started = time.monotonic()
        response = requests.get(server.url + path, timeout=5)
        seconds = time.monotonic() - started
        if response.status_code != 200 or seconds > 1:
            problems.append(f"GET {path}: {response.status_code} after {seconds:.2f}s")
    http = requests.Session()
    http.headers.update({"Origin": ORIGIN, "X-Forwarded-For": "10.200.0.1"})
    token = http.get(server.url + "/api/csrf/", timeout=5).json()["csrfToken"]
    signed = http.post(server.url + "/api/auth/signup/", json={"username": "after_soak", "password": PASSWORD},
                       headers={"X-CSRFToken": token}, timeout=10)
    token = http.get(server.url + "/api/csrf/", timeout=5).json()["csrfToken"]
    created = http.post(server.url + "/api/todos/", json={"title": "after the soak"},
                        headers={"X-CSRFToken": token}, timeout=10)
    if signed.status_code != 201 or created.status_code != 201:
        problems.append(f"sign-up {signed.status_code}, create {created.status_code}")
    if server.process.poll() is not None:
        problems.append(f"the server exited with {server.process.returncode}")
    return problems


def run_one(database: str, args, workdir: Path) -> dict:
    cluster = None
    try:
        if database == "postgres":
            cluster = PostgresCluster().start()
            url = cluster.create_database()
        else:
            folder = workdir / "sqlite"
            folder.mkdir(parents=True, exist_ok=True)
            url = sqlite_url(folder)
        server = ServerProcess(url, env=SERVER_ENV).start()
        try:
            result = asyncio.run(soak(server, args.duration, args.connections, args.window))
            result["database"] = database
            result["after"] = still_healthy(server)
            log_errors = [line for line in server.logs().splitlines() if line.split(" ")[1:2] in (["error"], ["critical"])]
            result["server_log_errors"] = log_errors[:5]
        finally:
            server.cleanup()
        return result
    finally:
        if cluster is not None:
            cluster.cleanup()


def verdict(result: dict, max_growth: float) -> list[str]:
    problems = []
    if result["failures"]:
        problems.append(f"{result['failures']} failed requests, e.g. {result['failure_examples'][:3]}")
    if result["rss_growth_percent"] > max_growth:
        problems.append(f"RSS grew {result['rss_growth_percent']} % (limit {max_growth} %)")
    problems += result["after"]
    problems += [f"server log: {line}" for line in result["server_log_errors"]]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--window", type=float, default=None, help="RSS window in seconds (default: 10, or a "
                        "quarter of a shorter run)")
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--max-rss-growth", type=float, default=10.0, help="percent")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.window = args.window or min(10.0, args.duration / 4)

    import tempfile
    failed = False
    results = []
    with tempfile.TemporaryDirectory(prefix="todolist-soak-") as workdir:
        for database in args.databases.split(","):
            result = run_one(database, args, Path(workdir) / database)
            problems = verdict(result, args.max_rss_growth)
            results.append(result | {"problems": problems})
            print(f"soak {database}: {result['seconds']} s, {result['connections']} connections, "
                  f"{result['requests']} requests ({result['requests_per_s']}/s), statuses {result['statuses']}, "
                  f"{result['failures']} failures; latency p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
                  f"max {result['max_ms']} ms; RSS first {result['window_s']:g} s {result['rss_first_window_mib']} MiB, "
                  f"last {result['rss_last_window_mib']} MiB ({result['rss_growth_percent']:+} %), "
                  f"peak {result['rss_peak_mib']} MiB")
            print(f"  operations: {result['by_operation']}")
            for problem in problems:
                print(f"  FAIL {problem}")
            failed |= bool(problems)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print("soak: FAIL" if failed else "soak: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
