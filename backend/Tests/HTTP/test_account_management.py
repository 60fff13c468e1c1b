"""Account management (issue 12): the user's sessions, password change and account
deletion, on both databases; two servers on one PostgreSQL; migrating a database of the
previous schema with live sessions in it."""
import hashlib
import re
import sqlite3
import time
import collections
import concurrent.futures
import subprocess
import threading

import pytest
import requests

from accounts import PASSWORD, signed_up, unique_name
from api import ApiClient, assert_error

NEW_PASSWORD = "a brand new passphrase"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def username_of(client: ApiClient) -> str:
    return client.get("/api/auth/me/").json()["user"]["username"]


def second_device(client: ApiClient, name: str, password: str = PASSWORD, user_agent: str | None = None) -> ApiClient:
    other = ApiClient(client.base_url)
    if user_agent:
        other.http.headers["User-Agent"] = user_agent
    assert other.login(name, password).status_code == 200
    return other


def sessions_of(client: ApiClient) -> list[dict]:
    response = client.get("/api/auth/sessions/")
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()["sessions"]


def current_session(client: ApiClient) -> dict:
    return next(s for s in sessions_of(client) if s["current"])


def logged_out(client: ApiClient) -> bool:
    return client.get("/api/auth/me/").json() == {"user": None}


# Listing sessions ------------------------------------------------------------------------

def test_sessions_list_the_users_live_sessions_with_public_fields(client):
    owner = signed_up(client.base_url)
    name = username_of(owner)
    laptop = second_device(owner, name, user_agent=FIREFOX)
    signed_up(client.base_url)  # someone else's session is never listed

    listed = sessions_of(owner)
    assert len(listed) == 2
    for session in listed:
        assert set(session) == {"id", "createdAt", "lastSeenAt", "client", "address", "current"}
        assert isinstance(session["id"], int) and 0 < session["id"] < 2**53
        assert RFC3339.match(session["createdAt"]) and RFC3339.match(session["lastSeenAt"])
        assert session["address"] == "127.0.0.1"
        # Opaque: neither the cookie value nor its hash.
        for cookie in (owner.cookie("sessionid"), laptop.cookie("sessionid")):
            assert str(session["id"]) not in (cookie, hashlib.sha256(cookie.encode()).hexdigest())
    mine = [s for s in listed if s["current"]]
    assert len(mine) == 1
    assert mine[0]["client"].startswith("python-requests")
    theirs = next(s for s in listed if not s["current"])
    assert theirs["client"] == "Firefox on Linux"
    # The other device sees the same two sessions, its own marked current.
    assert current_session(laptop)["id"] == theirs["id"]
    assert {s["id"] for s in sessions_of(laptop)} == {s["id"] for s in listed}


def test_a_hostile_user_agent_is_never_shown_raw(client):
    owner = signed_up(client.base_url)
    name = username_of(owner)
    hostile = "<script>alert(1)</script>" + "A" * 5000
    second_device(owner, name, user_agent=hostile)
    second_device(owner, name, user_agent="x" * 300 + "/1.0")
    clients = [s["client"] for s in sessions_of(owner) if not s["current"]]
    assert len(clients) == 2
    for described in clients:
        assert len(described) <= 64
        assert "<" not in described and "AAAA" * 10 not in described


def test_the_address_comes_from_a_trusted_proxy_only(servers, db):
    server = servers.start(db, TRUSTED_PROXIES="127.0.0.1")
    owner = ApiClient(server.url)
    owner.http.headers["X-Forwarded-For"] = "203.0.113.9"
    assert owner.signup(unique_name(), PASSWORD).status_code == 201
    assert current_session(owner)["address"] == "203.0.113.9"


@pytest.mark.parametrize("forwarded, address", [
    ("203.0.113.9:41234", "203.0.113.9"),  # some proxies add the client's port
    ("[2001:DB8:0::9]:443", "2001:db8::9"),
    ("2001:db8:0:0:0:0:0:9", "2001:db8::9"),
    ("<script>alert(1)</script>", "127.0.0.1"),  # not an address: the proxy is all that is known
    ("garbage, 203.0.113.9", "203.0.113.9"),
    ("203.0.113.9, garbage", "127.0.0.1"),
])
def test_a_forwarded_address_is_kept_as_an_address(servers, db, forwarded, address):
    server = servers.start(db, TRUSTED_PROXIES="127.0.0.1")
    owner = ApiClient(server.url)
    owner.http.headers["X-Forwarded-For"] = forwarded
    assert owner.signup(unique_name(), PASSWORD).status_code == 201
    assert current_session(owner)["address"] == address


