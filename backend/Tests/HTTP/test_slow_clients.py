"""Slow and silent clients cannot hold connections forever, and cannot slow anyone else
down: idle and request timeouts, and a limit on the size of a request head."""
from __future__ import annotations

import resource
import select
import socket
import statistics
import threading
import time

import pytest
import requests

from api import assert_error

IDLE_TIMEOUT = 5
REQUEST_TIMEOUT = 2


@pytest.fixture
def strict_server(servers):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    return servers.start("sqlite", IDLE_TIMEOUT=str(IDLE_TIMEOUT), REQUEST_TIMEOUT=str(REQUEST_TIMEOUT),
                         MAX_HEADER_SIZE="8192")


def address(server) -> tuple[str, int]:
    host, port = server.url.split("://", 1)[1].split(":")
    return host, int(port)


def is_closed_by_peer(sock: socket.socket) -> bool:
    poller = select.poll()  # select() cannot watch descriptors past 1024
    poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    if not poller.poll(0):
        return False
    try:
        return sock.recv(1024, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def ping_latencies(url: str, count: int = 20) -> list[float]:
    session = requests.Session()
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url + "/api/ping/", timeout=5)
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200
    return latencies


def test_silent_and_slow_header_connections_are_closed_and_ping_stays_fast(strict_server):
    baseline = statistics.median(ping_latencies(strict_server.url))
    silent = [socket.create_connection(address(strict_server), timeout=5) for _ in range(1000)]
    slow = [socket.create_connection(address(strict_server), timeout=5) for _ in range(50)]
    all_open = time.monotonic()
    stop = threading.Event()

    def trickle():
        line = b"GET /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
        position = 0
        while not stop.is_set() and position < len(line):
            for sock in slow:
                try:
                    sock.send(line[position:position + 1])
                except OSError:
                    pass
            position += 1
            stop.wait(0.2)

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        latencies = ping_latencies(strict_server.url)
        assert statistics.median(latencies) < max(0.05, baseline * 5), (baseline, latencies)
        assert max(latencies) < 0.5, latencies
        # Not closed before the timeout: the newest connections are still open...
        assert time.monotonic() - all_open < IDLE_TIMEOUT - 1
        assert not any(is_closed_by_peer(sock) for sock in silent[-20:] + slow[-5:])
        # ...and every one of them is closed soon after it.
        deadline = all_open + IDLE_TIMEOUT + 3
        while time.monotonic() < deadline and not all(is_closed_by_peer(sock) for sock in silent[-10:] + slow[-5:]):
            time.sleep(0.1)
        time.sleep(0.5)
        closed_silent = sum(is_closed_by_peer(sock) for sock in silent)
        closed_slow = sum(is_closed_by_peer(sock) for sock in slow)
        assert closed_silent == len(silent), closed_silent
        assert closed_slow == len(slow), closed_slow
        assert requests.get(strict_server.url + "/api/ping/", timeout=5).status_code == 200
    finally:
        stop.set()
        trickler.join()
        for sock in silent + slow:
            sock.close()


def test_a_body_that_never_finishes_is_cut_off(strict_server):
    with socket.create_connection(address(strict_server), timeout=10) as sock:
        sock.sendall(b"POST /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://localhost:3000\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
        started = time.monotonic()
        sock.settimeout(REQUEST_TIMEOUT + 5)
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        elapsed = time.monotonic() - started
    assert REQUEST_TIMEOUT - 0.5 <= elapsed <= REQUEST_TIMEOUT + 2, elapsed
    assert b"200 OK" not in data
    assert "request body not received in time" in strict_server.logs()


def test_a_connection_between_requests_is_kept_until_the_idle_timeout(strict_server):
    with socket.create_connection(address(strict_server), timeout=10) as sock:
        request = b"GET /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        sock.sendall(request)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(IDLE_TIMEOUT - 2)
        sock.sendall(request)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert sock.recv(4096) == b""  # closed by the server once idle for the timeout
        assert IDLE_TIMEOUT - 1 <= time.monotonic() - started <= IDLE_TIMEOUT + 2


def test_a_request_head_over_the_limit_is_refused_and_the_server_goes_on(strict_server):
    response = requests.get(strict_server.url + "/api/ping/", headers={"X-Big": "a" * 9000}, timeout=5)
    assert_error(response, 431, "headers_too_large")
    assert response.headers["Connection"] == "close"
    assert requests.get(strict_server.url + "/api/ping/", headers={"X-Fine": "a" * 4000}, timeout=5).status_code == 200


def test_timeouts_are_settings_validated_at_start_up(servers):
    from test_general import run_with_env
    for name, value in [("IDLE_TIMEOUT", "0"), ("REQUEST_TIMEOUT", "soon"), ("MAX_HEADER_SIZE", "10")]:
        result = run_with_env(**{name: value})
        assert result.returncode == 2 and name in result.stderr, result
