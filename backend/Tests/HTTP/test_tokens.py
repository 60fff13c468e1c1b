"""Personal access tokens (issue 12): created, listed and revoked from the browser session;
`Authorization: Bearer` on the todo routes and `GET /api/auth/me/`, without cookies or CSRF;
abilities, expiry, ambiguity, and the account routes a token cannot use. Both databases."""
import hashlib
import time

import pytest
import requests

from accounts import PASSWORD, signed_up, unique_name
from api import ApiClient, assert_error
from servers import PostgresCluster
from test_account_management import query, rows_of_user, sessions_of

BOTH = ["todos:read", "todos:write"]


def create_token(owner: ApiClient, name: str = "script", abilities=None, **extra) -> dict:
    response = owner.post("/api/auth/tokens/", json={"name": name, "abilities": abilities or BOTH, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def bearer(base_url: str, token: str, method: str, path: str, **kwargs) -> requests.Response:
    """A script's request: the token and nothing else (no cookies, no Origin, no CSRF token)."""
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return requests.request(method, base_url + path, headers=headers, timeout=30, **kwargs)


def assert_invalid_token(response: requests.Response) -> None:
    assert_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# Creating and listing ----------------------------------------------------------------------

def test_a_token_is_shown_once_and_stored_only_as_a_hash(server, client):
    owner = signed_up(client.base_url)
    response = owner.post("/api/auth/tokens/", json={"name": "  backup script  ", "abilities": ["todos:write", "todos:read"]})
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    created = response.json()
    assert set(created) == {"token", "id", "name", "abilities", "createdAt", "expiresAt", "lastUsedAt"}
    token = created["token"]
    assert token.startswith("tdl_") and len(token) == 47
    assert created["name"] == "backup script"
    assert created["abilities"] == BOTH
    assert created["expiresAt"] is None and created["lastUsedAt"] is None
    assert isinstance(created["id"], int)

    listed = owner.get("/api/auth/tokens/").json()["tokens"]
    assert listed == [{k: v for k, v in created.items() if k != "token"}]
    assert token not in owner.get("/api/auth/tokens/").text

    stored = query(server, f"SELECT token_hash FROM api_tokens WHERE id = {created['id']}")
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(),)]
    dump = query(server, "SELECT id, user_id, name, token_hash, abilities FROM api_tokens")
    assert all(token not in "|".join(map(str, row)) for row in dump)


def test_tokens_are_listed_newest_first_and_only_to_their_owner(client):
    owner = signed_up(client.base_url)
    stranger = signed_up(client.base_url)
    first = create_token(owner, "first", ["todos:read"])
    second = create_token(owner, "second", ["todos:write"], expiresIn=3600)
    create_token(stranger, "theirs")
    listed = owner.get("/api/auth/tokens/").json()["tokens"]
    assert [t["id"] for t in listed] == [second["id"], first["id"]]
    assert listed[0]["abilities"] == ["todos:write"] and listed[1]["abilities"] == ["todos:read"]
    assert listed[0]["expiresAt"] is not None
    assert [t["name"] for t in stranger.get("/api/auth/tokens/").json()["tokens"]] == ["theirs"]


def test_last_use_is_recorded(client):
    owner = signed_up(client.base_url)
    created = create_token(owner)
    assert bearer(client.base_url, created["token"], "GET", "/api/todos/").status_code == 200
    listed = owner.get("/api/auth/tokens/").json()["tokens"][0]
    assert listed["lastUsedAt"] is not None and listed["lastUsedAt"] >= created["createdAt"]


