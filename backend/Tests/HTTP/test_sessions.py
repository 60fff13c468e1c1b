"""Sessions with CSRF: new ids at log-in, fixation, rotation, the session bound to its
secret, several servers sharing one PostgreSQL, and PostgreSQL going away and back."""
import sqlite3
import subprocess
import time

import pytest
import requests

from accounts import PASSWORD, signed_up, unique_name
from api import ApiClient, assert_error
from servers import PostgresCluster, ServerProcess



def session_id(client: ApiClient) -> str | None:
    return client.cookie("sessionid")


# New ids, fixation ----------------------------------------------------------------------

def test_login_never_adopts_a_planted_session_id(client):
    name = unique_name()
    assert ApiClient(client.base_url).signup(name, PASSWORD).status_code == 201
    planted = "A" * 43  # well-formed, chosen by an attacker
    client.set_cookie("sessionid", planted)
    assert client.get("/api/auth/me/").json() == {"user": None}
    assert client.login(name, PASSWORD).status_code == 200
    issued = session_id(client)
    assert issued and issued != planted
    attacker = ApiClient(client.base_url)
    attacker.set_cookie("sessionid", planted)
    assert attacker.get("/api/auth/me/").json() == {"user": None}
    assert client.get("/api/auth/me/").json()["user"]["username"] == name


def test_login_while_logged_in_replaces_the_old_session(client):
    first_name, second_name = unique_name(), unique_name()
    assert ApiClient(client.base_url).signup(second_name, PASSWORD).status_code == 201
    assert client.signup(first_name, PASSWORD).status_code == 201
    old = session_id(client)
    assert client.login(second_name, PASSWORD).status_code == 200
    assert session_id(client) != old
    assert client.get("/api/auth/me/").json()["user"]["username"] == second_name
    replay = ApiClient(client.base_url)
    replay.set_cookie("sessionid", old)
    assert replay.get("/api/auth/me/").json() == {"user": None}


def test_each_login_issues_a_distinct_session(client):
    name = unique_name()
    assert client.signup(name, PASSWORD).status_code == 201
    ids = {session_id(client)}
    for _ in range(3):
        other = ApiClient(client.base_url)
        assert other.login(name, PASSWORD).status_code == 200
        ids.add(session_id(other))
    assert len(ids) == 4
    assert client.get("/api/auth/me/").json()["user"]["username"] == name  # sessions coexist


def test_malformed_session_cookies_are_anonymous(client):
    for value in ["", "x", "A" * 42, "A" * 44, "!" * 43]:
        other = ApiClient(client.base_url)
        other.set_cookie("sessionid", value)
        assert other.get("/api/auth/me/").json() == {"user": None}


# Cookie tossing -------------------------------------------------------------------------

def test_a_duplicated_session_cookie_is_no_session_whichever_comes_first(client):
    """An attacker's session planted at a longer path comes first; neither copy is picked."""
    victim = signed_up(client.base_url)
    attacker = signed_up(client.base_url)
    victim_id, attacker_id = session_id(victim), session_id(attacker)
    for pair in ([attacker_id, victim_id], [victim_id, attacker_id], [victim_id, victim_id]):
        cookie = "; ".join(f"sessionid={value}" for value in pair)
        response = requests.get(client.url("/api/auth/me/"), headers={"Cookie": cookie})
        assert response.json() == {"user": None}, pair
        assert_error(requests.get(client.url("/api/todos/"), headers={"Cookie": cookie}), 401, "not_authenticated")
    # The sessions themselves are untouched.
    assert victim.get("/api/auth/me/").json()["user"] is not None
    assert attacker.get("/api/auth/me/").json()["user"] is not None


