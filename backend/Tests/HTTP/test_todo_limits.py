"""Number bounds and the per-user cap, on SQLite and PostgreSQL: every integer the API
emits fits a JavaScript number exactly, and a user never holds more todos than the cap,
even when creates race."""
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from accounts import signed_up
from api import assert_error

MAX_SAFE = 2**53 - 1


def create(user, **fields):
    return user.post("/api/todos/", json={"title": "t", **fields})


def orders(user):
    response = user.get("/api/todos/")
    assert response.status_code == 200, response.text
    return [todo["order"] for todo in response.json()["todos"]]


@pytest.fixture
def user(server):
    return signed_up(server.url)


def test_default_order_may_reach_the_largest_safe_integer(user):
    assert create(user, order=MAX_SAFE - 1).status_code == 201
    response = create(user)
    assert response.status_code == 201, response.text
    assert response.json()["order"] == MAX_SAFE


def test_default_order_beyond_the_largest_safe_integer_is_409_and_creates_nothing(user):
    assert create(user, order=MAX_SAFE).status_code == 201
    body = assert_error(create(user), 409, "order_exhausted")
    assert "order" in body["detail"]
    assert orders(user) == [MAX_SAFE]
    # An explicit order still works, and so does a default one once the top is gone.
    low = create(user, order=5)
    assert low.status_code == 201
    assert user.delete(f"/api/todos/{user.get('/api/todos/').json()['todos'][-1]['id']}/").status_code == 204
    assert create(user).json()["order"] == 6


def test_negative_orders_stay_in_range(user):
    assert create(user, order=-MAX_SAFE).status_code == 201
    assert create(user).json()["order"] == -MAX_SAFE + 1
    assert_error(create(user, order=-MAX_SAFE - 1), 400, "invalid_field", field="order")
    assert_error(create(user, order=MAX_SAFE + 1), 400, "invalid_field", field="order")


def test_orders_beyond_the_range_are_refused_on_patch(user):
    todo = create(user).json()
    assert_error(user.patch(f"/api/todos/{todo['id']}/", json={"order": MAX_SAFE + 1}), 400, "invalid_field",
                 field="order")
    assert user.patch(f"/api/todos/{todo['id']}/", json={"order": MAX_SAFE}).json()["order"] == MAX_SAFE


# The per-user cap ------------------------------------------------------------------------

@pytest.fixture
def capped(servers, db):
    return servers.start(db, TODOS_PER_USER="5")


def test_the_cap_refuses_the_next_create_with_or_without_order(capped):
    user = signed_up(capped.url)
    for _ in range(5):
        assert create(user).status_code == 201
    assert_error(create(user), 409, "too_many_todos")
    assert_error(create(user, order=1), 409, "too_many_todos")
    assert len(orders(user)) == 5
    # Another user has a cap of their own; a deletion makes room again.
    assert create(signed_up(capped.url)).status_code == 201
    first = user.get("/api/todos/").json()["todos"][0]["id"]
    assert user.delete(f"/api/todos/{first}/").status_code == 204
    assert create(user, order=1).status_code == 201
    assert_error(create(user), 409, "too_many_todos")


def test_concurrent_creates_never_exceed_the_cap(capped):
    user = signed_up(capped.url)
    user.fetch_token()
    barrier = threading.Barrier(16)

    def one(index):
        barrier.wait(timeout=30)
        fields = {"order": index} if index % 2 else {}
        return create(user, **fields).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(one, range(16)))
    assert sorted(statuses) == [201] * 5 + [409] * 11, statuses
    assert len(orders(user)) == 5


def test_the_default_cap_is_ten_thousand(servers):
    """Seeded straight into the SQLite file: 9,999 todos, then two creates over HTTP."""
    server = servers.start("sqlite")
    user = signed_up(server.url)
    user_id = user.get("/api/auth/me/").json()["user"]["id"]
    path = server.database_url.removeprefix("sqlite://")
    now = int(time.time() * 1000)
    with sqlite3.connect(path, timeout=30) as db:
        db.executemany(
            "INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at) VALUES (?, ?, 0, ?, ?, ?)",
            [(user_id, f"seed {i}", i, now, now) for i in range(1, 10_000)])
    db.close()
    last = create(user)
    assert last.status_code == 201, last.text
    assert last.json()["order"] == 10_000
    assert_error(create(user), 409, "too_many_todos")