def test_last_seen_is_written_at_most_once_a_minute(client):
    owner = signed_up(client.base_url)
    first = current_session(owner)
    for _ in range(3):
        assert owner.get("/api/todos/").status_code == 200
    again = current_session(owner)
    assert again["lastSeenAt"] == first["lastSeenAt"] == first["createdAt"]


# Ending sessions ---------------------------------------------------------------------------

def test_ending_another_session_logs_that_device_out(client):
    owner = signed_up(client.base_url)
    phone = second_device(owner, username_of(owner))
    phone_id = current_session(phone)["id"]
    response = owner.delete(f"/api/auth/sessions/{phone_id}/")
    assert response.status_code == 204, response.text
    assert "sessionid" not in response.headers.get("Set-Cookie", "")
    assert logged_out(phone)
    assert_error(phone.get("/api/todos/"), 401, "not_authenticated")
    assert not logged_out(owner)
    assert [s["id"] for s in sessions_of(owner)] == [current_session(owner)["id"]]
    # Gone is gone: a second time is 404.
    assert_error(owner.delete(f"/api/auth/sessions/{phone_id}/"), 404, "not_found")


def test_another_users_session_is_not_found_and_untouched(client):
    owner = signed_up(client.base_url)
    stranger = signed_up(client.base_url)
    stranger_id = current_session(stranger)["id"]
    assert_error(owner.delete(f"/api/auth/sessions/{stranger_id}/"), 404, "not_found")
    assert not logged_out(stranger)


@pytest.mark.parametrize("path_id", ["0", "abc", "-1", "9007199254740992", "99999999999999999999", "1.5"])
def test_a_path_that_names_no_session_is_404(client, path_id):
    owner = signed_up(client.base_url)
    assert_error(owner.delete(f"/api/auth/sessions/{path_id}/"), 404, "not_found")
    assert_error(ApiClient(client.base_url).delete(f"/api/auth/sessions/{path_id}/"), 404, "not_found")


def test_ending_the_current_session_is_a_log_out(client):
    owner = signed_up(client.base_url)
    cookie = owner.cookie("sessionid")
    old_token = owner.fetch_token()
    response = owner.delete(f"/api/auth/sessions/{current_session(owner)['id']}/")
    assert response.status_code == 204
    set_cookies = response.headers.get("Set-Cookie", "")
    assert "sessionid=;" in set_cookies and "csrftoken=" in set_cookies
    assert logged_out(owner)
    replay = ApiClient(client.base_url)
    replay.set_cookie("sessionid", cookie)
    assert logged_out(replay)
    # The CSRF secret was rotated as at log-out.
    assert_error(owner.post("/api/ping/", headers={"X-CSRFToken": old_token}), 403, "csrf_failed",
                 reason="token_incorrect")


def test_log_out_everywhere_else_keeps_only_the_current_session(client):
    owner = signed_up(client.base_url)
    name = username_of(owner)
    others = [second_device(owner, name) for _ in range(3)]
    stranger = signed_up(client.base_url)
    response = owner.delete("/api/auth/sessions/")
    assert response.status_code == 200, response.text
    assert response.json() == {"ended": 3}
    assert all(logged_out(other) for other in others)
    assert not logged_out(owner) and not logged_out(stranger)
    assert len(sessions_of(owner)) == 1
    assert owner.delete("/api/auth/sessions/").json() == {"ended": 0}


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/auth/sessions/"), ("DELETE", "/api/auth/sessions/"), ("DELETE", "/api/auth/sessions/1/"),
    ("POST", "/api/auth/password/"), ("DELETE", "/api/auth/me/"),
])
def test_account_routes_need_a_session(client, method, path):
    response = client.request(method, path, json={"password": PASSWORD, "currentPassword": PASSWORD,
                                                  "newPassword": NEW_PASSWORD})
    assert_error(response, 401, "not_authenticated")