@pytest.mark.parametrize("body, code, field", [
    ({"abilities": BOTH}, "invalid_name", "name"),
    ({"name": "", "abilities": BOTH}, "invalid_name", "name"),
    ({"name": "   ", "abilities": BOTH}, "invalid_name", "name"),
    ({"name": "x" * 101, "abilities": BOTH}, "invalid_name", "name"),
    ({"name": "tab\there", "abilities": BOTH}, "invalid_name", "name"),
    ({"name": 7, "abilities": BOTH}, "invalid_field", "name"),
    ({"name": "n"}, "invalid_abilities", "abilities"),
    ({"name": "n", "abilities": []}, "invalid_abilities", "abilities"),
    ({"name": "n", "abilities": ["todos:admin"]}, "invalid_abilities", "abilities"),
    ({"name": "n", "abilities": ["todos:read", "todos:read"]}, "invalid_abilities", "abilities"),
    ({"name": "n", "abilities": [1]}, "invalid_abilities", "abilities"),
    ({"name": "n", "abilities": "todos:read"}, "invalid_field", "abilities"),
    ({"name": "n", "abilities": BOTH, "expiresIn": 0}, "invalid_expires_in", "expiresIn"),
    ({"name": "n", "abilities": BOTH, "expiresIn": -5}, "invalid_expires_in", "expiresIn"),
    ({"name": "n", "abilities": BOTH, "expiresIn": 31_622_401}, "invalid_expires_in", "expiresIn"),
    ({"name": "n", "abilities": BOTH, "expiresIn": 1.5}, "invalid_expires_in", "expiresIn"),
    ({"name": "n", "abilities": BOTH, "expiresIn": "60"}, "invalid_field", "expiresIn"),
])
def test_token_creation_validation(client, body, code, field):
    owner = signed_up(client.base_url)
    assert_error(owner.post("/api/auth/tokens/", json=body), 400, code, field=field)
    assert owner.get("/api/auth/tokens/").json() == {"tokens": []}


def test_name_limits_and_a_null_expiry(client):
    owner = signed_up(client.base_url)
    assert create_token(owner, "é" * 100)["name"] == "é" * 100
    assert create_token(owner, "n", expiresIn=None)["expiresAt"] is None
    longest = create_token(owner, "n", expiresIn=31_622_400)
    assert longest["expiresAt"] > longest["createdAt"]


def test_a_user_holds_at_most_a_hundred_tokens(client):
    owner = signed_up(client.base_url)
    for index in range(100):
        create_token(owner, f"t{index}")
    assert_error(owner.post("/api/auth/tokens/", json={"name": "one too many", "abilities": BOTH}), 409,
                 "too_many_tokens")
    victim = owner.get("/api/auth/tokens/").json()["tokens"][0]["id"]
    assert owner.delete(f"/api/auth/tokens/{victim}/").status_code == 204
    create_token(owner, "room again")


def test_expired_tokens_do_not_count_toward_the_cap(client):
    """A script that makes itself a short-lived token every day must not lock its owner out
    after a hundred days: only live tokens count (expired ones stay listed until purged)."""
    owner = signed_up(client.base_url)
    for index in range(99):
        create_token(owner, f"short-lived {index}", expiresIn=1)
    create_token(owner, "long-lived")
    time.sleep(1.2)
    fresh = create_token(owner, "after the others expired")
    listed = owner.get("/api/auth/tokens/").json()["tokens"]
    assert len(listed) == 101 and listed[0]["id"] == fresh["id"]


# Bearer authentication on the todo routes ----------------------------------------------------

