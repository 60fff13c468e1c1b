"""The Todos section: every endpoint, validation with the field named, ownership,
filters, ids, and concurrent writes, on SQLite and PostgreSQL."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from accounts import signed_up
from api import ApiClient, assert_error

TODO_KEYS = {"id", "title", "completed", "order", "createdAt", "updatedAt"}


@pytest.fixture
def user(server) -> ApiClient:
    return signed_up(server.url)


def create(user, title="something", **fields):
    response = user.post("/api/todos/", json={"title": title, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def titles(user, query=""):
    response = user.get("/api/todos/" + query)
    assert response.status_code == 200, response.text
    return [todo["title"] for todo in response.json()["todos"]]


# Authentication first ---------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("GET", "/api/todos/"), ("POST", "/api/todos/"), ("PATCH", "/api/todos/"), ("DELETE", "/api/todos/?completed=true"),
    ("GET", "/api/todos/1/"), ("PATCH", "/api/todos/1/"), ("DELETE", "/api/todos/1/"), ("GET", "/api/todos"),
])  # A path that can never name a todo is 404 even logged out: test_hostile_input.py.
def test_logged_out_gets_401_before_any_body_check(client, method, path):
    # An invalid body must not be looked at before authentication.
    response = client.request(method, path, data="{not json", headers={"Content-Type": "text/plain"})
    assert_error(response, 401, "not_authenticated")


# Create, read, update, delete -------------------------------------------------------

def test_create_defaults_and_shape(user):
    first = create(user, "  buy milk  ")
    assert set(first) == TODO_KEYS
    assert first["title"] == "buy milk" and first["completed"] is False and first["order"] == 1
    assert first["createdAt"] == first["updatedAt"] and first["createdAt"].endswith("Z")
    second = create(user, "second", completed=True)
    assert second["order"] == 2 and second["completed"] is True
    chosen = create(user, "chosen", order=-3)
    assert chosen["order"] == -3
    assert create(user, "after")["order"] == 3
    assert titles(user) == ["chosen", "buy milk", "second", "after"]
    response = user.get(f"/api/todos/{first['id']}/")
    assert response.status_code == 200 and response.json() == first
    assert user.get(f"/api/todos/{first['id']}").json() == first  # without the trailing slash


def test_list_is_sorted_by_order_then_id(user):
    a = create(user, "a", order=5)
    b = create(user, "b", order=5)
    c = create(user, "c", order=1)
    ids = [todo["id"] for todo in user.get("/api/todos/").json()["todos"]]
    assert ids == [c["id"], a["id"], b["id"]]


def test_patch_changes_only_the_given_fields(user):
    todo = create(user, "original")
    response = user.patch(f"/api/todos/{todo['id']}/", json={"completed": True, "unknown": [1, 2]})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["completed"] is True and patched["title"] == "original" and patched["order"] == todo["order"]
    assert patched["createdAt"] == todo["createdAt"] and patched["updatedAt"] >= todo["updatedAt"]
    patched = user.patch(f"/api/todos/{todo['id']}/", json={"title": "  renamed ", "order": 42}).json()
    assert patched["title"] == "renamed" and patched["order"] == 42 and patched["completed"] is True
    assert user.patch(f"/api/todos/{todo['id']}/", json={}).json() == patched
    assert user.get(f"/api/todos/{todo['id']}/").json() == patched


def test_delete(user):
    todo = create(user)
    response = user.delete(f"/api/todos/{todo['id']}/")
    assert response.status_code == 204 and response.content == b""
    assert_error(user.get(f"/api/todos/{todo['id']}/"), 404, "not_found")
    assert_error(user.delete(f"/api/todos/{todo['id']}/"), 404, "not_found")


def test_filters(user):
    create(user, "open")
    create(user, "done", completed=True)
    assert titles(user, "?completed=true") == ["done"]
    assert titles(user, "?completed=false") == ["open"]
    assert titles(user) == ["open", "done"]
    for bad in ["?completed=yes", "?completed=", "?completed=True", "?completed=1", "?completed=true&completed=false"]:
        assert_error(user.get("/api/todos/" + bad), 400, "invalid_filter")


def test_toggle_all(user):
    create(user, "a")
    create(user, "b", completed=True)
    create(user, "c")
    response = user.patch("/api/todos/", json={"completed": True})
    assert response.status_code == 200 and response.json() == {"updated": 2}
    assert titles(user, "?completed=false") == []
    assert user.patch("/api/todos/", json={"completed": False}).json() == {"updated": 3}
    assert titles(user, "?completed=true") == []
    assert_error(user.patch("/api/todos/", json={}), 400, "invalid_field", field="completed")
    assert_error(user.patch("/api/todos/", json={"completed": "true"}), 400, "invalid_field", field="completed")
    assert_error(user.patch("/api/todos/", json={"completed": None}), 400, "invalid_field", field="completed")


def test_clear_completed_needs_the_filter(user):
    create(user, "keep")
    create(user, "gone 1", completed=True)
    create(user, "gone 2", completed=True)
    for bad in ["", "?completed=false", "?completed=yes", "?other=true"]:
        assert_error(user.delete("/api/todos/" + bad), 400, "invalid_filter")
    assert titles(user) == ["keep", "gone 1", "gone 2"]  # nothing was deleted
    response = user.delete("/api/todos/?completed=true")
    assert response.status_code == 200 and response.json() == {"deleted": 2}
    assert titles(user) == ["keep"]
    assert user.delete("/api/todos/?completed=true").json() == {"deleted": 0}


# Validation ----------------------------------------------------------------------------

@pytest.mark.parametrize("title", [
    "", " ", "   \t\n  ", "\u00a0\u2003", "a" * 501, "😀" * 501, "nul\u0000byte", "\u0000",
])
def test_invalid_titles(user, title):
    assert_error(user.post("/api/todos/", json={"title": title}), 400, "invalid_title")
    todo = create(user, "valid")
    assert_error(user.patch(f"/api/todos/{todo['id']}/", json={"title": title}), 400, "invalid_title")
    assert titles(user) == ["valid"]


def test_missing_title_is_invalid(user):
    assert_error(user.post("/api/todos/", json={"completed": True}), 400, "invalid_title")
    assert titles(user) == []


@pytest.mark.parametrize("title", [
    "a" * 500, "😀" * 500, "  " + "b" * 500 + "  ", "שלום עולם", "مرحبا بالعالم", "\u202eRTL override",
    "👩‍👩‍👧‍👦 family", "tab\tinside", "<script>alert(1)</script>", "'; DROP TABLE todos; --",
])
def test_unicode_and_long_titles_round_trip(user, title):
    todo = create(user, title)
    assert todo["title"] == title.strip()
    assert user.get(f"/api/todos/{todo['id']}/").json()["title"] == title.strip()


@pytest.mark.parametrize("body,field", [
    ({"title": 5}, "title"), ({"title": None}, "title"), ({"title": ["x"]}, "title"),
    ({"title": "ok", "completed": "true"}, "completed"), ({"title": "ok", "completed": None}, "completed"),
    ({"title": "ok", "completed": 1}, "completed"),
    ({"title": "ok", "order": "1"}, "order"), ({"title": "ok", "order": None}, "order"),
    ({"title": "ok", "order": 1.5}, "order"), ({"title": "ok", "order": 2 ** 60}, "order"),
    ({"title": "ok", "order": True}, "order"),
])
def test_wrong_types_name_the_field_and_change_nothing(user, body, field):
    assert_error(user.post("/api/todos/", json=body), 400, "invalid_field", field=field)
    assert titles(user) == []
    todo = create(user, "untouched")
    patch = {key: value for key, value in body.items() if key != "title" or field == "title"}
    patch.setdefault("title", "changed?") if field != "title" else None
    assert_error(user.patch(f"/api/todos/{todo['id']}/", json=patch), 400, "invalid_field", field=field)
    assert user.get(f"/api/todos/{todo['id']}/").json() == todo


def test_bodies_are_checked_after_authentication(user):
    assert_error(user.post("/api/todos/", data="{", headers={"Content-Type": "application/json"}), 400, "invalid_json")
    assert_error(user.post("/api/todos/", data="title=x", headers={"Content-Type": "application/x-www-form-urlencoded"}),
                 415, "unsupported_media_type")
    assert_error(user.post("/api/todos/", json={"title": "x" * 70000}), 413, "payload_too_large")
    assert_error(user.post("/api/todos/", data="[]", headers={"Content-Type": "application/json"}), 400, "invalid_json")
    assert titles(user) == []


@pytest.mark.parametrize("todo_id", [
    "abc", "99999999999999999999", "9223372036854775808", "-1", "0", "1.5", "0x10", "%20", "1e3", "+1",
])
def test_ids_that_are_not_todo_ids_are_404(user, todo_id):
    create(user)
    for method in ("GET", "PATCH", "DELETE"):
        response = user.request(method, f"/api/todos/{todo_id}/", json={"title": "x"} if method == "PATCH" else None)
        assert_error(response, 404, "not_found")


def test_wrong_method_on_a_todo_is_405(user):
    todo = create(user)
    response = user.put(f"/api/todos/{todo['id']}/", json={"title": "x"})
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"


# Ownership ------------------------------------------------------------------------------

def test_other_users_todos_are_invisible(server):
    owner = signed_up(server.url)
    stranger = signed_up(server.url)
    todo = create(owner, "private", completed=True)
    assert titles(stranger) == []
    assert_error(stranger.get(f"/api/todos/{todo['id']}/"), 404, "not_found")
    assert_error(stranger.patch(f"/api/todos/{todo['id']}/", json={"title": "mine"}), 404, "not_found")
    assert_error(stranger.delete(f"/api/todos/{todo['id']}/"), 404, "not_found")
    assert stranger.patch("/api/todos/", json={"completed": False}).json() == {"updated": 0}
    assert stranger.delete("/api/todos/?completed=true").json() == {"deleted": 0}
    assert owner.get(f"/api/todos/{todo['id']}/").json() == todo
    assert create(stranger, "their first")["order"] == 1


# Concurrency ------------------------------------------------------------------------------

def test_concurrent_creates_get_distinct_orders(user):
    user.fetch_token()

    def post(index):
        response = user.post("/api/todos/", json={"title": f"todo {index}"})
        assert response.status_code == 201, response.text
        return response.json()["order"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        orders = list(pool.map(post, range(40)))
    assert sorted(orders) == list(range(1, 41))
    assert len(titles(user)) == 40


def test_concurrent_patches_lose_nothing(user):
    todos = [create(user, f"todo {index}") for index in range(30)]
    user.fetch_token()

    def patch(todo):
        response = user.patch(f"/api/todos/{todo['id']}/", json={"title": f"patched {todo['id']}", "completed": True})
        assert response.status_code == 200, response.text

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(patch, todos))
        list(pool.map(lambda i: create(user, f"new {i}"), range(10)))
    listed = user.get("/api/todos/").json()["todos"]
    patched = {todo["id"]: todo for todo in listed}
    assert all(patched[todo["id"]]["title"] == f"patched {todo['id']}" and patched[todo["id"]]["completed"]
               for todo in todos)
    assert len(listed) == 40
    assert len({todo["order"] for todo in listed}) == 40