def test_a_duplicated_session_cookie_cannot_write_into_either_account(client):
    victim = signed_up(client.base_url)
    attacker = signed_up(client.base_url)
    secret = victim.cookie("csrftoken")
    token = victim.fetch_token()
    cookie = f"sessionid={session_id(attacker)}; sessionid={session_id(victim)}; csrftoken={secret}"
    response = requests.post(client.url("/api/todos/"), json={"title": "private"},
                             headers={"Cookie": cookie, "X-CSRFToken": token, "Origin": "http://localhost:3000"})
    assert_error(response, 401, "not_authenticated")
    assert attacker.get("/api/todos/").json() == {"todos": []}
    assert victim.get("/api/todos/").json() == {"todos": []}


def test_a_duplicated_session_cookie_is_logged_and_expired_at_shadowing_paths(server, client):
    user = signed_up(client.base_url)
    server.new_log_lines()
    cookie = f"sessionid={session_id(user)}; sessionid={'A' * 43}"
    response = requests.get(client.url("/api/todos/"), headers={"Cookie": cookie})
    assert_error(response, 401, "not_authenticated")
    lines = server.new_log_lines().splitlines()
    assert any("warning" in line and "session" in line.lower() and "/api/todos/" in line for line in lines), lines
    expired = [field for field in response.raw.headers.getlist("Set-Cookie")
               if field.startswith("sessionid=") and "Max-Age=0" in field]
    paths = sorted(part.strip()[5:] for field in expired for part in field.split(";")
                   if part.strip().lower().startswith("path="))
    assert paths == ["/api", "/api/", "/api/todos", "/api/todos/"]
    assert user.get("/api/auth/me/").json()["user"] is not None


def test_login_heals_a_session_cookie_planted_at_api_path(client):
    """requests' cookie jar plays the browser: the planted `Path=/api` copy is expired by the
    server, so the log-in that follows sticks."""
    name = unique_name()
    assert client.signup(name, PASSWORD).status_code == 201
    attacker = signed_up(client.base_url)
    host = client.base_url.split("://")[1].split(":")[0]
    client.http.cookies.set("sessionid", session_id(attacker), domain=host, path="/api")
    assert client.get("/api/auth/me/").json() == {"user": None}
    assert [c.path for c in client.http.cookies if c.name == "sessionid"] == ["/"]
    assert client.get("/api/auth/me/").json()["user"]["username"] == name


# CSRF rotation --------------------------------------------------------------------------

@pytest.mark.parametrize("step", ["signup", "login", "logout"])
def test_tokens_fetched_before_a_rotation_fail_after_it(client, step):
    name = unique_name()
    if step != "signup":
        assert ApiClient(client.base_url).signup(name, PASSWORD).status_code == 201
    if step == "logout":
        assert client.login(name, PASSWORD).status_code == 200
    before = client.fetch_token()
    secret_before = client.cookie("csrftoken")
    response = {"signup": lambda: client.signup(name, PASSWORD), "login": lambda: client.login(name, PASSWORD),
                "logout": client.logout}[step]()
    assert response.status_code in (200, 201, 204), response.text
    assert client.cookie("csrftoken") != secret_before
    stale = client.post("/api/ping/", headers={"X-CSRFToken": before}, csrf=False)
    assert_error(stale, 403, "csrf_failed", reason="token_incorrect")
    fresh = client.post("/api/ping/")
    assert fresh.status_code == 200, fresh.text


def test_session_is_bound_to_its_csrf_secret_and_csrf_endpoint_heals(client):
    victim = signed_up(client.base_url)
    victim.fetch_token()
    own_secret = victim.cookie("csrftoken")
    # Another browser's secret and a valid token for it, planted in the victim's browser.
    attacker = ApiClient(client.base_url)
    attacker_token = attacker.fetch_token()
    victim.set_cookie("csrftoken", attacker.cookie("csrftoken"))
    planted = victim.post("/api/todos/", json={"title": "forged"}, headers={"X-CSRFToken": attacker_token}, csrf=False)
    assert_error(planted, 403, "csrf_failed", reason="token_incorrect")
    # The client's refresh-and-retry: GET /api/csrf/ puts the session's own secret back.
    refreshed = victim.http.get(victim.url("/api/csrf/"), headers={"Origin": victim.origin})
    assert refreshed.cookies.get("csrftoken") == own_secret
    victim.token = refreshed.json()["csrfToken"]
    retried = victim.post("/api/todos/", json={"title": "real"})
    assert retried.status_code == 201, retried.text
    assert [todo["title"] for todo in victim.get("/api/todos/").json()["todos"]] == ["real"]