def test_a_token_with_both_abilities_uses_every_todo_route_without_csrf(client):
    owner = signed_up(client.base_url)
    token = create_token(owner)["token"]
    base = client.base_url
    created = bearer(base, token, "POST", "/api/todos/", json={"title": "from a script"})
    assert created.status_code == 201, created.text
    todo_id = created.json()["id"]
    assert "Set-Cookie" not in created.headers
    assert bearer(base, token, "GET", f"/api/todos/{todo_id}/").json()["title"] == "from a script"
    assert bearer(base, token, "PATCH", f"/api/todos/{todo_id}/", json={"completed": True}).json()["completed"]
    assert bearer(base, token, "PATCH", "/api/todos/", json={"completed": False}).json() == {"updated": 1}
    assert bearer(base, token, "GET", "/api/todos/?completed=false").json()["todos"][0]["id"] == todo_id
    assert bearer(base, token, "DELETE", "/api/todos/?completed=true").json() == {"deleted": 0}
    assert bearer(base, token, "DELETE", f"/api/todos/{todo_id}/").status_code == 204
    # The browser session sees what the script did.
    assert owner.get("/api/todos/").json() == {"todos": []}
    # A cross-site-looking Origin changes nothing for a bearer request: there is no CSRF check.
    response = bearer(base, token, "POST", "/api/todos/", json={"title": "x"},
                      headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 201
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("path", ["/api//todos/", "//api/todos/", "/api/todos//"])
def test_a_path_with_an_empty_segment_is_the_same_route_for_a_token_whatever_the_method(sqlite_client, path):
    # The router skips empty segments, so the route takes the token: a write must pass
    # without CSRF as a read does (a script joining base + "/" + path).
    owner = signed_up(sqlite_client.base_url)
    token = create_token(owner)["token"]
    created = bearer(sqlite_client.base_url, token, "POST", path, json={"title": "joined"})
    assert created.status_code == 201, created.text
    assert [t["title"] for t in bearer(sqlite_client.base_url, token, "GET", path).json()["todos"]] == ["joined"]


def test_get_me_names_the_tokens_user(client):
    owner = signed_up(client.base_url)
    me = owner.get("/api/auth/me/").json()
    token = create_token(owner, abilities=["todos:write"])["token"]
    assert bearer(client.base_url, token, "GET", "/api/auth/me/").json() == me
    assert_invalid_token(bearer(client.base_url, "tdl_" + "A" * 43, "GET", "/api/auth/me/"))


def test_a_read_token_cannot_write(client):
    owner = signed_up(client.base_url)
    assert owner.post("/api/todos/", json={"title": "existing"}).status_code == 201
    todo_id = owner.get("/api/todos/").json()["todos"][0]["id"]
    token = create_token(owner, abilities=["todos:read"])["token"]
    base = client.base_url
    assert bearer(base, token, "GET", "/api/todos/").status_code == 200
    assert bearer(base, token, "GET", f"/api/todos/{todo_id}/").status_code == 200
    for method, path, body in [("POST", "/api/todos/", {"title": "x"}), ("PATCH", "/api/todos/", {"completed": True}),
                               ("DELETE", "/api/todos/?completed=true", None),
                               ("PATCH", f"/api/todos/{todo_id}/", {"title": "changed"}),
                               ("DELETE", f"/api/todos/{todo_id}/", None)]:
        response = bearer(base, token, method, path, json=body)
        assert_error(response, 403, "insufficient_scope")
        assert "todos:write" in response.headers["WWW-Authenticate"]
    assert [t["title"] for t in owner.get("/api/todos/").json()["todos"]] == ["existing"]


def test_a_write_token_cannot_read(client):
    owner = signed_up(client.base_url)
    token = create_token(owner, abilities=["todos:write"])["token"]
    base = client.base_url
    created = bearer(base, token, "POST", "/api/todos/", json={"title": "write only"})
    assert created.status_code == 201
    assert_error(bearer(base, token, "GET", "/api/todos/"), 403, "insufficient_scope")
    assert_error(bearer(base, token, "GET", f"/api/todos/{created.json()['id']}/"), 403, "insufficient_scope")


def test_a_token_sees_only_its_users_todos(client):
    owner = signed_up(client.base_url)
    stranger = signed_up(client.base_url)
    theirs = stranger.post("/api/todos/", json={"title": "not yours"}).json()["id"]
    token = create_token(owner)["token"]
    assert_error(bearer(client.base_url, token, "GET", f"/api/todos/{theirs}/"), 404, "not_found")
    assert_error(bearer(client.base_url, token, "DELETE", f"/api/todos/{theirs}/"), 404, "not_found")
    assert bearer(client.base_url, token, "GET", "/api/todos/").json() == {"todos": []}


@pytest.mark.parametrize("header", [
    "Bearer tdl_" + "A" * 43,          # well-formed, unknown
    "Bearer not-a-token",              # b64token, not ours
    "Bearer",                          # nothing after the scheme
    "Bearer two words",                # not a b64token
    "bearer tdl_" + "A" * 42 + "!",    # scheme in any case; bad character
])
def test_a_bad_token_is_401_invalid_token(client, header):
    response = requests.get(client.url("/api/todos/"), headers={"Authorization": header}, timeout=30)
    assert_invalid_token(response)
    response = requests.post(client.url("/api/todos/"), json={"title": "x"}, headers={"Authorization": header}, timeout=30)
    assert_invalid_token(response)


def test_other_authorization_schemes_are_not_bearer_tokens(client):
    response = requests.get(client.url("/api/todos/"), headers={"Authorization": "Basic dXNlcjpwYXNz"}, timeout=30)
    assert_error(response, 401, "not_authenticated")
    # Without a bearer token an unsafe request is CSRF-checked as always.
    response = requests.post(client.url("/api/todos/"), json={"title": "x"},
                             headers={"Authorization": "Basic dXNlcjpwYXNz"}, timeout=30)
    assert_error(response, 403, "csrf_failed")


@pytest.mark.parametrize("token", ["junk", "valid"])
def test_a_bearer_header_lifts_no_csrf_check_where_tokens_are_not_credentials(client, token):
    """Bearer tokens authenticate the todo routes (API.md, "Bearer tokens"); log-in, sign-up,
    log-out and ping take none, so an `Authorization` header there is no reason to skip CSRF:
    a cross-site log-in with the header is refused like one without it."""
    name = unique_name()
    owner = signed_up(client.base_url, name)
    if token == "valid":
        token = create_token(owner, abilities=["todos:write"])["token"]
    headers = {"Authorization": f"Bearer {token}", "Origin": "https://evil.example",
               "Sec-Fetch-Site": "cross-site"}
    attempts = [("/api/auth/login/", {"username": name, "password": PASSWORD}),
                ("/api/auth/signup/", {"username": unique_name(), "password": PASSWORD}),
                ("/api/auth/logout/", None), ("/api/ping/", None), ("/api/nothing/", None)]
    for path, body in attempts:
        response = requests.post(client.url(path), json=body, headers=headers, timeout=30)
        assert_error(response, 403, "csrf_failed")
        assert "Set-Cookie" not in response.headers, path


def test_routing_comes_before_token_checks(client):
    assert_error(requests.get(client.url("/api/nothing/"), headers={"Authorization": "Bearer junk"}, timeout=30),
                 404, "not_found")
    assert_error(requests.get(client.url("/api/todos/abc/"), headers={"Authorization": "Bearer junk"}, timeout=30),
                 404, "not_found")


def test_a_revoked_token_stops_working_at_once(client):
    owner = signed_up(client.base_url)
    created = create_token(owner)
    assert bearer(client.base_url, created["token"], "GET", "/api/todos/").status_code == 200
    assert owner.delete(f"/api/auth/tokens/{created['id']}/").status_code == 204
    assert_invalid_token(bearer(client.base_url, created["token"], "GET", "/api/todos/"))
    assert owner.get("/api/auth/tokens/").json() == {"tokens": []}
    assert_error(owner.delete(f"/api/auth/tokens/{created['id']}/"), 404, "not_found")


def test_another_users_token_cannot_be_revoked(client):
    owner = signed_up(client.base_url)
    stranger = signed_up(client.base_url)
    theirs = create_token(stranger)
    assert_error(owner.delete(f"/api/auth/tokens/{theirs['id']}/"), 404, "not_found")
    for path_id in ["abc", "0", "-1", "99999999999999999999"]:
        assert_error(owner.delete(f"/api/auth/tokens/{path_id}/"), 404, "not_found")
    assert bearer(client.base_url, theirs["token"], "GET", "/api/todos/").status_code == 200


def test_an_expired_token_is_refused(client):
    owner = signed_up(client.base_url)
    created = create_token(owner, expiresIn=1)
    assert bearer(client.base_url, created["token"], "GET", "/api/todos/").status_code == 200
    time.sleep(1.3)
    assert_invalid_token(bearer(client.base_url, created["token"], "GET", "/api/todos/"))
    # Still listed, so its owner sees why, and can revoke it.
    assert [t["id"] for t in owner.get("/api/auth/tokens/").json()["tokens"]] == [created["id"]]


# Bearer and cookie together; account routes ---------------------------------------------------

def test_a_token_and_a_session_cookie_together_are_ambiguous(client):
    owner = signed_up(client.base_url)
    token = create_token(owner)["token"]
    both = {"Authorization": f"Bearer {token}"}
    assert_error(owner.get("/api/todos/", headers=both), 400, "ambiguous_credentials")
    assert_error(owner.get("/api/auth/me/", headers=both), 400, "ambiguous_credentials")
    # With a cookie the request is CSRF-checked as any browser request; a valid one is still ambiguous.
    assert_error(owner.post("/api/todos/", json={"title": "x"}, headers=both, csrf=False), 403, "csrf_failed")
    assert_error(owner.post("/api/todos/", json={"title": "x"}, headers=both), 400, "ambiguous_credentials")
    assert_error(owner.get("/api/auth/sessions/", headers=both), 400, "ambiguous_credentials")
    # A revoked or bogus token with a cookie is just as ambiguous: neither is used.
    assert_error(owner.get("/api/todos/", headers={"Authorization": "Bearer junk"}), 400, "ambiguous_credentials")
    assert owner.get("/api/todos/").json() == {"todos": []}


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/auth/sessions/"), ("DELETE", "/api/auth/sessions/"), ("DELETE", "/api/auth/sessions/1/"),
    ("POST", "/api/auth/password/"), ("DELETE", "/api/auth/me/"),
    ("GET", "/api/auth/tokens/"), ("POST", "/api/auth/tokens/"), ("DELETE", "/api/auth/tokens/1/"),
])
def test_a_token_cannot_manage_the_account(client, method, path):
    owner = signed_up(client.base_url)
    created = create_token(owner)
    body = {"password": PASSWORD, "currentPassword": PASSWORD, "newPassword": "another passphrase",
            "name": "escalated", "abilities": BOTH}
    assert_error(bearer(client.base_url, created["token"], method, path, json=body), 403, "session_required")
    assert_invalid_token(bearer(client.base_url, "tdl_" + "B" * 43, method, path, json=body))
    assert owner.get("/api/auth/me/").json()["user"] is not None
    assert len(owner.get("/api/auth/tokens/").json()["tokens"]) == 1


