"""PostgreSQL's list cache (docs/list-cache.md): `GET /api/todos/` may be served from the
instance's memory, and must still answer exactly what the database holds once a change has
been answered, whichever instance or client made it: another server, plain SQL, a
TRUNCATE; an ended session is never served; with the listener away, lists come from the
database. Each check reads right after the change's answer, with no pause, and again
while other clients read the same list on the same instance (so barriers are shared)."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from accounts import PASSWORD, signed_up, unique_name
from api import ApiClient


@pytest.fixture
def pair(servers, db):
    """Two instances on one database, and a user logged in whose one cookie works on both."""
    if db != "postgres":
        pytest.skip("PostgreSQL only")
    a = servers.start("postgres")
    b = servers.start("postgres", database_url=a.database_url)
    name = unique_name("cache")
    client = signed_up(a.url, name)
    return a, b, client, name


def sql_on(server, request):
    """Runs plain SQL on the server's database, as an operator would."""
    cluster = request.getfixturevalue("postgres_cluster")
    database = server.database_url.rsplit("/", 1)[1]
    return lambda statement: cluster.psql(statement, database)


def titles(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [todo["title"] for todo in response.json()["todos"]]


def on(client: ApiClient, base_url: str) -> ApiClient:
    client.base_url = base_url
    return client


class Readers:
    """Clients reading the list on one instance in a loop, so that the checks' reads meet
    barriers shared with others; every answer they get must be a 200 or a 401."""

    def __init__(self, base_url: str, cookie: str, count: int = 6):
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.threads = [threading.Thread(target=self.read, args=(base_url, cookie)) for _ in range(count)]

    def read(self, base_url: str, cookie: str) -> None:
        reader = ApiClient(base_url)
        reader.set_cookie("sessionid", cookie)
        while not self.stop.is_set():
            self.statuses.append(reader.get("/api/todos/").status_code)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()
        assert self.statuses and set(self.statuses) <= {200, 401}, set(self.statuses)


def test_changes_on_one_instance_are_read_at_once_on_the_other(pair):
    a, b, client, _ = pair
    with Readers(a.url, client.cookie("sessionid")):
        for round_ in range(15):
            assert titles(on(client, a.url).get("/api/todos/")) is not None  # A has it kept
            created = on(client, b.url).post("/api/todos/", json={"title": f"made on B {round_}"})
            assert created.status_code == 201
            assert f"made on B {round_}" in titles(on(client, a.url).get("/api/todos/"))
            todo = created.json()
            on(client, b.url).patch(f"/api/todos/{todo['id']}/", json={"title": f"renamed {round_}", "completed": True})
            listed = on(client, a.url).get("/api/todos/").json()["todos"]
            assert {"id": todo["id"], "title": f"renamed {round_}", "completed": True}.items() <= \
                next(t for t in listed if t["id"] == todo["id"]).items()
            done = titles(on(client, a.url).get("/api/todos/?completed=true"))
            assert f"renamed {round_}" in done
            assert on(client, b.url).delete(f"/api/todos/{todo['id']}/").status_code == 204
            assert f"renamed {round_}" not in titles(on(client, a.url).get("/api/todos/"))
        for index in range(3):
            on(client, b.url).post("/api/todos/", json={"title": f"bulk {index}"})
        listed_on_a = on(client, a.url).get("/api/todos/").json()["todos"]
        assert listed_on_a == on(client, b.url).get("/api/todos/").json()["todos"]
        assert on(client, b.url).patch("/api/todos/", json={"completed": True}).status_code == 200
        assert titles(on(client, a.url).get("/api/todos/?completed=false")) == []
        assert on(client, b.url).delete("/api/todos/?completed=true").status_code == 200
        assert titles(on(client, a.url).get("/api/todos/")) == []


def test_a_session_ended_on_another_instance_is_refused_at_once(pair):
    a, b, client, name = pair
    client.post("/api/todos/", json={"title": "mine"})
    cookie = client.cookie("sessionid")
    with Readers(a.url, cookie):
        for _ in range(3):
            assert titles(on(client, a.url).get("/api/todos/")) == ["mine"]
        assert on(client, b.url).logout().status_code == 204
        stale = ApiClient(a.url)
        stale.set_cookie("sessionid", cookie)
        assert stale.get("/api/todos/").status_code == 401
    # A password change on B ends the other sessions: A refuses them on the next request.
    laptop = ApiClient(a.url)
    assert laptop.login(name, PASSWORD).status_code == 200
    phone = ApiClient(b.url)
    assert phone.login(name, PASSWORD).status_code == 200
    assert titles(laptop.get("/api/todos/")) == ["mine"]
    changed = phone.post("/api/auth/password/", json={"currentPassword": PASSWORD, "newPassword": "another-password-2"})
    assert changed.status_code == 200, changed.text
    assert laptop.get("/api/todos/").status_code == 401


def test_a_bearer_tokens_list_follows_changes_and_revocation_on_another_instance(pair, request):
    a, b, client, name = pair
    sql = sql_on(a, request)

    def listed(token: str, base_url: str = a.url) -> requests.Response:
        return requests.get(base_url + "/api/todos/", headers={"Authorization": f"Bearer {token}"}, timeout=30)

    created = client.post("/api/auth/tokens/", json={"name": "script", "abilities": ["todos:read", "todos:write"]})
    token, token_id = created.json()["token"], created.json()["id"]
    writer = client.post("/api/auth/tokens/", json={"name": "writer", "abilities": ["todos:write"]}).json()["token"]
    for index in range(3):
        assert titles(listed(token)) == [f"todo {n}" for n in range(index)]
        on(client, b.url).post("/api/todos/", json={"title": f"todo {index}"})
        assert titles(listed(token)) == [f"todo {n}" for n in range(index + 1)]
    # A token that may not read gets 403 wherever its user's list is kept, and keeps nothing.
    assert listed(writer).status_code == 403
    assert titles(listed(token)) == ["todo 0", "todo 1", "todo 2"]
    # Abilities narrowed in SQL, then the token revoked on B: refused on A at once.
    sql(f"UPDATE api_tokens SET abilities = 'todos:write' WHERE id = {token_id}")
    assert listed(token).status_code == 403
    sql(f"UPDATE api_tokens SET abilities = 'todos:read todos:write' WHERE id = {token_id}")
    assert titles(listed(token)) == ["todo 0", "todo 1", "todo 2"]
    assert on(client, b.url).delete(f"/api/auth/tokens/{token_id}/").status_code == 204
    assert listed(token).status_code == 401
    # The account deleted on B: every token of its user is refused on A.
    other = on(client, b.url).post("/api/auth/tokens/", json={"name": "other", "abilities": ["todos:read"]}).json()
    assert titles(listed(other["token"])) == ["todo 0", "todo 1", "todo 2"]
    deleted = on(client, b.url).delete("/api/auth/me/", json={"password": PASSWORD})
    assert deleted.status_code == 204, deleted.text
    assert listed(other["token"]).status_code == 401


def test_plain_sql_changes_are_read_at_once(pair, request):
    a, _, client, name = pair
    sql = sql_on(a, request)
    on(client, a.url)
    client.post("/api/todos/", json={"title": "before"})
    assert titles(client.get("/api/todos/")) == ["before"]
    sql("UPDATE todos SET title = 'changed in SQL'")
    assert titles(client.get("/api/todos/")) == ["changed in SQL"]
    sql("TRUNCATE todos")
    assert titles(client.get("/api/todos/")) == []
    client.post("/api/todos/", json={"title": "again"})
    assert titles(client.get("/api/todos/")) == ["again"]
    sql(f"UPDATE users SET username = 'renamed_{name}' WHERE username = '{name}'")
    assert client.get("/api/auth/me/").json()["user"]["username"] == f"renamed_{name}"
    assert titles(client.get("/api/todos/")) == ["again"]
    sql("DELETE FROM sessions")
    assert client.get("/api/todos/").status_code == 401


def test_with_the_listener_away_lists_come_from_the_database(pair, request):
    a, _, client, _ = pair
    sql = sql_on(a, request)
    database = a.database_url.rsplit("/", 1)[1]
    on(client, a.url)
    client.post("/api/todos/", json={"title": "kept"})
    assert titles(client.get("/api/todos/")) == ["kept"]
    # Every connection of the database is cut (the listener's too); a change made before any
    # reconnection is read, whether the list is then served by the database or the cache.
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()")
    sql("UPDATE todos SET title = 'changed while away'")
    deadline = time.monotonic() + 10
    while True:
        response = client.get("/api/todos/")
        if response.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert titles(response) == ["changed while away"]
    sql("UPDATE todos SET title = 'changed once back'")
    assert titles(client.get("/api/todos/")) == ["changed once back"]
    sql("DELETE FROM sessions")
    assert client.get("/api/todos/").status_code == 401


def listening_backends(cluster, database: str) -> int:
    return int(cluster.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND query = 'LISTEN todolist_cache'" % database,
        database).strip())


def test_the_cache_listens_unless_turned_off(servers, db, request):
    if db != "postgres":
        pytest.skip("PostgreSQL only")
    cluster = request.getfixturevalue("postgres_cluster")
    for setting, listeners in (("0", 0), ("100000", 1)):
        server = servers.start("postgres", LIST_CACHE_TODOS=setting)
        database = server.database_url.rsplit("/", 1)[1]
        deadline = time.monotonic() + 3
        while listening_backends(cluster, database) != listeners and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        assert listening_backends(cluster, database) == listeners
        client = signed_up(server.url, unique_name("nocache"))
        client.post("/api/todos/", json={"title": "read"})
        assert titles(client.get("/api/todos/")) == ["read"]