def test_logged_out_requests_use_the_cookie_secret(client):
    token = client.fetch_token()
    assert client.post("/api/ping/", headers={"X-CSRFToken": token}, csrf=False).status_code == 200
    assert_error(client.post("/api/auth/login/", json={"username": "x", "password": "y" * 9}, csrf=False),
                 403, "csrf_failed", reason="token_missing")


def test_session_cookie_is_refreshed_on_use_only_occasionally(client):
    user = signed_up(client.base_url)
    response = user.get("/api/auth/me/")
    # Just issued: no write-back or new cookie on every request.
    assert not any(c.startswith("sessionid=") for c in response.raw.headers.getlist("Set-Cookie"))


def run_sql(server: ServerProcess, sql: str) -> None:
    url = server.database_url
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://"), timeout=10) as connection:
            connection.execute(sql)
    else:
        subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True, timeout=30)


def session_cookies(response) -> list[str]:
    return [c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("sessionid=")]


def test_the_list_reads_the_session_as_every_route_does(server):
    """`GET /api/todos/` reads the session and the list in one statement: the same answers."""
    owner = signed_up(server.url)
    assert owner.get("/api/todos/").json() == {"todos": []}
    assert owner.get("/api/todos/?completed=true").json() == {"todos": []}
    owner.post("/api/todos/", json={"title": "open"})
    owner.post("/api/todos/", json={"title": "done", "completed": True})
    assert [t["title"] for t in owner.get("/api/todos/").json()["todos"]] == ["open", "done"]
    assert [t["title"] for t in owner.get("/api/todos/?completed=false").json()["todos"]] == ["open"]
    assert_error(owner.get("/api/todos/?completed=maybe"), 400, "invalid_filter")

    # Last refreshed two minutes ago: the list pushes the expiry out, and the cookie follows, once.
    run_sql(server, "UPDATE sessions SET expires_at = expires_at - 120000, last_seen_at = last_seen_at - 120000")
    response = owner.get("/api/todos/")
    assert response.status_code == 200 and len(response.json()["todos"]) == 2
    assert len(session_cookies(response)) == 1
    assert session_cookies(owner.get("/api/todos/")) == []
    assert owner.get("/api/auth/me/").json()["user"] is not None

    # Another user's session never reads this user's todos.
    other = signed_up(server.url)
    assert other.get("/api/todos/").json() == {"todos": []}

    # Expired: 401 as on every route, before a bad filter's 400.
    run_sql(server, f"UPDATE sessions SET expires_at = {int(time.time() * 1000) - 1000}")
    assert_error(owner.get("/api/todos/"), 401, "not_authenticated")
    assert_error(owner.get("/api/todos/?completed=maybe"), 401, "not_authenticated")
    assert_error(owner.get("/api/todos/?completed=true"), 401, "not_authenticated")
    for planted in ["A" * 43, "not a token"]:
        stranger = ApiClient(server.url)
        stranger.set_cookie("sessionid", planted)
        assert_error(stranger.get("/api/todos/"), 401, "not_authenticated")


def test_session_cookie_attributes_follow_the_settings(servers):
    server = servers.start("sqlite", SESSION_COOKIE_NAME="todo_session", SESSION_LIFETIME="3600",
                           COOKIE_SAMESITE="Strict")
    client = ApiClient(server.url)
    response = client.signup(unique_name(), PASSWORD)
    cookie = next(c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("todo_session="))
    assert "Max-Age=3600" in cookie and "SameSite=Strict" in cookie and "HttpOnly" in cookie
    assert client.get("/api/auth/me/").json()["user"] is not None


# Several servers, one PostgreSQL ---------------------------------------------------------