# Tokens and the account ------------------------------------------------------------------------

def test_tokens_survive_a_password_change(client):
    owner = signed_up(client.base_url)
    token = create_token(owner)["token"]
    assert owner.post("/api/auth/password/",
                      json={"currentPassword": PASSWORD, "newPassword": "another passphrase"}).status_code == 200
    assert bearer(client.base_url, token, "GET", "/api/todos/").status_code == 200


def test_deleting_the_account_deletes_its_tokens(server, client):
    owner = signed_up(client.base_url)
    user_id = owner.get("/api/auth/me/").json()["user"]["id"]
    token = create_token(owner)["token"]
    assert bearer(client.base_url, token, "POST", "/api/todos/", json={"title": "t"}).status_code == 201
    assert owner.delete("/api/auth/me/", json={"password": PASSWORD}).status_code == 204
    assert_invalid_token(bearer(client.base_url, token, "GET", "/api/todos/"))
    assert rows_of_user(server, user_id) == {"users": 0, "todos": 0, "sessions": 0, "api_tokens": 0}


def test_bearer_requests_do_not_touch_sessions(client):
    owner = signed_up(client.base_url)
    token = create_token(owner)["token"]
    for _ in range(3):
        assert bearer(client.base_url, token, "GET", "/api/todos/").status_code == 200
    assert len(sessions_of(owner)) == 1


