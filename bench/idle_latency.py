"""`GET /api/todos/` latency over time while many idle event streams are open (issue 11).

Starts a server (SQLite) of its own, opens N idle `GET /api/events/` streams over 100 users,
then a separate process reads the list on one keep-alive connection every INTERVAL ms for
SECONDS seconds, and prints per second: requests, p50, the worst, and how many reads the
stream reader made that second (a heartbeat burst shows there). Periodic spikes that line up
with the stream reads are the heartbeats; spikes right after the opening are the opening.

The sampler is a process of its own so that the stream reader's work (same Python, GIL)
does not delay it.

Usage:
    python3 bench/idle_latency.py --server backend/.build-release/release/todolist-server \
        --streams 10000 --seconds 60 [--heartbeat 15] [--settle 0]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "backend" / "Tests" / "HTTP"))

from servers import ServerProcess, sqlite_url  # noqa: E402

import live  # noqa: E402


def read_answer(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status:
        raise RuntimeError(f"answer {status!r}")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        body += chunk


def sample(port: int, cookie: str, seconds: float, interval: float, results) -> None:
    """(start, latency) of a list read every `interval` seconds, on one keep-alive connection."""
    request = (f"GET /api/todos/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {live.ORIGIN}\r\n"
               f"Cookie: {cookie}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    samples = []
    start = time.monotonic()
    next_at = start
    while next_at - start < seconds:
        now = time.monotonic()
        if next_at > now:
            time.sleep(next_at - now)
        sent = time.monotonic()
        sock.sendall(request)
        read_answer(sock)
        samples.append((sent, time.monotonic() - sent))
        next_at += interval
        if next_at < time.monotonic():  # late: do not send a burst to catch up
            next_at = time.monotonic()
    sock.close()
    results.put(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=str(REPO / "backend" / ".build-release" / "release" / "todolist-server"))
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval-ms", type=float, default=10)
    parser.add_argument("--heartbeat", type=int, default=15, help="HEARTBEAT_INTERVAL for the server")
    parser.add_argument("--settle", type=float, default=0, help="seconds to wait after opening the streams")
    options = parser.parse_args()
    os.environ["TODOLIST_SERVER_BIN"] = str(Path(options.server).resolve())
    server = ServerProcess(sqlite_url(Path(tempfile.mkdtemp(prefix="idle-latency-"))),
                           env={**live.SERVER_ENV, "LOG_LEVEL": "warning",
                                "HEARTBEAT_INTERVAL": str(options.heartbeat)}).start()
    reader = None
    try:
        users = [live.logged_in(server.url, f"idle_lat_{n}_{int(time.time() * 1000)}")
                 for n in range(min(100, max(1, options.streams)))]
        reader = live.StreamReader()
        opened = time.monotonic()
        for n in range(options.streams):
            reader.open(server.url, live.cookie_header(users[n % len(users)]))
        print(f"{options.streams} streams opened in {time.monotonic() - opened:.1f} s; "
              f"RSS {live.rss_kib(server.process.pid) / 1024:.1f} MiB", flush=True)
        time.sleep(options.settle)
        results = multiprocessing.Queue()
        sampler = multiprocessing.Process(
            target=sample, args=(server.port, live.cookie_header(users[0]), options.seconds,
                                 options.interval_ms / 1000, results))
        sampler.start()
        samples = results.get(timeout=options.seconds + 60)
        sampler.join()
    finally:
        if reader:
            reader.close()
        server.stop()
        server.cleanup()
    start = samples[0][0]
    seconds: dict[int, list[float]] = {}
    for sent, latency in samples:
        seconds.setdefault(int(sent - start), []).append(latency * 1000)
    read_counts: dict[int, int] = {}
    for at in (reader.read_times if reader else []):
        if at >= start:
            read_counts[int(at - start)] = read_counts.get(int(at - start), 0) + 1
    print(" second  requests   p50 ms   worst ms  stream reads")
    for second in sorted(seconds):
        values = sorted(seconds[second])
        reads = read_counts.get(second, 0)
        print(f"{second:7d}  {len(values):8d}  {values[len(values) // 2]:7.2f}  {values[-1]:9.2f}  {reads:12d}")
    everything = sorted(latency * 1000 for _, latency in samples)
    print(f"all: {len(everything)} requests, p50 {everything[len(everything) // 2]:.2f} ms, "
          f"p99 {everything[int(len(everything) * 0.99)]:.2f} ms, worst {everything[-1]:.2f} ms")


if __name__ == "__main__":
    main()