@pytest.fixture
def shared_postgres_pair(servers):
    if "postgres" not in __import__("conftest").DATABASES:
        pytest.skip("PostgreSQL tests are disabled")
    url = servers.database_url("postgres")
    return servers.start("postgres", database_url=url), servers.start("postgres", database_url=url)


def test_a_session_created_on_one_server_works_on_another(shared_postgres_pair):
    first, second = shared_postgres_pair
    client = signed_up(first.url)
    name = client.get("/api/auth/me/").json()["user"]["username"]
    todo = client.post("/api/todos/", json={"title": "from the first"}).json()
    client.base_url = second.url
    assert client.get("/api/auth/me/").json()["user"]["username"] == name
    assert client.get(f"/api/todos/{todo['id']}/").json()["title"] == "from the first"
    assert client.post("/api/todos/", json={"title": "from the second"}).status_code == 201
    client.base_url = first.url
    assert [t["title"] for t in client.get("/api/todos/").json()["todos"]] == ["from the first", "from the second"]


def test_logout_on_one_server_ends_the_session_on_both(shared_postgres_pair):
    first, second = shared_postgres_pair
    client = signed_up(first.url)
    on_second = ApiClient(second.url)
    on_second.set_cookie("sessionid", client.cookie("sessionid"))
    assert on_second.get("/api/auth/me/").json()["user"] is not None
    assert client.logout().status_code == 204
    assert on_second.get("/api/auth/me/").json() == {"user": None}
    assert_error(on_second.get("/api/todos/"), 401, "not_authenticated")


def test_throttling_is_shared_between_servers(servers):
    if "postgres" not in __import__("conftest").DATABASES:
        pytest.skip("PostgreSQL tests are disabled")
    url = servers.database_url("postgres")
    env = {"LOGIN_FAILURES_PER_USERNAME": "4"}
    first = servers.start("postgres", database_url=url, **env)
    second = servers.start("postgres", database_url=url, **env)
    name = unique_name()
    signed_up(first.url, name)
    for server in (first, second, first, second):
        assert_error(ApiClient(server.url).login(name, "wrong password"), 400, "invalid_credentials")
    assert_error(ApiClient(first.url).login(name, PASSWORD), 429, "throttled")
    assert_error(ApiClient(second.url).login(name, PASSWORD), 429, "throttled")


# PostgreSQL going away --------------------------------------------------------------------

def test_postgres_outage_answers_503_and_recovers_without_restart(servers):
    if "postgres" not in __import__("conftest").DATABASES:
        pytest.skip("PostgreSQL tests are disabled")
    cluster = PostgresCluster().start()  # its own, so stopping it affects no other test
    try:
        server = servers.start("postgres", database_url=cluster.create_database())
        client = signed_up(server.url)
        assert client.post("/api/todos/", json={"title": "before"}).status_code == 201
        client.fetch_token()

        cluster.stop()
        for request in (lambda: client.get("/api/todos/"), lambda: client.post("/api/todos/", json={"title": "x"}),
                        lambda: client.get("/api/auth/me/"),
                        lambda: ApiClient(server.url).login("someone", PASSWORD)):
            started = time.monotonic()
            response = request()
            assert time.monotonic() - started < 10
            assert_error(response, 503, "database_unavailable")
        health = requests.get(server.url + "/api/health/")
        assert health.status_code == 503
        assert health.json() == {"status": "unavailable", "database": "unavailable"}
        assert requests.get(server.url + "/api/ping/").status_code == 200
        assert "database unavailable" in server.logs()

        cluster.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if requests.get(server.url + "/api/health/").status_code == 200:
                break
            time.sleep(0.25)
        else:
            pytest.fail("the server did not recover within 60 seconds")
        assert server.process.poll() is None  # the same process, no restart
        listed = client.get("/api/todos/")
        assert listed.status_code == 200, listed.text
        assert [todo["title"] for todo in listed.json()["todos"]] == ["before"]
        assert client.post("/api/todos/", json={"title": "after"}).status_code == 201
    finally:
        cluster.cleanup()