def test_a_token_revoked_on_one_server_is_refused_by_the_other_at_once(servers):
    if "postgres" not in __import__("conftest").DATABASES:
        pytest.skip("PostgreSQL tests are disabled")
    url = servers.database_url("postgres")
    first, second = servers.start("postgres", database_url=url), servers.start("postgres", database_url=url)
    owner = signed_up(first.url)
    created = create_token(owner)
    assert bearer(second.url, created["token"], "GET", "/api/todos/").status_code == 200
    assert owner.delete(f"/api/auth/tokens/{created['id']}/").status_code == 204
    assert_invalid_token(bearer(second.url, created["token"], "GET", "/api/todos/"))


# The list, read with the token in one statement -------------------------------------------------

def last_used_at(server, token_id: int) -> int | None:
    (value,) = query(server, f"SELECT last_used_at FROM api_tokens WHERE id = {token_id}")[0]
    return None if value in (None, "") else int(value)


def test_the_list_reads_the_token_as_every_route_does(server):
    """`GET /api/todos/` with a bearer token: the answers of every other todo route, on both
    engines, whether the route checks the token by itself or with the list."""
    base = server.url
    owner = signed_up(base)
    created = create_token(owner)
    token = created["token"]

    def get(path: str, with_token: str = token) -> requests.Response:
        return bearer(base, with_token, "GET", path)

    assert get("/api/todos/").json() == {"todos": []}
    assert get("/api/todos/?completed=true").json() == {"todos": []}
    assert bearer(base, token, "POST", "/api/todos/", json={"title": "open"}).status_code == 201
    assert bearer(base, token, "POST", "/api/todos/", json={"title": "done", "completed": True}).status_code == 201
    everything = owner.get("/api/todos/").json()
    assert get("/api/todos/").json() == everything
    assert get("/api/todos").json() == everything
    assert [t["title"] for t in everything["todos"]] == ["open", "done"]
    assert [t["title"] for t in get("/api/todos/?completed=false").json()["todos"]] == ["open"]
    assert [t["title"] for t in get("/api/todos/?completed=true").json()["todos"]] == ["done"]
    assert_error(get("/api/todos/?completed=maybe"), 400, "invalid_filter")
    assert get("/api/todos/").headers["Cache-Control"] == owner.get("/api/todos/").headers["Cache-Control"]

    # The last use is written at most once a minute, by the list as by any route.
    used = last_used_at(server, created["id"])
    assert used is not None
    assert get("/api/todos/").status_code == 200
    assert last_used_at(server, created["id"]) == used
    query(server, f"UPDATE api_tokens SET last_used_at = last_used_at - 120000 WHERE id = {created['id']}")
    before = int(time.time() * 1000)
    assert get("/api/todos/?completed=true").status_code == 200
    assert last_used_at(server, created["id"]) >= before - 1000
    # A bad filter's request used the token too.
    query(server, f"UPDATE api_tokens SET last_used_at = NULL WHERE id = {created['id']}")
    assert_error(get("/api/todos/?completed=maybe"), 400, "invalid_filter")
    assert last_used_at(server, created["id"]) is not None

    # Another user's token lists only that user's todos.
    assert get("/api/todos/", create_token(signed_up(base))["token"]).json() == {"todos": []}

    # A read-only token lists; a token without todos:read is 403 before a bad filter's 400,
    # and was used all the same.
    assert get("/api/todos/", create_token(owner, "reader", ["todos:read"])["token"]).json() == everything
    writer = create_token(owner, "writer", ["todos:write"])
    for path in ["/api/todos/", "/api/todos/?completed=true", "/api/todos/?completed=maybe"]:
        response = get(path, writer["token"])
        assert_error(response, 403, "insufficient_scope")
        assert 'scope="todos:read"' in response.headers["WWW-Authenticate"]
    assert last_used_at(server, writer["id"]) is not None
    # An ability this version does not know grants nothing, however close its name.
    query(server, f"UPDATE api_tokens SET abilities = 'todos:reader todos:write' WHERE id = {writer['id']}")
    assert_error(get("/api/todos/", writer["token"]), 403, "insufficient_scope")
    query(server, f"UPDATE api_tokens SET abilities = 'todos:read todos:write' WHERE id = {writer['id']}")
    assert get("/api/todos/", writer["token"]).json() == everything

    # Expired, revoked, unknown or malformed: 401 invalid_token, before a bad filter's 400.
    expiring = create_token(owner, "expiring")
    query(server, f"UPDATE api_tokens SET expires_at = {int(time.time() * 1000) - 1000} WHERE id = {expiring['id']}")
    assert owner.delete(f"/api/auth/tokens/{created['id']}/").status_code == 204
    for bad in [expiring["token"], token, "tdl_" + "A" * 43, "not-a-token"]:
        for path in ["/api/todos/", "/api/todos/?completed=true", "/api/todos/?completed=maybe"]:
            assert_invalid_token(get(path, bad))
    assert [t["title"] for t in owner.get("/api/todos/").json()["todos"]] == ["open", "done"]


