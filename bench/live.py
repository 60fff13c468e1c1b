"""Live update scenarios for bench/bench.py (issue 11).

- fan-out latency: one user holds `streams` open event streams; each of `changes` PATCHes is
  sent one after another, and for every stream the time from the PATCH's response to the
  event's arrival is recorded (p50/p99 over all of them). On PostgreSQL also across two
  instances: the streams on one, the PATCHes sent to the other.
- idle streams: `idle` streams (over 100 users) are opened and left idle; the server's RSS
  growth divided by their number is the memory per idle stream, and `GET /api/todos/` is
  measured with wrk while they are open, saturated (-c32) and paced (bench.paced), and paced
  before they open.

Streams are raw sockets read by one thread through `selectors`, so the reader adds little
and thousands of streams cost the client little.
"""
from __future__ import annotations

import re
import selectors
import socket
import threading
import time
from urllib.parse import urlparse

import requests

ORIGIN = "http://localhost:3000"
FANOUT_P99_LIMIT_MS = {"one instance": 50.0, "two instances": 100.0}
IDLE_KIB_LIMIT = 10.0
EVENT_ID = re.compile(rb"id: (\d+)\nevent: ")

# What the live scenarios need of the server: room for every stream of the run.
SERVER_ENV = {"STREAMS_PER_USER": "1000", "STREAMS_MAX": "100000"}


class StreamReader:
    """Many open `GET /api/events/` streams, read in one thread; records when each event id
    arrives on each stream."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.arrivals: dict[int, list[float]] = {}
        self.lock = threading.Lock()
        self.running = True
        self.opened = 0
        # When each read of a stream happened (monotonic): heartbeats show as bursts.
        self.read_times: list[float] = []
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def open(self, base: str, cookie: str) -> None:
        parsed = urlparse(base)
        sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
        sock.sendall((f"GET /api/events/ HTTP/1.1\r\nHost: {parsed.hostname}:{parsed.port}\r\n"
                      f"Origin: {ORIGIN}\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("stream closed before its head")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status:
            raise RuntimeError(f"stream refused: {status!r}")
        sock.setblocking(False)
        self.sockets.append(sock)
        with self.lock:
            self.selector.register(sock, selectors.EVENT_READ, bytearray(head.split(b"\r\n\r\n", 1)[1]))
            self.opened += 1

    def _run(self) -> None:
        while self.running:
            with self.lock:
                registered = bool(self.selector.get_map())
            if not registered:
                time.sleep(0.01)
                continue
            for key, _ in self.selector.select(timeout=0.05):
                now = time.monotonic()
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    with self.lock:
                        self.selector.unregister(key.fileobj)
                    continue
                self.read_times.append(now)
                buffer: bytearray = key.data
                buffer += data
                for match in EVENT_ID.finditer(buffer):
                    with self.lock:
                        self.arrivals.setdefault(int(match.group(1)), []).append(now)
                # Keep only a tail that may hold the start of the next event.
                del buffer[: max(0, len(buffer) - 64)]

    def arrivals_of(self, event_id: int, count: int, timeout: float = 5.0) -> list[float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                times = list(self.arrivals.get(event_id, []))
            if len(times) >= count:
                return times
            time.sleep(0.001)
        return times

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        for sock in self.sockets:
            sock.close()


def logged_in(base: str, username: str) -> requests.Session:
    http = requests.Session()
    http.headers["Origin"] = ORIGIN
    token = http.get(base + "/api/csrf/").json()["csrfToken"]
    response = http.post(base + "/api/auth/signup/", json={"username": username, "password": "bench-password-1"},
                         headers={"X-CSRFToken": token})
    response.raise_for_status()
    http.headers["X-CSRFToken"] = http.get(base + "/api/csrf/").json()["csrfToken"]
    return http


def cookie_header(http: requests.Session) -> str:
    return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def fanout(sender_base: str, stream_base: str, streams: int, changes: int, label: str, database: str) -> dict:
    """p50/p99 in ms from each PATCH's response to its event on each of `streams` streams."""
    user = f"fanout_{label.replace(' ', '_')}_{int(time.time() * 1000)}"
    http = logged_in(sender_base, user)
    reader = StreamReader()
    try:
        for _ in range(streams):
            reader.open(stream_base, cookie_header(http))
        todo = http.post(sender_base + "/api/todos/", json={"title": "fan-out"}).json()
        latencies: list[float] = []
        missing = 0
        for n in range(changes):
            response = http.patch(f"{sender_base}/api/todos/{todo['id']}/", json={"completed": n % 2 == 0})
            answered = time.monotonic()
            response.raise_for_status()
            # The event's id is the user's next event number: 1 for the create, then one per PATCH.
            times = reader.arrivals_of(n + 2, streams)
            missing += streams - len(times)
            latencies += [max(0.0, t - answered) * 1000 for t in times]
    finally:
        reader.close()
    p99 = percentile(latencies, 0.99)
    return {"scenario": f"live: PATCH → event on {streams} streams ({label})", "database": database,
            "connections": streams, "requests_per_s": 0.0, "p50_ms": percentile(latencies, 0.50), "p99_ms": p99,
            "non_2xx": 0, "errors": missing, "ratio": None, "ok": missing == 0 and p99 is not None,
            "limit_ms": FANOUT_P99_LIMIT_MS[label]}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def warm_pool(base: str, http: requests.Session, clients: int = 32, each: int = 20) -> None:
    """Session reads from `clients` threads at once, so that PostgreSQL's pool has opened all
    the connections that opening the streams will use: their memory is the pool's, not the
    streams'. (The paced list before it does not: on PostgreSQL it is served by the list
    cache, over the cache's own connection.)"""
    cookie = cookie_header(http)

    def read() -> None:
        with requests.Session() as session:
            for _ in range(each):
                session.get(base + "/api/auth/me/", headers={"Origin": ORIGIN, "Cookie": cookie}).raise_for_status()

    threads = [threading.Thread(target=read) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def idle_streams(base: str, pid: int, idle: int, database: str, measure_get) -> tuple[dict, list[dict]]:
    """Opens `idle` streams over up to 100 users; (memory figures, rows measured meanwhile)."""
    users = [logged_in(base, f"idle_{n}_{int(time.time() * 1000)}") for n in range(min(100, idle))]
    rows = measure_get(users[0], False)
    reader = StreamReader()
    try:
        # The first stream of each user warms what every stream shares (the hub's entry, the
        # user's replay read); what grows after that is the streams themselves.
        for http in users:
            reader.open(base, cookie_header(http))
        warm_pool(base, users[0])
        time.sleep(1.0)
        before = rss_kib(pid)
        for n in range(idle - len(users)):
            reader.open(base, cookie_header(users[n % len(users)]))
        time.sleep(2.0)
        after = rss_kib(pid)
        per_stream = (after - before) / max(1, idle - len(users))
        rows += measure_get(users[0], True)
    finally:
        reader.close()
    memory = {"database": database, "streams": idle, "rss_before_kib": before, "rss_after_kib": after,
              "kib_per_stream": per_stream}
    return memory, rows