def test_account_routes_are_csrf_checked(client):
    owner = signed_up(client.base_url)
    for method, path in [("DELETE", "/api/auth/sessions/"), ("POST", "/api/auth/password/"),
                         ("DELETE", "/api/auth/me/")]:
        assert_error(owner.request(method, path, csrf=False, json={}), 403, "csrf_failed", reason="token_missing")
    assert not logged_out(owner)


# Password change ---------------------------------------------------------------------------

def test_password_change_ends_other_sessions_and_rotates_the_current_one(client):
    owner = signed_up(client.base_url)
    name = username_of(owner)
    other = second_device(owner, name)
    old_cookie, old_csrf_cookie = owner.cookie("sessionid"), owner.cookie("csrftoken")
    old_public_id = current_session(owner)["id"]
    old_token = owner.fetch_token()

    response = owner.post("/api/auth/password/", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json() == {"user": {"id": response.json()["user"]["id"], "username": name}}
    assert response.headers["Cache-Control"] == "no-store"
    new_cookie, new_csrf_cookie = owner.cookie("sessionid"), owner.cookie("csrftoken")
    assert new_cookie and new_cookie != old_cookie
    assert new_csrf_cookie and new_csrf_cookie != old_csrf_cookie

    # The other device and the old cookie are logged out; the new cookie works.
    assert logged_out(other)
    replay = ApiClient(client.base_url)
    replay.set_cookie("sessionid", old_cookie)
    assert logged_out(replay)
    assert username_of(owner) == name
    listed = sessions_of(owner)
    assert len(listed) == 1 and listed[0]["current"] and listed[0]["id"] != old_public_id

    # Tokens for the old CSRF secret fail; a fresh one passes.
    assert_error(owner.post("/api/todos/", json={"title": "x"}, headers={"X-CSRFToken": old_token}), 403,
                 "csrf_failed", reason="token_incorrect")
    owner.token = None
    assert owner.post("/api/todos/", json={"title": "still logged in"}).status_code == 201

    # Only the new password logs in.
    assert_error(ApiClient(client.base_url).login(name, PASSWORD), 400, "invalid_credentials")
    assert ApiClient(client.base_url).login(name, NEW_PASSWORD).status_code == 200


def test_wrong_current_password_is_refused_and_changes_nothing(client):
    owner = signed_up(client.base_url)
    name = username_of(owner)
    other = second_device(owner, name)
    cookie = owner.cookie("sessionid")
    response = owner.post("/api/auth/password/", json={"currentPassword": "not my password", "newPassword": NEW_PASSWORD})
    assert_error(response, 400, "invalid_credentials")
    assert "Set-Cookie" not in response.headers
    assert owner.cookie("sessionid") == cookie and not logged_out(owner) and not logged_out(other)
    assert ApiClient(client.base_url).login(name, PASSWORD).status_code == 200


@pytest.mark.parametrize("body, status, code", [
    ({"currentPassword": PASSWORD, "newPassword": "short"}, 400, "invalid_password"),
    ({"currentPassword": PASSWORD, "newPassword": "1234567890"}, 400, "invalid_password"),
    ({"currentPassword": PASSWORD, "newPassword": "é" * 37}, 400, "invalid_password"),  # 74 bytes
    ({"currentPassword": PASSWORD, "newPassword": "nul\u0000inside!"}, 400, "invalid_password"),
    ({"currentPassword": PASSWORD}, 400, "invalid_password"),
    ({}, 400, "invalid_password"),  # the new password is checked first
    ({"currentPassword": "", "newPassword": "short"}, 400, "invalid_password"),
    ({"newPassword": NEW_PASSWORD}, 400, "invalid_credentials"),
    ({"currentPassword": "", "newPassword": NEW_PASSWORD}, 400, "invalid_credentials"),
    ({"currentPassword": 12345678, "newPassword": NEW_PASSWORD}, 400, "invalid_field"),
    ({"currentPassword": PASSWORD, "newPassword": None}, 400, "invalid_field"),
])
def test_password_change_validation(client, body, status, code):
    owner = signed_up(client.base_url)
    cookie = owner.cookie("sessionid")
    assert_error(owner.post("/api/auth/password/", json=body), status, code)
    assert owner.cookie("sessionid") == cookie and not logged_out(owner)
    assert ApiClient(client.base_url).login(username_of(owner), PASSWORD).status_code == 200


def test_new_password_may_not_be_the_username(client):
    name = unique_name("Person")
    owner = signed_up(client.base_url, name)
    response = owner.post("/api/auth/password/", json={"currentPassword": PASSWORD, "newPassword": name.upper()})
    assert_error(response, 400, "invalid_password")


def test_password_change_bodies_are_checked_like_any_other(client):
    owner = signed_up(client.base_url)
    assert_error(owner.post("/api/auth/password/", data="{not json", headers={"Content-Type": "application/json"}),
                 400, "invalid_json")
    assert_error(owner.post("/api/auth/password/", data="x=1", headers={"Content-Type": "text/plain"}),
                 415, "unsupported_media_type")
    assert_error(owner.post("/api/auth/password/", json={"currentPassword": "x" * 70_000}), 413, "payload_too_large")


def test_wrong_current_passwords_count_toward_the_login_throttle(servers, db):
    server = servers.start(db, LOGIN_FAILURES_PER_USERNAME="3", LOGIN_FAILURES_PER_ADDRESS="1000")
    owner = signed_up(server.url)
    name = username_of(owner)
    for _ in range(2):
        assert_error(owner.post("/api/auth/password/", json={"currentPassword": "wrong guess", "newPassword": NEW_PASSWORD}),
                     400, "invalid_credentials")
    assert_error(owner.delete("/api/auth/me/", json={"password": "wrong guess"}), 400, "invalid_credentials")
    # Three failures: even the right password is throttled now, here and at log-in.
    response = owner.post("/api/auth/password/", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})
    assert_error(response, 429, "throttled")
    assert int(response.headers["Retry-After"]) > 0
    assert_error(owner.delete("/api/auth/me/", json={"password": PASSWORD}), 429, "throttled")
    assert_error(ApiClient(server.url).login(name, PASSWORD), 429, "throttled")
    assert not logged_out(owner)


