"""The General and Health sections: paths, errors, bodies, start-up validation."""
import subprocess
import time

import pytest
import requests

from accounts import signed_up
from api import assert_error
from servers import server_binary


def test_ping_get_and_post(sqlite_client):
    assert sqlite_client.get("/api/ping/").json() == {"result": "OK"}
    response = sqlite_client.post("/api/ping/")
    assert response.status_code == 200 and response.json() == {"result": "OK"}


@pytest.mark.parametrize("path", ["/api/ping/", "/api/ping", "/api/csrf/", "/api/csrf", "/api/health/", "/api/health"])
def test_paths_answer_with_and_without_trailing_slash(sqlite_client, path):
    response = sqlite_client.get(path)
    assert response.status_code == 200
    assert not response.history  # no redirect


def test_health_reports_the_database(sqlite_client):
    response = sqlite_client.get("/api/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_unknown_path_is_json_404(sqlite_client):
    assert_error(sqlite_client.get("/api/unknown/"), 404, "not_found")
    assert_error(sqlite_client.get("/"), 404, "not_found")


def test_wrong_method_is_405_with_allow(sqlite_client):
    response = sqlite_client.delete("/api/ping/")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    response = sqlite_client.post("/api/health/")
    assert_error(response, 405, "method_not_allowed")


def test_responses_are_json_utf8(sqlite_client):
    assert sqlite_client.get("/api/ping/").headers["Content-Type"] == "application/json; charset=utf-8"


def test_body_checks(sqlite_client):
    big = '{"x": "' + "a" * (64 * 1024) + '"}'
    assert_error(sqlite_client.post("/api/ping/", data=big, headers={"Content-Type": "application/json"}),
                 413, "payload_too_large")
    exactly = '"' + "a" * (64 * 1024 - 2) + '"'
    assert sqlite_client.post("/api/ping/", data=exactly, headers={"Content-Type": "application/json"}).status_code == 200
    assert_error(sqlite_client.post("/api/ping/", data="a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}),
                 415, "unsupported_media_type")
    assert_error(sqlite_client.post("/api/ping/", data="[1,", headers={"Content-Type": "application/json"}),
                 400, "invalid_json")
    ok = sqlite_client.post("/api/ping/", json={"anything": True})
    assert ok.status_code == 200


BODYLESS_ROUTES = [
    ("DELETE", "/api/todos/?completed=true"),
    ("DELETE", "/api/todos/{todo}/"),
    ("POST", "/api/auth/logout/"),
    ("DELETE", "/api/auth/sessions/"),
    ("DELETE", "/api/auth/sessions/{session}/"),
    ("DELETE", "/api/auth/tokens/{token}/"),
]


@pytest.mark.parametrize("method,path", BODYLESS_ROUTES)
@pytest.mark.parametrize("body,content_type,status,code", [
    (b"{bad", "application/json", 400, "invalid_json"),
    (b"x", "text/plain", 415, "unsupported_media_type"),
])
def test_a_body_the_contract_refuses_is_refused_on_routes_that_take_none(
        client, method, path, body, content_type, status, code):
    # API.md: a body that is not JSON is 400, a non-JSON type 415, whatever the route; a
    # refused request changes nothing (here: the todo, the session and the token stay).
    owner = signed_up(client.base_url)
    todo = owner.post("/api/todos/", json={"title": "kept", "completed": True}).json()
    token = owner.post("/api/auth/tokens/", json={"name": "kept", "abilities": ["todos:read"]}).json()
    session = next(s["id"] for s in owner.get("/api/auth/sessions/").json()["sessions"] if s["current"])
    target = path.format(todo=todo["id"], session=session, token=token["id"])
    response = owner.request(method, target, data=body, headers={"Content-Type": content_type})
    assert_error(response, status, code)
    assert owner.get("/api/todos/").json()["todos"] == [todo]
    assert [t["id"] for t in owner.get("/api/auth/tokens/").json()["tokens"]] == [token["id"]]
    # An empty body, or JSON, is still fine.
    assert owner.request(method, target, data=b"{}", headers={"Content-Type": "application/json"}).status_code < 300


def test_request_id_is_returned_and_logged(sqlite_server, sqlite_client):
    sqlite_server.new_log_lines()
    response = sqlite_client.get("/api/ping/")
    request_id = response.headers["X-Request-Id"]
    log = sqlite_server.new_log_lines(until=request_id)
    assert request_id in log and "GET" in log and "/api/ping/" in log and "200" in log


def run_with_env(**env):
    base = {"PATH": "/usr/bin:/bin", "PORT": "0"}
    base.update(env)
    return subprocess.run([str(server_binary()), "serve"], env=base, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("name,value", [
    ("FRONTEND_ORIGINS", "http://localhost:3000/app"),
    ("FRONTEND_ORIGINS", "localhost:3000"),
    ("FRONTEND_ORIGINS", "ftp://files.example.com"),
    ("FRONTEND_ORIGINS", "http://localhost:99999"),
    ("COOKIE_SAMESITE", "sometimes"),
    ("COOKIE_SECURE", "maybe"),
    ("PORT", "eighty"),
    ("LOG_LEVEL", "loud"),
    ("CSRF_COOKIE_NAME", "__Host-csrftoken"),
])
def test_invalid_setting_stops_the_server_with_exit_code_2(name, value):
    result = run_with_env(**{name: value})
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], result.stderr


def test_help_lists_every_setting():
    result = subprocess.run([str(server_binary()), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for name in ["HOST", "PORT", "FRONTEND_ORIGINS", "COOKIE_SECURE", "COOKIE_SAMESITE", "COOKIE_DOMAIN",
                 "CSRF_COOKIE_NAME", "LOG_LEVEL", "DATABASE_URL", "TRUSTED_PROXIES"]:
        assert name in result.stdout


def test_sigterm_stops_gracefully(servers, db):
    server = servers.start(db)
    # On PostgreSQL the live updates' listener is connected by now; it closes its connection too.
    time.sleep(1.0)
    assert server.stop() == 0, server.logs()


def test_the_last_requests_are_in_the_log_after_a_graceful_stop(servers):
    """Access lines wait a moment to be written together; stopping writes what waits."""
    server = servers.start()
    request_ids = [requests.get(server.url + "/api/ping/").headers["X-Request-Id"] for _ in range(5)]
    assert server.stop() == 0, server.logs()
    log = server.logs()
    assert all(request_id in log for request_id in request_ids), log[-2000:]
