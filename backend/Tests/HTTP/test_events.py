"""GET /api/events/: live updates as Server-Sent Events (issue 11).

A small SSE reader (http.client in a thread; every wait bounded) opens real streams on the
real server and checks what a browser's EventSource would see: refusals before any
stream, event shapes and order, replay after Last-Event-ID, heartbeats, streams ended
with their session, the stream limits, and, on PostgreSQL, two instances sharing the
database and a database restart.
"""
from __future__ import annotations

import http.client
import json
import queue
import signal
import socket
import sqlite3
import threading
import time
from urllib.parse import urlparse

import pytest
import requests

from accounts import PASSWORD, signed_up, unique_name
from api import FRONTEND_ORIGIN, ApiClient, assert_error
from servers import PostgresCluster

CLOSED = object()


class EventStream:
    """One `GET /api/events/` connection, read in a thread into a queue of events.

    Each item is a dict with `id`, `event`, `data` (parsed JSON), or `{"comment": text, "at":
    monotonic arrival time}` for a heartbeat, or `CLOSED` when the server ended the stream."""

    def __init__(self, base_url: str, client: ApiClient | None = None, *, origin: str | None = FRONTEND_ORIGIN,
                 last_event_id: str | None = None, headers: dict | None = None, timeout: float = 10,
                 after: str | None = None):
        """`after`: a path read with GET on the same connection first (a browser reusing a
        keep-alive connection); without it the stream has a connection of its own."""
        parsed = urlparse(base_url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
        if after is not None:
            self.connection.request("GET", after)
            earlier = self.connection.getresponse()
            earlier.read()
            assert earlier.status == 200 and earlier.getheader("Connection") != "close", earlier.status
        request_headers = {"Accept": "text/event-stream"}
        if origin:
            request_headers["Origin"] = origin
        if client is not None:
            cookies = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies)
            if cookies:
                request_headers["Cookie"] = cookies
        if last_event_id is not None:
            request_headers["Last-Event-ID"] = last_event_id
        request_headers.update(headers or {})
        self.connection.request("GET", "/api/events/", headers=request_headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = self.response.headers
        self.items: queue.Queue = queue.Queue()
        self.retry: int | None = None
        self.preamble_id: str | None = None
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = self.response.read()

    def json(self):
        return json.loads(self.body)

    def _read(self) -> None:
        fields: dict[str, str] = {}
        data: list[str] = []
        try:
            while True:
                raw = self.response.readline()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        self.items.put({"id": fields.get("id"), "event": fields.get("event", "message"),
                                        "data": json.loads("\n".join(data))})
                    elif "id" in fields and self.preamble_id is None:
                        self.preamble_id = fields["id"]
                    fields, data = {}, []
                elif line.startswith(":"):
                    self.items.put({"comment": line[1:], "at": time.monotonic()})
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "data":
                        data.append(value)
                    elif name == "retry":
                        self.retry = int(value)
                    else:
                        fields[name] = value
        except Exception:  # noqa: BLE001 - a reset or timeout ends the stream too
            pass
        self.items.put(CLOSED)

    def next(self, timeout: float = 3.0, heartbeats: bool = False):
        """The next event (heartbeats skipped unless asked for), `CLOSED`, or a failure."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no event arrived in time")
            try:
                item = self.items.get(timeout=remaining)
            except queue.Empty:
                raise AssertionError("no event arrived in time") from None
            if item is not CLOSED and "comment" in item and not heartbeats:
                continue
            return item

    def events(self, count: int, timeout: float = 3.0) -> list[dict]:
        got = [self.next(timeout) for _ in range(count)]
        assert CLOSED not in got, got
        return got

    def assert_quiet(self, seconds: float = 0.5) -> None:
        try:
            item = self.next(seconds)
        except AssertionError:
            return
        raise AssertionError(f"unexpected item {item!r}")

    def assert_closed(self, within: float = 1.0, reason: str | None = None) -> None:
        """The server ends the stream within `within` seconds: with a final `closed` event
        naming `reason` (the client must not reconnect by itself), or, with no reason, with
        no event at all (the client reconnects)."""
        started = time.monotonic()
        item = self.next(within + 0.5)
        if reason is not None:
            assert item is not CLOSED and item["event"] == "closed", item
            assert item["data"] == {"reason": reason}, item
            assert item["id"] is not None and item["id"].isdigit(), item
            item = self.next(max(0.1, within + 0.5 - (time.monotonic() - started)))
        assert item is CLOSED, item
        assert time.monotonic() - started <= within + 0.25

    def close(self) -> None:
        try:
            self.connection.sock and self.connection.sock.shutdown(2)
        except OSError:
            pass
        self.connection.close()


@pytest.fixture
def streams():
    opened: list[EventStream] = []

    def open_stream(*args, **kwargs) -> EventStream:
        stream = EventStream(*args, **kwargs)
        opened.append(stream)
        return stream

    yield open_stream
    for stream in opened:
        stream.close()


def second_device(base_url: str, username: str) -> ApiClient:
    other = ApiClient(base_url)
    assert other.login(username, PASSWORD).status_code == 200
    return other


def new_user(base_url: str) -> tuple[ApiClient, str]:
    name = unique_name("live")
    return signed_up(base_url, name), name


# MARK: refusals and headers


def test_logged_out_gets_401_json_and_no_stream(sqlite_server, streams):
    stream = streams(sqlite_server.url)
    assert stream.status == 401
    assert stream.json()["error"] == "not_authenticated"
    assert stream.headers["Content-Type"].startswith("application/json")


def test_foreign_origin_is_refused_with_403_before_any_stream(sqlite_server, streams):
    client, _ = new_user(sqlite_server.url)
    for origin in ("http://evil.example", "null", "http://localhost:3001", "https://localhost:3000"):
        stream = streams(sqlite_server.url, client, origin=origin)
        assert stream.status == 403, origin
        assert stream.json()["error"] == "origin_not_allowed"
        # Not readable by the foreign page either.
        assert "Access-Control-Allow-Origin" not in stream.headers
    logged_out = streams(sqlite_server.url, origin="http://evil.example")
    assert logged_out.status == 403


def test_allowed_origin_gets_the_stream_with_cors_and_streaming_headers(sqlite_server, streams):
    client, _ = new_user(sqlite_server.url)
    stream = streams(sqlite_server.url, client)
    assert stream.status == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    assert stream.headers["Cache-Control"] == "no-store"
    assert stream.headers["X-Accel-Buffering"] == "no"
    assert stream.headers["Access-Control-Allow-Origin"] == FRONTEND_ORIGIN
    assert stream.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Content-Length" not in stream.headers
    client.post("/api/todos/", json={"title": "first"})
    event = stream.next()
    assert stream.retry and stream.retry > 0
    assert stream.preamble_id == "0"
    assert event["event"] == "todo.created"


def test_same_origin_without_origin_header_is_served(sqlite_server, streams):
    client, _ = new_user(sqlite_server.url)
    assert streams(sqlite_server.url, client, origin=None).status == 200


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_request_from_another_site_without_origin_is_refused(sqlite_server, streams, site):
    # A top-level navigation or an <img> from another site carries the SameSite=Lax cookie
    # and no Origin; the browser's Sec-Fetch-Site still says where it came from.
    client, _ = new_user(sqlite_server.url)
    stream = streams(sqlite_server.url, client, origin=None, headers={"Sec-Fetch-Site": site})
    assert stream.status == 403
    assert stream.json()["error"] == "origin_not_allowed"
    for own in ("same-origin", "none"):
        assert streams(sqlite_server.url, client, origin=None, headers={"Sec-Fetch-Site": own}).status == 200


def test_head_answers_the_streams_headers_without_opening_one(servers, streams):
    # HEAD is answered (Allow lists it) but opens nothing: it neither holds a slot nor
    # closes the user's oldest stream.
    server = servers.start("sqlite", STREAMS_PER_USER="2", STREAMS_MAX="2")
    client, _ = new_user(server.url)
    first = streams(server.url, client)
    assert first.status == 200
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies)
    heads = []
    for _ in range(3):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("HEAD", "/api/events/", headers={"Origin": FRONTEND_ORIGIN, "Cookie": cookies})
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200
        assert answer.getheader("Content-Type").startswith("text/event-stream")
        heads.append(connection)  # kept open, as a keep-alive connection would be
    try:
        second = streams(server.url, client)
        assert second.status == 200
        first.assert_quiet(0.5)
        client.post("/api/todos/", json={"title": "x"})
        assert first.next()["event"] == "todo.created"
        assert second.next()["event"] == "todo.created"
    finally:
        for connection in heads:
            connection.close()


def test_bearer_token_cannot_open_a_stream(sqlite_server, streams):
    client, _ = new_user(sqlite_server.url)
    token = client.post("/api/auth/tokens/", json={"name": "script", "abilities": ["todos:read", "todos:write"]})
    assert token.status_code == 201, token.text
    stream = streams(sqlite_server.url, origin=None, headers={"Authorization": "Bearer " + token.json()["token"]})
    assert stream.status == 403
    assert stream.json()["error"] == "session_required"


# MARK: events


def test_every_change_kind_arrives_in_order_with_the_rest_apis_data(server, streams):
    laptop, name = new_user(server.url)
    phone = second_device(server.url, name)
    stream = streams(server.url, laptop)
    assert stream.status == 200

    created = phone.post("/api/todos/", json={"title": "Buy milk \u2028 \"quoted\" \n"}).json()
    second = phone.post("/api/todos/", json={"title": "x" * 500, "completed": True}).json()
    updated = phone.patch(f"/api/todos/{created['id']}/", json={"title": "Buy oat milk", "order": 7}).json()
    assert phone.patch("/api/todos/", json={"completed": True}).json() == {"updated": 1}
    assert phone.delete("/api/todos/?completed=true").json() == {"deleted": 2}
    third = laptop.post("/api/todos/", json={"title": "again"}).json()
    assert phone.delete(f"/api/todos/{third['id']}/").status_code == 204

    events = stream.events(7)
    assert [e["event"] for e in events] == [
        "todo.created", "todo.created", "todo.updated", "todos.completed", "todos.cleared", "todo.created",
        "todo.deleted"]
    ids = [int(e["id"]) for e in events]
    assert ids == list(range(ids[0], ids[0] + 7))
    assert events[0]["data"] == created
    assert events[1]["data"] == second
    assert events[2]["data"] == updated
    toggled = events[3]["data"]
    assert toggled["ids"] == [created["id"]] and toggled["completed"] is True
    assert toggled["updatedAt"] >= updated["updatedAt"]
    assert sorted(events[4]["data"]["ids"]) == sorted([created["id"], second["id"]])
    assert events[5]["data"] == third
    assert events[6]["data"] == {"id": third["id"]}
    stream.assert_quiet(0.3)


def test_changes_made_at_once_by_many_devices_all_arrive_in_id_order(server, streams):
    # Requests of one user commit on both event loops at once; every stream must get every
    # event, in id order, or a resync: an event never silently goes missing.
    laptop, name = new_user(server.url)
    devices = [second_device(server.url, name) for _ in range(8)]
    first, second = streams(server.url, laptop), streams(server.url, laptop)
    assert first.status == second.status == 200
    per_device = 40

    def create_many(device: ApiClient) -> None:
        for index in range(per_device):
            assert device.post("/api/todos/", json={"title": f"t{index}"}).status_code == 201

    threads = [threading.Thread(target=create_many, args=(device,)) for device in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = len(devices) * per_device
    for stream in (first, second):
        events = stream.events(expected, timeout=5)
        assert [e["event"] for e in events] == ["todo.created"] * expected, [e for e in events if e["event"] != "todo.created"][:3]
        ids = [int(e["id"]) for e in events]
        assert ids == list(range(ids[0], ids[0] + expected))
        stream.assert_quiet(0.3)


def test_changes_that_change_nothing_send_nothing_and_other_users_see_nothing(server, streams):
    alice, _ = new_user(server.url)
    bob, _ = new_user(server.url)
    stream = streams(server.url, alice)
    assert alice.patch("/api/todos/", json={"completed": True}).json() == {"updated": 0}
    assert alice.delete("/api/todos/?completed=true").json() == {"deleted": 0}
    assert alice.delete("/api/todos/999999/").status_code == 404
    assert alice.post("/api/todos/", json={"title": " "}).status_code == 400
    bob.post("/api/todos/", json={"title": "bob's"})
    stream.assert_quiet(0.5)


# MARK: Last-Event-ID


def test_last_event_id_replays_what_was_missed(server, streams):
    client, _ = new_user(server.url)
    first = streams(server.url, client)
    client.post("/api/todos/", json={"title": "one"})
    seen = first.next()
    first.close()
    missed = [client.post("/api/todos/", json={"title": f"missed {n}"}).json() for n in range(3)]

    again = streams(server.url, client, last_event_id=seen["id"])
    replayed = again.events(3)
    assert [e["data"] for e in replayed] == missed
    assert [int(e["id"]) for e in replayed] == [int(seen["id"]) + n for n in (1, 2, 3)]
    # Then live events continue after the replay, without repeats.
    live = client.post("/api/todos/", json={"title": "live"}).json()
    event = again.next()
    assert event["data"] == live and int(event["id"]) == int(seen["id"]) + 4
    again.assert_quiet(0.3)

    # Up to date: nothing to replay.
    current = streams(server.url, client, last_event_id=event["id"])
    current.assert_quiet(0.3)
    # The preamble's id lets a reconnect before any event resume from the opening.
    assert current.preamble_id == event["id"]


def test_last_event_id_too_old_unknown_or_foreign_gets_one_resync(servers, db, streams):
    server = servers.start(db, EVENTS_KEPT_PER_USER="3")
    client, _ = new_user(server.url)
    for n in range(6):
        client.post("/api/todos/", json={"title": f"t{n}"})
    # Events 1..6 exist, 4..6 kept: resuming after 3 is complete, after 2 is not.
    complete = streams(server.url, client, last_event_id="3")
    assert [int(e["id"]) for e in complete.events(3)] == [4, 5, 6]
    # Older than the kept events: `too_old`; an id this user never had (ahead of the newest:
    # another database, a re-created account) or not a number: `unknown_last_event_id`.
    for last, reason in (("2", "too_old"), ("0", "too_old"), ("99", "unknown_last_event_id"),
                         ("abc", "unknown_last_event_id"), ("-1", "unknown_last_event_id")):
        stream = streams(server.url, client, last_event_id=last)
        event = stream.next()
        assert event["event"] == "resync", (last, event)
        assert event["data"] == {"reason": reason}, (last, event)
        assert event["id"] == "6"
        stream.assert_quiet(0.2)


# MARK: heartbeat


def test_heartbeat_comments_keep_an_idle_stream_open(servers, streams):
    server = servers.start("sqlite", HEARTBEAT_INTERVAL="1", IDLE_TIMEOUT="1", REQUEST_TIMEOUT="1")
    client, _ = new_user(server.url)
    stream = streams(server.url, client)
    beats = [stream.next(2.5, heartbeats=True) for _ in range(3)]
    assert all(beat is not CLOSED and "comment" in beat for beat in beats), beats
    # Still open and delivering past the idle and request timeouts.
    client.post("/api/todos/", json={"title": "still here"})
    assert stream.next()["event"] == "todo.created"


def test_heartbeats_of_streams_opened_together_are_spread_over_the_interval(servers, streams):
    """Streams opened at once (a server restart reconnects thousands) do not all get their
    heartbeat at the same instant: a burst of writes to every stream at once stalls the other
    requests. Each stream still gets one every interval."""
    interval = 2.0
    server = servers.start("sqlite", HEARTBEAT_INTERVAL=str(int(interval)), STREAMS_PER_USER="20")
    client, _ = new_user(server.url)
    opened = [streams(server.url, client) for _ in range(20)]
    first = [stream.next(interval + 1.5, heartbeats=True) for stream in opened]
    assert all(beat is not CLOSED and "comment" in beat for beat in first), first
    times = sorted(beat["at"] for beat in first)
    window = interval / 8
    crowded = max(sum(1 for t in times if start <= t < start + window) for start in times)
    assert crowded <= len(times) // 2, (
        f"{crowded} of {len(times)} first heartbeats within {window:.2f} s: "
        f"{[round(t - times[0], 3) for t in times]}")
    for stream, beat in zip(opened, first):
        following = stream.next(interval + 1.5, heartbeats=True)
        assert following is not CLOSED and "comment" in following, following
        assert interval - 0.5 <= following["at"] - beat["at"] <= interval + 0.5, following["at"] - beat["at"]


# MARK: sessions end their streams


def test_log_out_ends_that_sessions_streams_only(server, streams):
    laptop, name = new_user(server.url)
    phone = second_device(server.url, name)
    laptop_stream = streams(server.url, laptop)
    phone_stream = streams(server.url, phone)
    assert laptop.logout().status_code == 204
    laptop_stream.assert_closed(within=1.0, reason="session_ended")
    phone.post("/api/todos/", json={"title": "phone still live"})
    assert phone_stream.next()["event"] == "todo.created"


def test_ending_a_session_from_the_list_ends_its_stream(server, streams):
    laptop, name = new_user(server.url)
    phone = second_device(server.url, name)
    phone_stream = streams(server.url, phone)
    laptop_stream = streams(server.url, laptop)
    sessions = laptop.get("/api/auth/sessions/").json()["sessions"]
    phone_id = next(s["id"] for s in sessions if not s["current"])
    assert laptop.delete(f"/api/auth/sessions/{phone_id}/").status_code == 204
    phone_stream.assert_closed(within=1.0, reason="session_ended")
    laptop_stream.assert_quiet(0.2)


def test_password_change_ends_the_other_sessions_streams(server, streams):
    laptop, name = new_user(server.url)
    phone = second_device(server.url, name)
    phone_stream = streams(server.url, phone)
    laptop_stream = streams(server.url, laptop)
    response = laptop.post("/api/auth/password/", json={"currentPassword": PASSWORD, "newPassword": "another good one"})
    assert response.status_code == 200, response.text
    phone_stream.assert_closed(within=1.0, reason="session_ended")
    # The changing browser's stream belonged to its old session: it ends too, and the app,
    # finding itself still logged in (the new cookie), opens a new one.
    laptop_stream.assert_closed(within=1.0, reason="session_ended")
    # The changed session reconnects with its new cookie.
    laptop.fetch_token()
    assert streams(server.url, laptop).status == 200


def test_log_out_everywhere_else_and_account_deletion_end_streams(server, streams):
    laptop, name = new_user(server.url)
    phone = second_device(server.url, name)
    tablet = second_device(server.url, name)
    phone_stream = streams(server.url, phone)
    laptop_stream = streams(server.url, laptop)
    assert laptop.delete("/api/auth/sessions/").json() == {"ended": 2}
    phone_stream.assert_closed(within=1.0, reason="session_ended")
    laptop_stream.assert_quiet(0.2)
    assert laptop.delete("/api/auth/me/", json={"password": PASSWORD}).status_code == 204
    laptop_stream.assert_closed(within=1.0, reason="session_ended")
    assert tablet.get("/api/todos/").status_code == 401


def test_expired_session_ends_its_stream(servers, streams):
    sqlite_server = servers.start("sqlite", SESSION_LIFETIME="60")
    client, name = new_user(sqlite_server.url)
    # The shortest SESSION_LIFETIME is a minute, and a session in use is pushed out once
    # half of it has passed: made to expire in 32 s, the session is not pushed out by the
    # stream's request (28 s of the minute gone), and the stream ends when it expires.
    path = sqlite_server.database_url.removeprefix("sqlite://")
    now = int(time.time() * 1000)
    with sqlite3.connect(path, timeout=5) as connection:
        connection.execute(
            "UPDATE sessions SET expires_at = ?, last_seen_at = ? "
            "WHERE user_id = (SELECT id FROM users WHERE username = ?)", (now + 32_000, now, name))
    stream = streams(sqlite_server.url, client, timeout=45)
    assert stream.status == 200
    stream.assert_quiet(30 - (time.time() * 1000 - now) / 1000)
    stream.assert_closed(within=3, reason="session_expired")
    assert streams(sqlite_server.url, client).status == 401


# MARK: limits


def test_streams_past_the_per_user_limit_close_the_oldest(servers, streams):
    server = servers.start("sqlite", STREAMS_PER_USER="2")
    client, _ = new_user(server.url)
    first = streams(server.url, client)
    second = streams(server.url, client)
    third = streams(server.url, client)
    assert [s.status for s in (first, second, third)] == [200, 200, 200]
    first.assert_closed(within=1.0, reason="too_many_streams")
    client.post("/api/todos/", json={"title": "x"})
    assert second.next()["event"] == "todo.created"
    assert third.next()["event"] == "todo.created"


def test_a_stream_closed_by_the_per_user_limit_is_told_why_and_the_others_stay(sqlite_server, streams):
    """With the default limit (10), an eleventh tab would otherwise evict the oldest, whose
    browser reconnects after `retry:` and evicts the next, and so on: the evicted stream gets a
    final `closed` event (so the app stops instead of reconnecting), then its end."""
    client, _ = new_user(sqlite_server.url)
    opened = [streams(sqlite_server.url, client) for _ in range(11)]
    assert [s.status for s in opened] == [200] * 11
    oldest, rest = opened[0], opened[1:]
    oldest.assert_closed(within=1.0, reason="too_many_streams")
    todo = client.post("/api/todos/", json={"title": "to the ten"}).json()
    for stream in rest:
        event = stream.next()
        assert event["event"] == "todo.created" and event["data"] == todo


def test_server_shutdown_ends_streams_without_a_reason_so_clients_reconnect(servers, streams):
    server = servers.start("sqlite")
    client, _ = new_user(server.url)
    own = streams(server.url, client)
    shared = streams(server.url, client, after="/api/ping/")
    assert own.status == 200 and shared.status == 200
    server.process.send_signal(signal.SIGTERM)
    own.assert_closed(within=3.0)
    shared.assert_closed(within=3.0)
    assert server.process.wait(timeout=10) == 0


def test_a_stream_on_a_connection_that_answered_requests_before_works_alike(server, streams):
    """A stream normally has a connection of its own, which the server answers without a
    task (EventStreamConnection); a browser may reuse a keep-alive connection instead."""
    client, _ = new_user(server.url)
    own = streams(server.url, client)
    shared = streams(server.url, client, after="/api/ping/")
    assert shared.status == 200 and shared.headers["Content-Type"].startswith("text/event-stream")
    created = client.post("/api/todos/", json={"title": "seen on both"}).json()
    for stream in (own, shared):
        event = stream.next()
        assert event["event"] == "todo.created" and event["data"] == created, event
    assert client.logout().status_code == 204
    own.assert_closed(within=1.0, reason="session_ended")
    shared.assert_closed(within=1.0, reason="session_ended")


def test_a_stream_on_a_shared_connection_whose_client_leaves_frees_its_slot_at_once(servers, streams):
    # A browser often opens EventSource on a keep-alive connection that served requests
    # before. When that tab goes, its stream must stop counting at once, not at the next
    # heartbeat: else the user's next stream (the reloaded tab) evicts a live one.
    server = servers.start("sqlite", STREAMS_PER_USER="2")
    client, _ = new_user(server.url)
    first = streams(server.url, client, after="/api/ping/")
    second = streams(server.url, client, after="/api/ping/")
    assert first.status == second.status == 200
    second.close()
    time.sleep(0.3)
    reloaded = streams(server.url, client, after="/api/ping/")
    assert reloaded.status == 200
    first.assert_quiet(0.5)
    client.post("/api/todos/", json={"title": "x"})
    assert first.next()["event"] == "todo.created"
    assert reloaded.next()["event"] == "todo.created"


def test_a_refused_stream_on_its_own_connection_is_answered_and_the_connection_closed(sqlite_server, streams):
    stream = streams(sqlite_server.url, None)
    assert stream.status == 401
    assert stream.json()["error"] == "not_authenticated"
    assert stream.headers["Content-Type"].startswith("application/json")
    assert stream.headers["Connection"] == "close"
    assert stream.headers["Date"].endswith(" GMT")
    # The server closes it (seen on a socket of our own: http.client closes its own on
    # `Connection: close`).
    parsed = urlparse(sqlite_server.url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=2) as raw:
        raw.sendall(b"GET /api/events/ HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        received = b""
        while chunk := raw.recv(4096):
            received += chunk
    assert received.startswith(b"HTTP/1.1 401 "), received


def bytes_after_a_streams_request(server, sent: bytes) -> tuple[bytes, float]:
    """Opens a stream on a raw connection, then sends `sent` on it; (everything received,
    seconds from the send until the server closed the connection)."""
    client, _ = new_user(server.url)
    parsed = urlparse(server.url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=5) as raw:
        raw.sendall(b"GET /api/events/ HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
                    b"Cookie: sessionid=" + client.cookie("sessionid").encode() + b"\r\n\r\n")
        received = raw.recv(4096)
        assert received.startswith(b"HTTP/1.1 200 "), received
        started = time.monotonic()
        raw.sendall(sent)
        while chunk := raw.recv(4096):
            received += chunk
    return received, time.monotonic() - started


def test_bytes_that_are_not_http_after_a_streams_request_close_its_connection(sqlite_server):
    _, elapsed = bytes_after_a_streams_request(sqlite_server, b"FOO / HTTP/1.1\r\n\r\n")
    assert elapsed < 2, "the stream's connection stayed open"


def test_a_further_request_after_a_streams_request_closes_its_connection(sqlite_server):
    # A stream's client has nothing more to send: nothing after its request would ever be
    # answered, so a pipelined request ends the stream rather than waiting forever.
    received, elapsed = bytes_after_a_streams_request(sqlite_server, b"GET /api/ping/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert elapsed < 2, "the stream's connection stayed open"
    assert received.count(b"HTTP/1.1 ") == 1, received


def test_global_cap_answers_503_with_retry_after(servers, streams):
    server = servers.start("sqlite", STREAMS_MAX="2", HEARTBEAT_INTERVAL="1")
    alice, _ = new_user(server.url)
    bob, _ = new_user(server.url)
    assert streams(server.url, alice).status == 200
    closing = streams(server.url, bob)
    assert closing.status == 200
    refused = streams(server.url, bob)
    assert refused.status == 503
    assert refused.json()["error"] == "busy"
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["Access-Control-Allow-Origin"] == FRONTEND_ORIGIN
    # A closed stream frees its place (noticed at its next write: the heartbeat).
    closing.close()
    time.sleep(0.2)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        again = streams(server.url, bob)
        if again.status == 200:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the closed stream's place was never freed")


# MARK: PostgreSQL: several instances, large changes, restarts


def postgres_only(db: str) -> None:
    if db != "postgres":
        pytest.skip("PostgreSQL only")


def test_two_instances_on_one_database_see_each_others_changes(servers, db, streams):
    postgres_only(db)
    a = servers.start("postgres")
    b = servers.start("postgres", database_url=a.database_url)
    laptop, name = new_user(a.url)
    phone = second_device(b.url, name)
    on_a = streams(a.url, laptop)
    on_b = streams(b.url, phone)
    for n in range(5):
        started = time.monotonic()
        todo = laptop.post("/api/todos/", json={"title": f"from A {n}"}).json()
        event_b = on_b.next(1.0)
        assert time.monotonic() - started < 1.0
        event_a = on_a.next(1.0)
        assert event_b["data"] == todo == event_a["data"]
        assert event_a["id"] == event_b["id"]
    todo = phone.patch(f"/api/todos/{todo['id']}/", json={"completed": True}).json()
    assert on_a.next(1.0)["data"] == todo
    assert on_b.next(1.0)["data"] == todo
    # Log-out on A ends the session's stream on B.
    phone.base_url = a.url
    assert phone.logout().status_code == 204
    on_b.assert_closed(within=1.0, reason="session_ended")


def test_a_bulk_change_larger_than_a_notification_reaches_other_instances(servers, db, streams, request):
    postgres_only(db)
    postgres_cluster = request.getfixturevalue("postgres_cluster")
    a = servers.start("postgres")
    b = servers.start("postgres", database_url=a.database_url)
    client, name = new_user(a.url)
    database = a.database_url.rsplit("/", 1)[1]
    postgres_cluster.psql(
        "INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at) "
        f"SELECT id, 'bulk ' || n, false, n, 0, 0 FROM users, generate_series(1, 2500) n WHERE username = '{name}'",
        database)
    on_b = streams(b.url, second_device(b.url, name))
    assert client.patch("/api/todos/", json={"completed": True}).json() == {"updated": 2500}
    event = on_b.next(2.0)
    assert event["event"] == "todos.completed"
    assert len(event["data"]["ids"]) == 2500
    assert len(json.dumps(event["data"])) > 8000
    assert client.delete("/api/todos/?completed=true").json() == {"deleted": 2500}
    event = on_b.next(2.0)
    assert event["event"] == "todos.cleared" and len(event["data"]["ids"]) == 2500


def test_postgres_restart_reconnects_the_listener_and_resyncs_streams(servers, db, streams):
    postgres_only(db)
    cluster = PostgresCluster().start()
    try:
        server = servers.start("postgres", database_url=cluster.create_database())
        client, _ = new_user(server.url)
        stream = streams(server.url, client)
        client.post("/api/todos/", json={"title": "before"})
        assert stream.next()["event"] == "todo.created"
        cluster.stop()
        cluster.start()
        event = stream.next(15.0)
        assert event["event"] == "resync", event
        assert event["data"]["reason"] == "reconnected"
        # Live again: the next change arrives (the pool reconnects by itself too).
        deadline = time.monotonic() + 10
        while True:
            response = client.post("/api/todos/", json={"title": "after"})
            if response.status_code == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert response.status_code == 201, response.text
        event = stream.next(3.0)
        assert event["event"] == "todo.created" and event["data"] == response.json()
    finally:
        servers.cleanup(failed=False)
        servers.servers.clear()
        cluster.cleanup()


def test_a_session_ended_while_the_listener_was_away_ends_its_stream_on_reconnect(servers, db, streams, request):
    postgres_only(db)
    cluster = request.getfixturevalue("postgres_cluster")
    server = servers.start("postgres")
    database = server.database_url.rsplit("/", 1)[1]
    laptop, name = new_user(server.url)
    phone = second_device(server.url, name)
    laptop_stream = streams(server.url, laptop)
    phone_stream = streams(server.url, phone)
    phone_session = next(s["id"] for s in phone.get("/api/auth/sessions/").json()["sessions"] if s["current"])
    # The session ends with no notification (as if announced while the listener was away),
    # then every connection of the server is cut: the listener reconnects.
    cluster.psql(f"DELETE FROM sessions WHERE public_id = {phone_session}", database)
    cluster.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")
    assert phone_stream.next(10.0)["event"] == "resync"
    phone_stream.assert_closed(within=2.0, reason="session_ended")
    assert laptop_stream.next(3.0)["event"] == "resync"
    laptop_stream.assert_quiet(0.5)