def test_a_right_current_password_forgives_earlier_failures(servers, db):
    server = servers.start(db, LOGIN_FAILURES_PER_USERNAME="3", LOGIN_FAILURES_PER_ADDRESS="1000")
    owner = signed_up(server.url)
    name = username_of(owner)
    for _ in range(2):
        assert_error(ApiClient(server.url).login(name, "wrong guess"), 400, "invalid_credentials")
    assert owner.post("/api/auth/password/",
                      json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}).status_code == 200
    for _ in range(2):
        assert_error(ApiClient(server.url).login(name, "wrong guess"), 400, "invalid_credentials")
    assert ApiClient(server.url).login(name, NEW_PASSWORD).status_code == 200


def test_a_full_hashing_queue_answers_busy_for_a_password_change(servers):
    server = servers.start("sqlite", HASHING_QUEUE_LIMIT="1", HASHING_QUEUE_PER_ADDRESS="1",
                           BCRYPT_COST="12", LOGIN_FAILURES_PER_USERNAME="1000", LOGIN_FAILURES_PER_ADDRESS="1000")
    owner = ApiClient(server.url)
    assert owner.signup(unique_name(), PASSWORD).status_code == 201
    owner.fetch_token()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(
            lambda _: owner.post("/api/auth/password/", json={"currentPassword": "wrong guess 1",
                                                             "newPassword": NEW_PASSWORD}),
            range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert 503 in statuses, statuses
    busy = next(a for a in answers if a.status_code == 503)
    assert_error(busy, 503, "busy")
    assert int(busy.headers["Retry-After"]) > 0


# Account deletion --------------------------------------------------------------------------

def test_deleting_the_account_removes_everything_and_frees_the_username(server, client):
    name = unique_name("Deleted")
    owner = signed_up(client.base_url, name)
    other = second_device(owner, name)
    user_id = owner.get("/api/auth/me/").json()["user"]["id"]
    for title in ("one", "two"):
        assert owner.post("/api/todos/", json={"title": title}).status_code == 201
    bystander = signed_up(client.base_url)
    assert bystander.post("/api/todos/", json={"title": "mine"}).status_code == 201

    response = owner.delete("/api/auth/me/", json={"password": PASSWORD})
    assert response.status_code == 204, response.text
    set_cookies = response.headers.get("Set-Cookie", "")
    assert "sessionid=;" in set_cookies and "csrftoken=" in set_cookies
    assert logged_out(owner) and logged_out(other)
    assert_error(ApiClient(client.base_url).login(name, PASSWORD), 400, "invalid_credentials")
    assert rows_of_user(server, user_id) == {"users": 0, "todos": 0, "sessions": 0, "api_tokens": 0}
    assert [t["title"] for t in bystander.get("/api/todos/").json()["todos"]] == ["mine"]

    again = ApiClient(client.base_url)
    assert again.signup(name.lower(), PASSWORD).status_code == 201
    assert again.get("/api/todos/").json() == {"todos": []}


WRITES_OF_A_SESSION = [
    ("/api/todos/", {"title": "racing"}),
    ("/api/todos/", {"title": "racing", "order": 5}),
    ("/api/auth/tokens/", {"name": "racing", "abilities": ["todos:read"]}),
]


def test_writes_racing_the_account_deletion_are_logged_out_never_failed(server, client):
    # A create that passed authentication just before the deletion commits names a user who
    # is gone: its client is told it is logged out (401), not that the server failed (500).
    name = unique_name("Racing")
    owner = signed_up(client.base_url, name)
    devices = [second_device(owner, name) for _ in range(9)]
    statuses: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def write_until_logged_out(device: ApiClient, path: str, body: dict) -> None:
        for _ in range(2000):
            response = device.post(path, json=body)
            with lock:
                statuses[response.status_code] += 1
            if response.status_code == 409:  # a user holds at most 100 tokens
                assert_error(response, 409, "too_many_tokens")
            elif response.status_code != 201:
                assert_error(response, 401, "not_authenticated")
                return

    with concurrent.futures.ThreadPoolExecutor(len(devices)) as pool:
        writers = [pool.submit(write_until_logged_out, device, *WRITES_OF_A_SESSION[index % 3])
                   for index, device in enumerate(devices)]
        time.sleep(0.5)
        assert owner.delete("/api/auth/me/", json={"password": PASSWORD}).status_code == 204
        for writer in writers:
            writer.result()
    assert statuses[201] and set(statuses) <= {201, 401, 409}, statuses
    assert statuses[401] == len(devices)


def from_tabs_at_once(owner: ApiClient, send, tabs: int = 4) -> list[requests.Response]:
    """`send(tab)` from `tabs` clients sharing the owner's session (browser tabs), released together."""
    clients = []
    for _ in range(tabs):
        tab = ApiClient(owner.base_url)
        tab.http.cookies.update(owner.http.cookies)
        tab.fetch_token()
        clients.append(tab)
    barrier = threading.Barrier(tabs)

    def released(tab: ApiClient) -> requests.Response:
        barrier.wait()
        return send(tab)

    with concurrent.futures.ThreadPoolExecutor(tabs) as pool:
        return list(pool.map(released, clients))


def assert_one_won_and_the_others_were_logged_out(answers: list[requests.Response], won: int) -> None:
    assert sorted(a.status_code for a in answers) == [won] + [401] * (len(answers) - 1), [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 401:
            assert_error(answer, 401, "not_authenticated")


def test_deleting_the_account_from_many_tabs_at_once_never_calls_the_password_wrong(client):
    # One deletion wins; the others find the account gone: their session has ended (401),
    # their password was not wrong (400), and no failure is counted against the username.
    # Four tabs: as many password checks as one address may have waiting (more are 503 busy).
    for _ in range(8):
        answers = from_tabs_at_once(
            signed_up(client.base_url), lambda tab: tab.delete("/api/auth/me/", json={"password": PASSWORD}))
        assert_one_won_and_the_others_were_logged_out(answers, 204)


def test_changing_the_password_from_many_tabs_at_once_never_calls_the_password_wrong(client):
    # One change wins and ends the tabs' shared session; the others checked the right
    # current password against the new hash: their session has ended (401), and no failure
    # is counted against the username.
    change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    for _ in range(8):
        answers = from_tabs_at_once(signed_up(client.base_url), lambda tab: tab.post("/api/auth/password/", json=change))
        assert_one_won_and_the_others_were_logged_out(answers, 200)


@pytest.mark.parametrize("body, code", [
    ({"password": "not my password"}, "invalid_credentials"),
    ({}, "invalid_credentials"),
    ({"password": ""}, "invalid_credentials"),
    ({"password": 5}, "invalid_field"),
])
def test_deleting_the_account_needs_the_password(client, body, code):
    owner = signed_up(client.base_url)
    assert owner.post("/api/todos/", json={"title": "kept"}).status_code == 201
    response = owner.delete("/api/auth/me/", json=body)
    assert_error(response, 400, code)
    assert "Set-Cookie" not in response.headers
    assert not logged_out(owner)
    assert len(owner.get("/api/todos/").json()["todos"]) == 1


def test_deleting_the_account_without_a_body_is_invalid_json(client):
    owner = signed_up(client.base_url)
    assert_error(owner.delete("/api/auth/me/"), 400, "invalid_json")
    assert not logged_out(owner)


def rows_of_user(server, user_id: int) -> dict[str, int]:
    """What the database holds for a user, read directly (the server is the only writer)."""
    counts = {}
    for table, column in [("users", "id"), ("todos", "user_id"), ("sessions", "user_id"), ("api_tokens", "user_id")]:
        sql = f"SELECT COUNT(*) FROM {table} WHERE {column} = {int(user_id)}"
        counts[table] = int(query(server, sql)[0][0])
    return counts


def query(server, sql: str) -> list[tuple]:
    url = server.database_url
    if url.startswith("sqlite://"):
        with sqlite3.connect(url[len("sqlite://"):]) as connection:
            return connection.execute(sql).fetchall()
    host, port, name = re.match(r"postgres://postgres@([^:]+):(\d+)/(\w+)", url).groups()
    out = subprocess.run(["psql", "-h", host, "-p", port, "-U", "postgres", "-d", name, "-v", "ON_ERROR_STOP=1",
                          "-Atc", sql], check=True, capture_output=True, text=True, timeout=30).stdout
    return [tuple(line.split("|")) for line in out.splitlines()]


# Several servers, one PostgreSQL -----------------------------------------------------------

@pytest.fixture
def shared_postgres_pair(servers):
    if "postgres" not in __import__("conftest").DATABASES:
        pytest.skip("PostgreSQL tests are disabled")
    url = servers.database_url("postgres")
    return servers.start("postgres", database_url=url), servers.start("postgres", database_url=url)


def test_a_session_ended_on_one_server_is_logged_out_on_the_other_at_once(shared_postgres_pair):
    first, second = shared_postgres_pair
    owner = signed_up(first.url)
    phone = second_device(owner, username_of(owner))
    phone.base_url = second.url
    assert not logged_out(phone)
    assert owner.delete(f"/api/auth/sessions/{current_session(phone)['id']}/").status_code == 204
    assert logged_out(phone)
    assert_error(phone.get("/api/todos/"), 401, "not_authenticated")


def test_a_password_change_on_one_server_logs_out_the_others_sessions_on_the_other(shared_postgres_pair):
    first, second = shared_postgres_pair
    owner = signed_up(first.url)
    phone = second_device(owner, username_of(owner))
    phone.base_url = second.url
    assert owner.post("/api/auth/password/",
                      json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}).status_code == 200
    assert logged_out(phone)
    owner.base_url = second.url
    assert not logged_out(owner)


# Migrating a database of the previous schema -------------------------------------------------

PREVIOUS_SCHEMA = [
    """CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)""",
    """CREATE TABLE users (id {id}, username TEXT NOT NULL, username_key TEXT NOT NULL UNIQUE,
       password_hash TEXT NOT NULL, created_at BIGINT NOT NULL)""",
    """CREATE TABLE sessions (id_hash TEXT PRIMARY KEY,
       user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE, csrf_secret TEXT NOT NULL,
       created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)""",
    "CREATE INDEX sessions_expires_at ON sessions (expires_at)",
    "CREATE INDEX sessions_user_id ON sessions (user_id)",
    """CREATE TABLE todos (id {id}, user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
       title TEXT NOT NULL, completed BOOLEAN NOT NULL, sort_order BIGINT NOT NULL, created_at BIGINT NOT NULL,
       updated_at BIGINT NOT NULL)""",
    """CREATE TABLE login_failures (id {id}, scope TEXT NOT NULL, subject TEXT NOT NULL, failed_at BIGINT NOT NULL)""",
]


def test_an_existing_database_migrates_and_its_sessions_keep_working(servers, db):
    """A database as the previous version left it (migrations 1 to 4 recorded), with two live
    sessions: after the upgrade both work, each with a distinct public id."""
    url = servers.database_url(db)
    identity = "INTEGER PRIMARY KEY AUTOINCREMENT" if db == "sqlite" else "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    now = int(time.time() * 1000)
    tokens = ["A" * 42 + "B", "C" * 42 + "D"]
    statements = [s.format(id=identity) for s in PREVIOUS_SCHEMA]
    statements += [f"INSERT INTO schema_migrations VALUES ({v}, 'previous', {now})" for v in (1, 2, 3, 4)]
    statements.append(f"INSERT INTO users (username, username_key, password_hash, created_at) "
                      f"VALUES ('Old', 'old', 'x', {now})")
    for index, token in enumerate(tokens):
        digest = hashlib.sha256(token.encode()).hexdigest()
        statements.append(f"INSERT INTO sessions VALUES ('{digest}', 1, '{'s' * 31}{index}', {now - 5000}, "
                          f"{now + 3_600_000})")
    if db == "sqlite":
        path = url[len("sqlite://"):]
        with sqlite3.connect(path) as connection:
            for statement in statements:
                connection.execute(statement)
    else:
        host, port, name = re.match(r"postgres://postgres@([^:]+):(\d+)/(\w+)", url).groups()
        subprocess.run(["psql", "-h", host, "-p", port, "-U", "postgres", "-d", name, "-v", "ON_ERROR_STOP=1",
                        "-c", ";\n".join(statements)], check=True, capture_output=True, text=True, timeout=30)

    server = servers.start(db, database_url=url)
    first = ApiClient(server.url)
    first.set_cookie("sessionid", tokens[0])
    assert first.get("/api/auth/me/").json()["user"]["username"] == "Old"
    listed = sessions_of(first)
    assert len(listed) == 2
    ids = {s["id"] for s in listed}
    assert len(ids) == 2 and all(isinstance(i, int) and 0 < i < 2**53 for i in ids)
    # The untouched one shows what the previous version knew of it.
    other = next(s for s in listed if not s["current"])
    assert other["client"] == "Unknown client" and other["address"] is None
    assert other["createdAt"] == other["lastSeenAt"]
    second = ApiClient(server.url)
    second.set_cookie("sessionid", tokens[1])
    assert second.get("/api/auth/me/").json()["user"]["username"] == "Old"
    assert current_session(second)["id"] == other["id"]
    assert first.delete(f"/api/auth/sessions/{other['id']}/").status_code == 204
    assert logged_out(second)


def test_sessions_written_by_the_previous_version_after_the_upgrade_still_get_public_ids(servers, db):
    """During a deploy a server of the previous version may share the upgraded database and
    write sessions without the new columns: each still gets a distinct public id."""
    server = servers.start(db)
    owner = signed_up(server.url)
    user_id = owner.get("/api/auth/me/").json()["user"]["id"]
    now = int(time.time() * 1000)
    tokens = ["E" * 42 + "F", "G" * 42 + "H"]
    for index, token in enumerate(tokens):
        digest = hashlib.sha256(token.encode()).hexdigest()
        execute(server, f"INSERT INTO sessions (id_hash, user_id, csrf_secret, created_at, expires_at) "
                        f"VALUES ('{digest}', {user_id}, '{'t' * 31}{index}', {now}, {now + 3_600_000})")
    listed = sessions_of(owner)
    assert len(listed) == 3 and len({s["id"] for s in listed}) == 3
    assert all(isinstance(s["id"], int) and 0 < s["id"] < 2**53 for s in listed)
    for token in tokens:
        old = ApiClient(server.url)
        old.set_cookie("sessionid", token)
        assert not logged_out(old)


def execute(server, sql: str) -> None:
    url = server.database_url
    if url.startswith("sqlite://"):
        with sqlite3.connect(url[len("sqlite://"):], timeout=10) as connection:
            connection.execute(sql)
        return
    query(server, sql)
