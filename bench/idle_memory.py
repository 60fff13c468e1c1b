"""Where an idle connection's memory goes (issue 11: memory per idle event stream).

Each scenario starts a server of its own (SQLite), warms it (20 users with a stream each, 50
keep-alive connections that made a request), then opens N more connections of one kind and
divides the growth of the server's RSS by N:

- tcp:       accepted connections that have sent nothing;
- keepalive: connections that made one request (GET /api/ping/) and stay open, idle;
- stream:    idle `GET /api/events/` streams (spread over the 20 users).

With --heaptrack FILE the (last) scenario runs under heaptrack instead and the heap's peak is
broken down by allocator (Swift's task allocator, other Swift objects, NIO's byte buffers):
`heaptrack_print -f FILE.zst` shows the call stacks.

Usage:
    python3 bench/idle_memory.py --server backend/.build/debug/todolist-server --connections 2000
    python3 bench/idle_memory.py --scenarios stream --connections 1000 --heaptrack /tmp/streams
Not part of `make bench` (bench/live.py measures the idle streams there); a tool for the
breakdown in docs/performance.md ("Memory per idle stream").
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "backend" / "Tests" / "HTTP"))

from servers import ServerProcess, free_port, sqlite_url  # noqa: E402

import live  # noqa: E402  (the stream reader, log-in and RSS helpers)

SCENARIOS = ["tcp", "keepalive", "stream"]
PING = b"GET /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def ping(port: int) -> socket.socket:
    """A keep-alive connection that has made one request and read its answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(PING)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError(f"connection closed after {answer!r}")
        answer += chunk
    return sock


def open_connections(base: str, port: int, scenario: str, count: int, users, reader: live.StreamReader) -> list:
    held = []
    for n in range(count):
        if scenario == "tcp":
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        elif scenario == "keepalive":
            held.append(ping(port))
        else:
            reader.open(base, live.cookie_header(users[n % len(users)]))
    return held


def warm(base: str, port: int) -> tuple[list, live.StreamReader, list]:
    """What every connection shares is allocated before the measurement starts."""
    users = [live.logged_in(base, f"idle_mem_{n}_{int(time.time() * 1000)}") for n in range(20)]
    reader = live.StreamReader()
    for http in users:
        reader.open(base, live.cookie_header(http))
    return users, reader, [ping(port) for _ in range(50)]


def measure(server_binary: str, scenario: str, count: int) -> float:
    os.environ["TODOLIST_SERVER_BIN"] = server_binary
    server = ServerProcess(sqlite_url(Path(tempfile.mkdtemp(prefix="idle-memory-"))),
                           env={**live.SERVER_ENV, "LOG_LEVEL": "warning"}).start()
    held: list = []
    reader = None
    try:
        users, reader, warm_connections = warm(server.url, server.port)
        held += warm_connections
        time.sleep(1.0)
        before = live.rss_kib(server.process.pid)
        held += open_connections(server.url, server.port, scenario, count, users, reader)
        time.sleep(2.0)
        after = live.rss_kib(server.process.pid)
    finally:
        if reader:
            reader.close()
        for sock in held:
            sock.close()
        server.stop()
        server.cleanup()
    per_connection = (after - before) / count
    print(f"{scenario:9s} {count} connections: RSS {before} -> {after} KiB, {per_connection:.1f} KiB each", flush=True)
    return per_connection


def child_of(parent: int, binary: str) -> int:
    """The server process heaptrack started (its child running `binary`), never another one."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == parent and os.readlink(f"/proc/{entry}/exe") == os.path.realpath(binary):
                    return int(entry)
            except (OSError, ValueError, IndexError):
                continue
        time.sleep(0.1)
    raise RuntimeError("the server under heaptrack was not found")


def heaptrack(server_binary: str, scenario: str, count: int, output: str) -> None:
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "HOST": "127.0.0.1", "PORT": str(port), "FRONTEND_ORIGINS": live.ORIGIN, "BCRYPT_COST": "4",
           "DATABASE_URL": sqlite_url(Path(tempfile.mkdtemp(prefix="idle-memory-"))), "LOG_LEVEL": "warning",
           "SIGNUPS_PER_ADDRESS": "1000000", **live.SERVER_ENV}
    tracker = subprocess.Popen(["heaptrack", "-o", output, server_binary, "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(base + "/api/ping/", timeout=1)
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                tracker.kill()
                raise
            time.sleep(0.1)
    server_pid = child_of(tracker.pid, server_binary)
    users, reader, held = warm(base, port)
    try:
        held += open_connections(base, port, scenario, count, users, reader)
        time.sleep(3.0)
    finally:
        os.kill(server_pid, signal.SIGTERM)  # the heap's peak is recorded by now
        reader.close()
        for sock in held:
            sock.close()
        tracker.wait(timeout=300)
    summary = subprocess.run(
        ["heaptrack_print", "-f", output + ".zst", "--print-peaks", "1", "--print-allocators", "0",
         "--print-temporary", "0", "--print-leaks", "0", "--peak-limit", "3", "--sub-peak-limit", "0"],
        capture_output=True, text=True).stdout
    print(f"{scenario}, {count} connections under heaptrack ({output}.zst); the heap's peak by allocator:")
    lines = summary.splitlines()
    for n, line in enumerate(lines):
        found = re.match(r"([\d.]+[KMG]?) peak memory consumed over (\d+) calls from", line)
        if found and n + 1 < len(lines):
            print(f"  {found.group(1):>8}  {lines[n + 1].strip()[:100]}")
    for line in lines:
        if line.startswith("peak heap memory consumption"):
            print(" ", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=str(REPO / "backend" / ".build" / "debug" / "todolist-server"))
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--heaptrack", metavar="FILE", help="run the last scenario under heaptrack, writing FILE.zst")
    options = parser.parse_args()
    scenarios = options.scenarios.split(",")
    if options.heaptrack:
        heaptrack(options.server, scenarios[-1], options.connections, options.heaptrack)
        return
    for scenario in scenarios:
        measure(options.server, scenario, options.connections)


if __name__ == "__main__":
    main()
