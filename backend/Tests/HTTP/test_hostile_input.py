"""Malformed and hostile input (issue: hold every promise against hostile clients):
bodies over the limit however framed and on every route, strict RFC 8259 JSON,
routing before authentication, methods no route names."""
from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from accounts import signed_up
from api import FRONTEND_ORIGIN, assert_error

LIMIT = 64 * 1024


def chunks(data: bytes, size: int = 8192):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def big_json(size: int = LIMIT + 1024) -> bytes:
    return b'{"title": "' + b"a" * size + b'"}'


def todo_titles(client) -> list[str]:
    response = client.get("/api/todos/")
    assert response.status_code == 200, response.text
    return [todo["title"] for todo in response.json()["todos"]]


# --- Body limit: every route, every framing -------------------------------------------------

def test_chunked_body_over_the_limit_is_413_and_creates_nothing(client):
    client = signed_up(client.base_url)
    response = client.post("/api/todos/", data=chunks(big_json()), headers={"Content-Type": "application/json"})
    assert "Content-Length" not in response.request.headers and response.request.headers["Transfer-Encoding"] == "chunked"
    assert_error(response, 413, "payload_too_large")
    assert todo_titles(client) == []


def test_chunked_body_within_the_limit_is_read(sqlite_client):
    sqlite_client = signed_up(sqlite_client.base_url)
    body = json.dumps({"title": "chunked"}).encode()
    response = sqlite_client.post("/api/todos/", data=chunks(body, 3), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "chunked"


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("method,path", [
    ("POST", "/api/auth/logout/"),
    ("POST", "/api/ping/"),
    ("GET", "/api/ping/"),
    ("GET", "/api/todos/"),
    ("DELETE", "/api/todos/?completed=true"),
    ("GET", "/api/auth/me/"),
    ("GET", "/api/csrf/"),
])
def test_body_over_the_limit_is_413_on_every_route(sqlite_client, method, path, chunked):
    sqlite_client = signed_up(sqlite_client.base_url)
    body = big_json()
    data = chunks(body) if chunked else body
    response = sqlite_client.request(method, path, data=data, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    # Nothing happened: the session still works (log-out did not run).
    assert sqlite_client.get("/api/auth/me/").json()["user"] is not None


def test_logout_with_a_small_body_still_works(sqlite_client):
    sqlite_client = signed_up(sqlite_client.base_url)
    response = sqlite_client.post("/api/auth/logout/", data=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 204
    assert sqlite_client.get("/api/auth/me/").json()["user"] is None


def test_oversized_body_to_a_protected_route_logged_out_is_401_first(sqlite_client):
    """Order of checks: authentication (401) before body checks (413)."""
    response = sqlite_client.post("/api/todos/", data=big_json(), headers={"Content-Type": "application/json"})
    assert_error(response, 401, "not_authenticated")


# A body that fails each of the body's checks, in the order they are made.
BAD_BODIES = {"size": ("application/json", big_json()), "media_type": ("text/plain", b"x"),
              "syntax": ("application/json", b"{")}
BODY_REFUSALS = {"size": (413, "payload_too_large"), "media_type": (415, "unsupported_media_type"),
                 "syntax": (400, "invalid_json")}
UNKNOWN_TOKEN = "tdl_" + "A" * 43


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("kind", list(BAD_BODIES))
@pytest.mark.parametrize("path, headers, status, code", [
    ("/api/todos/", {"Cookie": "sessionid=" + "a" * 43}, 401, "not_authenticated"),
    ("/api/todos/", {"Authorization": "Bearer " + UNKNOWN_TOKEN}, 401, "invalid_token"),
    ("/api/todos/?completed=true", {"Cookie": "sessionid=" + "a" * 43}, 401, "not_authenticated"),
    ("/api/auth/me/", {"Authorization": "Bearer " + UNKNOWN_TOKEN}, 401, "invalid_token"),
    ("/api/events/", {}, 401, "not_authenticated"),
    ("/api/events/", {"Cookie": "sessionid=" + "a" * 43}, 401, "not_authenticated"),
    ("/api/events/", {"Origin": "http://evil.example"}, 403, "origin_not_allowed"),
])
def test_a_get_with_a_body_is_refused_for_its_credentials_before_its_body(sqlite_server, path, headers, status, code,
                                                                          kind, chunked):
    """Order of checks: authentication (401) and the stream's origin (403) before body checks
    (413, 415, 400), on every route, whatever credential is presented and however the body is
    framed. Each request is the first on its connection."""
    content_type, body = BAD_BODIES[kind]
    response = requests.get(sqlite_server.url + path, data=chunks(body) if chunked else body,
                            headers={"Content-Type": content_type, **headers}, timeout=10, stream=True)
    with response:
        assert_error(response, status, code)


@pytest.mark.parametrize("reused", [False, True])
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("kind", list(BAD_BODIES))
def test_a_stream_request_with_a_body_gets_the_body_checks_of_every_route(sqlite_client, kind, chunked, reused):
    """`GET /api/events/` checks a body as every route does, whether it is the first request on
    its connection (served without Hummingbird's connection task) or not."""
    owner = signed_up(sqlite_client.base_url)
    content_type, body = BAD_BODIES[kind]
    session = owner.http if reused else requests.Session()
    if not reused:
        session.cookies.update(owner.http.cookies)
    response = session.get(sqlite_client.base_url + "/api/events/", data=chunks(body) if chunked else body,
                           headers={"Content-Type": content_type, "Accept": "text/event-stream"}, timeout=10, stream=True)
    with response:
        assert_error(response, *BODY_REFUSALS[kind])


# --- Strict JSON ---------------------------------------------------------------------------

NOT_RFC_8259 = [
    b'{"title":"x",}',
    b'{"title":"x"} // comment',
    b'/* c */ {"title":"x"}',
    b'{"title":"x", "order": NaN}',
    b'{"title":"x", "order": Infinity}',
    b'{"title":"x", "order": -Infinity}',
    b"{'title':'x'}",
    b'{"title":\'x\'}',
    b'{title:"x"}',
    b'{"title":"a\tb"}',
    b'{"title":"a\nb"}',
    b'{"title":"a\x00b"}',
    b'{"title":"\xff"}',
    b'{"title":"\xc0\xaf"}',            # overlong '/'
    b'{"title":"\xed\xa0\x80"}',        # a surrogate encoded in UTF-8
    b'{"title":"\xe2\x82"}',            # truncated sequence
    b'{"title":"\\ud800"}',             # lone high surrogate
    b'{"title":"\\udc00"}',             # lone low surrogate
    b'{"title":"\\ud800\\u0041"}',      # high surrogate then not a low one
    b'{"title":"x","title":"y"}',
    b'{"title":"x","\\u0074itle":"y"}',  # the same key, escaped
    b'{"title":"x", "completed": true, "completed": false}',
    b'\xef\xbb\xbf{"title":"x"}',       # byte-order mark
    b'{"title":"x"} {"title":"y"}',
    b'{"title":"x"',
    b'{"title":"x", "order": 01}',
    b'{"title":"x", "order": 1.}',
    b'{"title":"x", "order": .5}',
    b'{"title":"x", "order": +1}',
    b'{"title":"x", "order": 0x10}',
    b'{"title":"\\x41"}',
    b'{"title":"x", "completed": True}',
    b'[' * 100 + b']' * 100,
    b' ',
]


@pytest.mark.parametrize("body", NOT_RFC_8259, ids=range(len(NOT_RFC_8259)))
def test_bodies_that_are_not_rfc_8259_json_are_400_and_write_nothing(sqlite_client, body):
    sqlite_client = signed_up(sqlite_client.base_url)
    response = sqlite_client.post("/api/todos/", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")
    assert todo_titles(sqlite_client) == []


def test_deep_nesting_is_refused_without_harm(sqlite_client):
    sqlite_client = signed_up(sqlite_client.base_url)
    depth = 30000
    body = b'{"title":"x","extra":' + b"[" * depth + b"]" * depth + b"}"
    response = sqlite_client.post("/api/todos/", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")
    assert sqlite_client.get("/api/ping/").status_code == 200


VALID = [
    (b'{"title":"caf\\u00e9"}', "café"),
    (b'{"title":"\\ud83d\\ude00 smile"}', "\U0001F600 smile"),
    (b'{"title":"\xf0\x9f\x98\x80 raw"}', "\U0001F600 raw"),
    (b'{"title":"q\\"uote\\\\ \\/ \\b\\f\\n\\r\\tend"}', 'q"uote\\ / \b\f\n\r\tend'),
    (b' \r\n\t{ "title" : "spaced" , "order" : 1e2 , "extra" : [null, true, false, -0.5e-3, {"a": {}}] } \n', "spaced"),
]


@pytest.mark.parametrize("body,title", VALID, ids=range(len(VALID)))
def test_valid_json_is_read_exactly(sqlite_client, body, title):
    sqlite_client = signed_up(sqlite_client.base_url)
    response = sqlite_client.post("/api/todos/", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["title"] == title.strip()


def test_integral_exponent_is_an_integer_order(sqlite_client):
    sqlite_client = signed_up(sqlite_client.base_url)
    response = sqlite_client.post("/api/todos/", data=b'{"title":"x","order":1e2}', headers={"Content-Type": "application/json"})
    assert response.status_code == 201 and response.json()["order"] == 100


@pytest.mark.parametrize("literal,order", [
    (b"2.0", 2), (b"150e-1", 15), (b"1.5e1", 15), (b"-0", 0), (b"-0.0e5", 0),
    (b"9007199254740991", 9007199254740991), (b"-9007199254740991.000", -9007199254740991),
])
def test_an_order_written_with_a_fraction_or_exponent_but_integral_is_accepted(sqlite_client, literal, order):
    sqlite_client = signed_up(sqlite_client.base_url)
    response = sqlite_client.post("/api/todos/", data=b'{"title":"x","order":' + literal + b'}',
                                  headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["order"] == order


@pytest.mark.parametrize("literal", [
    b"1.00000000000000001", b"9007199254740990.9999999999", b"1e-400", b"0.5",
    b"-9223372036854775808", b"9223372036854775807", b"-9223372036854775809", b"9007199254740992",
    b"1e400", b"-1e30",
])
def test_an_order_that_is_not_a_safe_integer_is_400_and_the_server_goes_on(client, literal):
    client = signed_up(client.base_url)
    created = client.post("/api/todos/", json={"title": "kept", "order": 1}).json()
    for method, path in [("POST", "/api/todos/"), ("PATCH", f"/api/todos/{created['id']}/")]:
        response = client.request(method, path, data=b'{"title":"x","order":' + literal + b'}',
                                  headers={"Content-Type": "application/json"})
        assert_error(response, 400, "invalid_field", field="order")
    assert todo_titles(client) == ["kept"]


# --- Routing before authentication ---------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("segment", ["abc", "-1", "1.5", "99999999999999999999", "%20"])
def test_a_path_that_can_never_name_a_todo_is_404_for_everyone(client, method, segment):
    response = client.request(method, f"/api/todos/{segment}/", json={"completed": True} if method == "PATCH" else None)
    assert_error(response, 404, "not_found")


def test_a_todo_path_logged_out_is_401(client):
    assert_error(client.get("/api/todos/1/"), 401, "not_authenticated")


# --- Methods that no route names -----------------------------------------------------------

@pytest.mark.parametrize("path,allow", [
    ("/api/todos/", "DELETE, GET, HEAD, OPTIONS, PATCH, POST"),
    ("/api/todos/12/", "DELETE, GET, HEAD, OPTIONS, PATCH"),
    ("/api/ping", "GET, HEAD, OPTIONS, POST"),
])
@pytest.mark.parametrize("method", ["QUERY", "PUT", "TRACE", "PROPFIND"])
def test_any_other_method_on_a_known_path_is_405_with_allow(sqlite_client, method, path, allow):
    # Methods outside GET, HEAD, OPTIONS and TRACE are CSRF-checked like any unsafe one.
    response = sqlite_client.request(method, path, headers={"X-CSRFToken": sqlite_client.fetch_token()})
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allow


def test_unknown_method_on_an_unknown_path_is_404(sqlite_client):
    response = sqlite_client.request("QUERY", "/api/nothing/", headers={"X-CSRFToken": sqlite_client.fetch_token()})
    assert_error(response, 404, "not_found")


def host_and_port(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].split(":")
    return host, int(port)


def raw_exchange(url: str, payload: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(host_and_port(url), timeout=timeout) as sock:
        sock.sendall(payload)
        received = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
        except socket.timeout:
            pass
        return received


@pytest.mark.parametrize("with_token", [True, False])
def test_connect_is_answered_in_json_and_never_swallows_the_next_request(sqlite_server, sqlite_client, with_token):
    token = sqlite_client.fetch_token()
    credentials = f"Cookie: csrftoken={sqlite_client.cookie('csrftoken')}\r\nX-CSRFToken: {token}\r\n" if with_token else ""
    request = (f"CONNECT /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {FRONTEND_ORIGIN}\r\n{credentials}\r\n"
               "GET /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").encode()
    received = raw_exchange(sqlite_server.url, request, timeout=5)
    head, _, rest = received.partition(b"\r\n\r\n")
    # NIO writes no body in any answer to CONNECT (it treats every such answer as a
    # tunnel's), so the status and headers are what a client gets; then the connection
    # is closed, because the decoder would never parse a request sent after CONNECT.
    assert head.startswith(b"HTTP/1.1 405" if with_token else b"HTTP/1.1 403"), received
    assert b"connection: close" in head.lower(), received
    assert b"application/json" in head
    if with_token:
        assert b"allow: get, head, options, post" in head.lower()
    assert rest.count(b"HTTP/1.1") == 0, received


def responses_in(received: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The HTTP/1.1 responses in `received` (each with a Content-Length): status, headers
    (lower-case names), body."""
    found = []
    while received:
        head, _, rest = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        found.append((status, headers, rest[:length]))
        received = rest[length:]
    return found


def assert_refused_as_json(response: tuple[int, dict[str, str], bytes], status: int, code: str) -> None:
    got_status, headers, body = response
    assert got_status == status, response
    assert headers["content-type"].startswith("application/json"), response
    assert headers["connection"] == "close", response
    assert "date" in headers, response
    assert headers["vary"] == "Origin", response  # API.md: every response has Vary: Origin
    payload = json.loads(body)
    assert payload["error"] == code and payload["detail"], payload


NOT_HTTP = [
    pytest.param(b"FOO /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id="unknown-method"),
    pytest.param(b"get /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id="lower-case-method"),
    pytest.param(b"GET /api/ping/ HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", id="http-2.0-request-line"),
    pytest.param(b"POST /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
                 id="two-content-lengths"),
    pytest.param(b"GET /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x01b\r\n\r\n", id="control-character"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, id="tls-client-hello"),
]


@pytest.mark.parametrize("payload", NOT_HTTP)
def test_bytes_that_are_not_http_are_answered_400_as_json_and_the_connection_closed(sqlite_server, payload):
    started = time.monotonic()
    received = raw_exchange(sqlite_server.url, payload, timeout=5)
    assert time.monotonic() - started < 3, "the connection was left open"
    [response] = responses_in(received)
    assert_refused_as_json(response, 400, "bad_request")


@pytest.mark.parametrize("payload", NOT_HTTP)
def test_bytes_that_are_not_http_after_a_request_are_answered_after_its_answer(sqlite_server, payload):
    request = b"GET /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    started = time.monotonic()
    received = raw_exchange(sqlite_server.url, request + payload, timeout=5)
    assert time.monotonic() - started < 3, "the connection was left open"
    first, second = responses_in(received)
    assert first[0] == 200 and json.loads(first[2]) == {"result": "OK"}, first
    assert_refused_as_json(second, 400, "bad_request")


def test_a_request_head_over_the_size_limit_is_431_as_json(sqlite_server, sqlite_client):
    payload = b"GET /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    started = time.monotonic()
    received = raw_exchange(sqlite_server.url, payload, timeout=5)
    assert time.monotonic() - started < 3, "the connection was left open"
    [response] = responses_in(received)
    assert_refused_as_json(response, 431, "headers_too_large")
    assert sqlite_client.get("/api/ping/").status_code == 200


def todo_post_head(client, framing: str, *extra: str) -> bytes:
    """The head of a `POST /api/todos/` that passes every check before the body: the client's
    session, its CSRF token and an allowed `Origin`; `framing` and `extra` are header lines."""
    host, port = host_and_port(client.base_url)
    lines = ["POST /api/todos/ HTTP/1.1", f"Host: {host}:{port}", f"Origin: {FRONTEND_ORIGIN}",
             "Content-Type: application/json", framing, f"X-CSRFToken: {client.fetch_token()}",
             f"Cookie: sessionid={client.cookie('sessionid')}; csrftoken={client.cookie('csrftoken')}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_bytes_that_are_not_http_inside_a_body_are_400_as_json_and_write_nothing(client):
    client = signed_up(client.base_url)
    head = todo_post_head(client, "Transfer-Encoding: chunked")
    started = time.monotonic()
    # A chunk that is whole JSON, then a chunk size that is not hexadecimal.
    received = raw_exchange(client.base_url, head + b'10\r\n{"title": "cut"}\r\nZZ\r\n', timeout=10)
    assert time.monotonic() - started < 3, "the connection was left waiting for the rest of the body"
    [(status, headers, body)] = responses_in(received)
    assert status == 400 and headers["content-type"].startswith("application/json"), received
    assert json.loads(body)["error"] == "bad_request"
    assert headers["access-control-allow-origin"] == FRONTEND_ORIGIN
    assert todo_titles(client) == []


@pytest.mark.parametrize("request_line,connection", [
    ("GET /api/ping/ HTTP/1.1", "Connection: Close\r\n"),
    ("GET /api/ping/ HTTP/1.1", "Connection: CLOSE\r\n"),
    ("GET /api/ping/ HTTP/1.1", "Connection: TE, close\r\n"),
    ("GET /api/ping/ HTTP/1.0", ""),
])
def test_a_request_that_does_not_keep_the_connection_alive_is_answered_and_the_connection_closed(
        sqlite_server, request_line, connection):
    # A second request after it must not be answered: the connection ends with the first.
    payload = (f"{request_line}\r\nHost: 127.0.0.1\r\n{connection}\r\n"
               "GET /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode()
    started = time.monotonic()
    received = raw_exchange(sqlite_server.url, payload, timeout=10)
    assert time.monotonic() - started < 3, "the connection was left open"
    [(status, headers, body)] = responses_in(received)
    assert status == 200 and json.loads(body) == {"result": "OK"}
    assert headers["connection"] == "close"


def test_expect_100_continue_is_answered_before_the_body_is_sent(client):
    client = signed_up(client.base_url)
    body = json.dumps({"title": "after continue"}).encode()
    head = todo_post_head(client, f"Content-Length: {len(body)}", "Expect: 100-continue", "Connection: close")
    with socket.create_connection(host_and_port(client.base_url), timeout=3) as sock:
        sock.sendall(head)
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    [(status, _, answer)] = responses_in(received)
    assert status == 201 and json.loads(answer)["title"] == "after continue"


def test_expect_100_continue_with_a_body_over_the_limit_is_413_without_continue(sqlite_server):
    payload = (b"GET /api/ping/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
    received = raw_exchange(sqlite_server.url, payload, timeout=3)
    assert not received.startswith(b"HTTP/1.1 100"), received
    assert received.startswith(b"HTTP/1.1 413"), received


@pytest.mark.parametrize("codings", ["gzip, chunked", "x-foo, chunked", "gzip\r\nTransfer-Encoding: chunked"])
def test_a_transfer_coding_other_than_chunked_is_501_and_writes_nothing(client, codings):
    client = signed_up(client.base_url)
    head = todo_post_head(client, f"Transfer-Encoding: {codings}")
    started = time.monotonic()
    received = raw_exchange(client.base_url, head + b'11\r\n{"title": "gzip"}\r\n0\r\n\r\n', timeout=10)
    assert time.monotonic() - started < 3, "the connection was left open"
    [response] = responses_in(received)
    assert_refused_as_json(response, 501, "not_implemented")
    assert todo_titles(client) == []


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/api/ping/", "api/ping/", "127.0.0.1:80"])
def test_a_request_target_that_is_no_path_or_http_url_is_400(sqlite_server, target):
    received = raw_exchange(sqlite_server.url, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(), timeout=5)
    [response] = responses_in(received)
    assert_refused_as_json(response, 400, "bad_request")