def test_the_token_list_answers_503_while_postgres_is_away_and_recovers(servers):
    """The token list's statement meets the outage as the token lookup did: 503, then the
    same list once PostgreSQL is back, with no restart."""
    if "postgres" not in __import__("conftest").DATABASES:
        pytest.skip("PostgreSQL tests are disabled")
    cluster = PostgresCluster().start()  # its own, so stopping it affects no other test
    try:
        server = servers.start("postgres", database_url=cluster.create_database())
        owner = signed_up(server.url)
        owner.post("/api/todos/", json={"title": "kept"})
        token = create_token(owner)["token"]
        cluster.stop()
        for path in ["/api/todos/", "/api/todos/?completed=false", "/api/todos/?completed=maybe"]:
            started = time.monotonic()
            response = bearer(server.url, token, "GET", path)
            assert time.monotonic() - started < 10
            assert_error(response, 503, "database_unavailable")
        cluster.start()
        deadline = time.monotonic() + 60
        while requests.get(server.url + "/api/health/", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover within 60 seconds"
            time.sleep(0.25)
        listed = bearer(server.url, token, "GET", "/api/todos/")
        assert listed.status_code == 200, listed.text
        assert [t["title"] for t in listed.json()["todos"]] == ["kept"]
        assert server.process.poll() is None
    finally:
        cluster.cleanup()
