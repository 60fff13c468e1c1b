"""The Accounts section: sign-up, log-in, log-out, me, each error code, throttling,
and the operator commands, on SQLite and PostgreSQL."""
import os
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from accounts import PASSWORD, signed_up, unique_name
from api import ApiClient, assert_error
from servers import server_binary


def test_signup_logs_in_and_sets_the_session_cookie(client):
    name = unique_name("Alice")
    response = client.signup(name, PASSWORD)
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert user["username"] == name and isinstance(user["id"], int)
    assert set(response.json()) == {"user"} and set(user) == {"id", "username"}
    raw = response.raw.headers.getlist("Set-Cookie")
    session = next(c for c in raw if c.startswith("sessionid="))
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Path=/" in session
    assert "Max-Age=1209600" in session and "Secure" not in session
    assert len(client.cookie("sessionid")) >= 43  # 256 bits
    assert any(c.startswith("csrftoken=") for c in raw), "sign-up rotates the CSRF secret"
    me = client.get("/api/auth/me/")
    assert me.status_code == 200 and me.json() == {"user": user}


def test_me_when_logged_out_is_null(client):
    response = client.get("/api/auth/me/")
    assert response.status_code == 200
    assert response.json() == {"user": None}


def test_username_is_unique_ignoring_case_and_login_ignores_case(client):
    name = unique_name("Bob")
    assert client.signup(name, PASSWORD).status_code == 201
    other = ApiClient(client.base_url)
    assert_error(other.signup(name.upper(), PASSWORD), 409, "username_taken")
    assert_error(other.signup(name.lower(), "another password"), 409, "username_taken")
    response = other.login(name.lower(), PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == name


@pytest.mark.parametrize("username", ["", "a" * 151, "with space", "émile", "semi;colon", "nul\u0000byte", "😀", "tab\t"])
def test_invalid_usernames(client, username):
    assert_error(client.signup(username, PASSWORD), 400, "invalid_username")
    assert client.get("/api/auth/me/").json() == {"user": None}


def test_longest_and_punctuated_usernames_are_valid(client):
    assert client.signup("a" * 150, PASSWORD).status_code == 201
    assert ApiClient(client.base_url).signup(unique_name("x.y+z@w-v"), PASSWORD).status_code == 201


@pytest.mark.parametrize("password", [
    "short", "1234567", "12345678901234", "p" * 73, "é" * 37, "pass\u0000word-long", "SAMEASNAME",
])
def test_invalid_passwords(client, password):
    name = "sameasname" if password == "SAMEASNAME" else unique_name()
    assert_error(client.signup(name, password), 400, "invalid_password")
    assert_error(client.login(name, password), 400, "invalid_credentials")  # nothing was created


def test_password_of_exactly_72_bytes_works_and_is_never_truncated(client):
    name = unique_name()
    password = "é" * 36  # 72 bytes of UTF-8
    assert client.signup(name, password).status_code == 201
    other = ApiClient(client.base_url)
    assert other.login(name, password).status_code == 200
    assert_error(ApiClient(client.base_url).login(name, password + "x"), 400, "invalid_credentials")


@pytest.mark.parametrize("path", ["/api/auth/signup/", "/api/auth/login/"])
@pytest.mark.parametrize("body,field", [
    ({"username": 5, "password": PASSWORD}, "username"),
    ({"username": None, "password": PASSWORD}, "username"),
    ({"username": "someone", "password": ["x"]}, "password"),
    ({"username": "someone", "password": None}, "password"),
])
def test_wrong_types_name_the_field(client, path, body, field):
    assert_error(client.post(path, json=body), 400, "invalid_field", field=field)


@pytest.mark.parametrize("path", ["/api/auth/signup/", "/api/auth/login/"])
def test_bodies_are_checked(client, path):
    assert_error(client.post(path, data="{", headers={"Content-Type": "application/json"}), 400, "invalid_json")
    assert_error(client.post(path, data="[]", headers={"Content-Type": "application/json"}), 400, "invalid_json")
    assert_error(client.post(path, data="username=a", headers={"Content-Type": "application/x-www-form-urlencoded"}),
                 415, "unsupported_media_type")
    assert_error(client.post(path, json={"username": "a" * 70000, "password": PASSWORD}), 413, "payload_too_large")


def test_login_answers_the_same_for_unknown_user_and_wrong_password(client):
    name = unique_name()
    assert client.signup(name, PASSWORD).status_code == 201
    wrong = assert_error(ApiClient(client.base_url).login(name, "wrong password"), 400, "invalid_credentials")
    unknown = assert_error(ApiClient(client.base_url).login(unique_name(), PASSWORD), 400, "invalid_credentials")
    assert wrong == unknown
    assert_error(ApiClient(client.base_url).post("/api/auth/login/", json={}), 400, "invalid_credentials")


@pytest.mark.parametrize("suffix", ["\u0000", "\u0000anything", "\u0000\u0000"])
def test_a_username_with_a_nul_is_nobodys_even_with_the_right_password(client, suffix):
    # No username holds a NUL: the name after it is not the account before it (SQLite read
    # "bob\0x" as "bob"), and PostgreSQL text cannot hold one (the throttle's key failed: 500).
    name = unique_name("nul")
    assert client.signup(name, PASSWORD).status_code == 201
    assert_error(ApiClient(client.base_url).login(name + suffix, PASSWORD), 400, "invalid_credentials")
    assert ApiClient(client.base_url).login(name, PASSWORD).status_code == 200


def test_login_returns_the_user_and_a_new_session(client):
    name = unique_name()
    signup = client.signup(name, PASSWORD).json()["user"]
    first_session = client.cookie("sessionid")
    response = client.login(name, PASSWORD)
    assert response.status_code == 200 and response.json() == {"user": signup}
    assert client.cookie("sessionid") != first_session


def test_logout_ends_the_session_and_clears_the_cookie(client):
    client_cookie_copy = signed_up(client.base_url)
    stolen = client_cookie_copy.cookie("sessionid")
    response = client_cookie_copy.logout()
    assert response.status_code == 204 and response.content == b""
    raw = response.raw.headers.getlist("Set-Cookie")
    cleared = next(c for c in raw if c.startswith("sessionid="))
    assert cleared.startswith("sessionid=;") and "Max-Age=0" in cleared
    assert any(c.startswith("csrftoken=") for c in raw)
    assert client_cookie_copy.get("/api/auth/me/").json() == {"user": None}
    # The server forgot it: replaying the old cookie does not log anyone in.
    replay = ApiClient(client.base_url)
    replay.set_cookie("sessionid", stolen)
    assert replay.get("/api/auth/me/").json() == {"user": None}
    assert_error(replay.get("/api/todos/"), 401, "not_authenticated")


def test_logout_when_logged_out_is_204(client):
    response = client.logout()
    assert response.status_code == 204
    assert client.logout().status_code == 204


def test_passwords_are_stored_only_as_bcrypt_hashes(servers):
    server = servers.start("sqlite")
    name = unique_name()
    signed_up(server.url, name)
    path = server.database_url.removeprefix("sqlite://")
    with sqlite3.connect(path) as connection:
        (stored,) = connection.execute("SELECT password_hash FROM users WHERE username = ?", (name,)).fetchone()
        dump = "\n".join(connection.iterdump())
    assert stored.startswith("$2") and len(stored) == 60
    assert PASSWORD not in dump


# Throttling ---------------------------------------------------------------------------

def throttled_server(servers, db, **env):
    settings = {"LOGIN_FAILURES_PER_USERNAME": "3", "LOGIN_FAILURES_PER_ADDRESS": "8", "LOGIN_THROTTLE_WINDOW": "600"}
    settings.update(env)
    return servers.start(db, **settings)


def test_failures_per_username_are_throttled_even_with_the_right_password(servers, db):
    server = throttled_server(servers, db)
    name = unique_name()
    signed_up(server.url, name)
    attacker = ApiClient(server.url)
    for _ in range(3):
        assert_error(attacker.login(name, "wrong password"), 400, "invalid_credentials")
    response = attacker.login(name, "wrong password")
    assert_error(response, 429, "throttled")
    retry_after = int(response.headers["Retry-After"])
    assert 590 <= retry_after <= 600
    assert "Retry-After" in response.headers.get("Access-Control-Expose-Headers", "")
    assert_error(ApiClient(server.url).login(name.upper(), PASSWORD), 429, "throttled")
    # Another username from the same address is still fine below the address limit.
    other = unique_name()
    signed_up(server.url, other)
    assert ApiClient(server.url).login(other, PASSWORD).status_code == 200


def test_unknown_usernames_are_throttled_like_known_ones(servers, db):
    server = throttled_server(servers, db)
    ghost = unique_name("ghost")
    for _ in range(3):
        assert_error(ApiClient(server.url).login(ghost, PASSWORD), 400, "invalid_credentials")
    response = ApiClient(server.url).login(ghost, PASSWORD)
    assert_error(response, 429, "throttled")
    assert int(response.headers["Retry-After"]) > 0


def test_success_clears_the_usernames_count(servers, db):
    server = throttled_server(servers, db)
    name = unique_name()
    signed_up(server.url, name)
    for _ in range(2):
        assert_error(ApiClient(server.url).login(name, "wrong password"), 400, "invalid_credentials")
    assert ApiClient(server.url).login(name, PASSWORD).status_code == 200
    for _ in range(2):
        assert_error(ApiClient(server.url).login(name, "wrong password"), 400, "invalid_credentials")
    assert ApiClient(server.url).login(name, PASSWORD).status_code == 200


def test_failures_per_client_address_are_throttled(servers, db):
    server = throttled_server(servers, db)
    name = unique_name()
    signed_up(server.url, name)
    for _ in range(8):
        assert_error(ApiClient(server.url).login(unique_name("spray"), "wrong password"), 400, "invalid_credentials")
    response = ApiClient(server.url).login(name, PASSWORD)
    assert_error(response, 429, "throttled")


def test_forwarded_address_counts_only_behind_a_trusted_proxy(servers):
    trusting = throttled_server(servers, "sqlite", TRUSTED_PROXIES="127.0.0.1")
    name = unique_name()
    signed_up(trusting.url, name)
    for index in range(8):
        client = ApiClient(trusting.url)
        response = client.post("/api/auth/login/", json={"username": unique_name(), "password": "x" * 9},
                               headers={"X-Forwarded-For": "203.0.113.7"})
        assert_error(response, 400, "invalid_credentials")
    blocked = ApiClient(trusting.url).post("/api/auth/login/", json={"username": name, "password": PASSWORD},
                                           headers={"X-Forwarded-For": "203.0.113.7"})
    assert_error(blocked, 429, "throttled")
    other_client = ApiClient(trusting.url).post("/api/auth/login/", json={"username": name, "password": PASSWORD},
                                                headers={"X-Forwarded-For": "198.51.100.2"})
    assert other_client.status_code == 200, other_client.text

    # Without a trusted proxy the header is ignored: the peer address is what counts.
    direct = throttled_server(servers, "sqlite")
    for index in range(8):
        response = ApiClient(direct.url).post(
            "/api/auth/login/", json={"username": unique_name(), "password": "x" * 9},
            headers={"X-Forwarded-For": f"192.0.2.{index}"})
        assert_error(response, 400, "invalid_credentials")
    assert_error(ApiClient(direct.url).post("/api/auth/login/", json={"username": unique_name(), "password": "x" * 9},
                                            headers={"X-Forwarded-For": "192.0.2.200"}), 429, "throttled")


def test_unknown_username_takes_as_long_as_a_wrong_password(servers):
    # A real bcrypt cost, so that skipping the hash would show.
    server = servers.start("sqlite", BCRYPT_COST="10", LOGIN_FAILURES_PER_USERNAME="1000",
                           LOGIN_FAILURES_PER_ADDRESS="1000")
    name = unique_name()
    signed_up(server.url, name)

    def timed(username):
        client = ApiClient(server.url)
        client.fetch_token()
        started = time.perf_counter()
        response = client.login(username, "wrong password")
        elapsed = time.perf_counter() - started
        assert response.status_code == 400
        return elapsed

    known = statistics.median(timed(name) for _ in range(7))
    unknown = statistics.median(timed(unique_name()) for _ in range(7))
    assert known > 0.02, "bcrypt cost 10 should take tens of milliseconds"
    assert 0.6 < unknown / known < 1.6, (known, unknown)


# Operator commands ---------------------------------------------------------------------

def run_command(database_url, *args, stdin=""):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": database_url, "BCRYPT_COST": "4"}
    return subprocess.run([str(server_binary()), *args], input=stdin, capture_output=True, text=True, env=env,
                          timeout=60)


def test_migrate_is_idempotent_and_create_user_reads_stdin(servers, db):
    database_url = servers.database_url(db)
    first = run_command(database_url, "migrate")
    assert first.returncode == 0, first.stderr
    assert "applied migration 1" in first.stdout
    second = run_command(database_url, "migrate")
    assert second.returncode == 0 and "up to date" in second.stdout

    name = unique_name("Operator")
    created = run_command(database_url, "create-user", name, stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert f"created user {name}" in created.stdout
    taken = run_command(database_url, "create-user", name.lower(), stdin=PASSWORD + "\n")
    assert taken.returncode == 1 and "already taken" in taken.stderr
    weak = run_command(database_url, "create-user", unique_name(), stdin="12345678\n")
    assert weak.returncode == 1 and "numeric" in weak.stderr
    missing = run_command(database_url, "create-user", unique_name(), stdin="")
    assert missing.returncode == 1 and "no password" in missing.stderr

    server = servers.start(db, database_url=database_url)
    response = ApiClient(server.url).login(name, PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == name
