"""Private answers are never stored: every response that depends on the session carries
`Cache-Control: no-store` and `Vary: Cookie` (beside CORS's `Vary: Origin`), errors included."""
import pytest
import requests

from accounts import signed_up
from api import ApiClient

ALLOWED = "http://localhost:3000"


def vary(response) -> set[str]:
    return {value.strip().lower() for value in response.headers.get("Vary", "").split(",") if value.strip()}


def assert_private(response):
    assert response.headers.get("Cache-Control") == "no-store", (response.status_code, response.headers)
    assert {"cookie", "origin"} <= vary(response), response.headers
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_every_todo_route_is_private(server):
    user = signed_up(server.url)
    created = user.post("/api/todos/", json={"title": "mine"})
    assert created.status_code == 201
    todo = created.json()["id"]
    answers = [
        created,
        user.get("/api/todos/"),
        user.get("/api/todos/?completed=true"),
        user.get(f"/api/todos/{todo}/"),
        user.patch(f"/api/todos/{todo}/", json={"completed": True}),
        user.patch("/api/todos/", json={"completed": False}),
        user.delete("/api/todos/?completed=true"),
        user.delete(f"/api/todos/{todo}/"),
        # Errors depend on the session too.
        user.get(f"/api/todos/{todo}/"),                       # 404
        user.get("/api/todos/?completed=maybe"),               # 400
        user.post("/api/todos/", json={"title": ""}),          # 400
        ApiClient(server.url).get("/api/todos/"),              # 401
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200, 200, 200, 204, 404, 400, 400, 401]
    for answer in answers:
        assert_private(answer)


def test_every_auth_route_is_private(server):
    client = ApiClient(server.url)
    answers = [client.get("/api/auth/me/")]
    answers.append(client.signup("cache_" + __import__("uuid").uuid4().hex[:8], "correct horse battery"))
    answers.append(client.get("/api/auth/me/"))
    answers.append(client.logout())
    answers.append(client.login("nobody_here", "wrong password"))
    answers.append(client.post("/api/auth/signup/", json={"username": "", "password": "x"}))
    assert [a.status_code for a in answers] == [200, 201, 200, 204, 400, 400]
    for answer in answers:
        assert_private(answer)


def test_csrf_refusal_and_token_endpoint_are_private(sqlite_server):
    refused = requests.post(sqlite_server.url + "/api/todos/", headers={"Origin": ALLOWED})
    assert refused.status_code == 403
    assert_private(refused)
    token = requests.get(sqlite_server.url + "/api/csrf/", headers={"Origin": ALLOWED})
    assert_private(token)


def test_ping_stays_public(sqlite_server):
    response = requests.get(sqlite_server.url + "/api/ping/")
    assert response.headers["Vary"] == "Origin"
