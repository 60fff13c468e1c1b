"""ALLOWED_HOSTS: requests for a Host the server does not serve get `400 bad_host`.

Host headers are written by hand (http.client with skip_host), so the server sees exactly
what a hostile client or a misrouted request would send."""
from __future__ import annotations

import http.client
import json
import subprocess

import pytest

from api import ApiClient
from servers import server_binary

ALLOWED_ORIGIN = "http://localhost:3000"
HOSTS = "api.example.com,.example.org,127.0.0.1,[::1]"


class Answer:
    def __init__(self, response: http.client.HTTPResponse):
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.body = response.read()

    def json(self):
        return json.loads(self.body)


def send(server, hosts: list[str], method: str = "GET", path: str = "/api/ping/",
         headers: dict[str, str] | None = None, body: bytes | None = None) -> Answer:
    """One request with exactly the given Host headers (none, one or several)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for host in hosts:
            connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        return Answer(connection.getresponse())
    finally:
        connection.close()


def assert_bad_host(answer: Answer) -> dict:
    assert answer.status == 400, (answer.status, answer.body)
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["error"] == "bad_host", body
    assert isinstance(body["detail"], str) and body["detail"], body
    return body


@pytest.mark.parametrize("hosts", [
    [], ["api.example.com", "evil.example"], ["api.example.com", "api.example.com"],
    ["bad host"], ["api.example.com/evil"], ["user@api.example.com"], ["[::1"], ["api.example.com:abc"],
])
def test_without_the_setting_a_missing_repeated_or_invalid_host_is_still_bad_host(sqlite_server, hosts):
    # RFC 9112, 3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host, with more
    # than one, or with one that is not `uri-host [":" port]`; the setting only narrows the names.
    assert_bad_host(send(sqlite_server, hosts))


@pytest.mark.parametrize("host", ["my_api:8000", "evil.example", "xn--bcher-kva.example", "10.0.0.7:80", "[::1]"])
def test_without_the_setting_any_well_formed_host_is_served_even_one_django_would_refuse(sqlite_server, host):
    # An underscore is valid in RFC 3986's reg-name (a container's service name has one);
    # only the setting's own check follows Django's narrower pattern.
    answer = send(sqlite_server, [host])
    assert answer.status == 200, (host, answer.body)


@pytest.fixture
def guarded(servers):
    return servers.start(ALLOWED_HOSTS=HOSTS)


def test_without_the_setting_any_host_is_served(sqlite_server):
    assert send(sqlite_server, ["evil.example"]).status == 200
    assert send(sqlite_server, ["api.example.com:8000"]).status == 200


@pytest.mark.parametrize("host", [
    "api.example.com", "API.Example.COM", "api.example.com:8000", "api.example.com.",
    "example.org", "www.example.org", "a.b.example.org:443", "127.0.0.1", "[::1]:8000",
])
def test_allowed_hosts_are_served_ignoring_case_and_port(guarded, host):
    answer = send(guarded, [host])
    assert answer.status == 200, (host, answer.body)
    assert answer.json() == {"result": "OK"}


@pytest.mark.parametrize("host", [
    "evil.example", "example.com", "www.api.example.com", "api.example.com.evil.example",
    "xexample.org", "example.org.evil.example", "localhost", "127.0.0.2", "[::2]",
])
def test_other_hosts_get_bad_host(guarded, host):
    body = assert_bad_host(send(guarded, [host]))
    assert host.split(":")[0].lower() in body["detail"] or host in body["detail"]


@pytest.mark.parametrize("hosts", [
    [""], ["api.example.com/evil"], ["api example.com"], ["api.example.com:abc"], ["user@api.example.com"],
    ["api.example.com:8000:1"], ["[::1"], ["api.example.com\\x"], ["\u00e9xample.org".encode("utf-8").decode("latin-1")],
    [], ["api.example.com", "evil.example"], ["api.example.com", "api.example.com"],
])
def test_missing_malformed_or_repeated_host_is_bad_host(guarded, hosts):
    assert_bad_host(send(guarded, hosts))


@pytest.mark.parametrize("target,hosts", [
    ("http://evil.example/api/ping/", ["api.example.com"]),
    ("HTTP://evil.example:8000/api/ping/", ["api.example.com"]),
    ("https://evil.example/api/ping/?x=1", []),
    ("http://user@api.example.com/api/ping/", ["api.example.com"]),
    ("http:///api/ping/", ["api.example.com"]),
])
def test_an_absolute_form_target_is_judged_by_its_own_host_not_the_host_header(guarded, target, hosts):
    # RFC 9112, 3.2.2: a server receiving the absolute form uses its host, ignoring Host.
    assert_bad_host(send(guarded, hosts, path=target))


@pytest.mark.parametrize("target,hosts", [
    ("http://api.example.com/api/ping/", ["evil.example"]),
    ("https://WWW.example.org:8443/api/ping/", []),
])
def test_an_absolute_form_target_naming_an_allowed_host_is_served(guarded, target, hosts):
    answer = send(guarded, hosts, path=target)
    assert answer.status == 200, answer.body
    assert answer.json() == {"result": "OK"}


def test_malformed_host_is_refused_even_with_the_wildcard(servers):
    server = servers.start(ALLOWED_HOSTS="*")
    assert send(server, ["anything.example:1234"]).status == 200
    assert_bad_host(send(server, ["bad host"]))
    assert_bad_host(send(server, []))


def test_bad_host_keeps_cors_headers_for_allowed_origins(guarded):
    answer = send(guarded, ["evil.example"], headers={"Origin": ALLOWED_ORIGIN})
    assert_bad_host(answer)
    assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert "origin" in answer.headers["vary"].lower()
    other = send(guarded, ["evil.example"], headers={"Origin": "http://evil.example"})
    assert_bad_host(other)
    assert "access-control-allow-origin" not in other.headers


def test_host_is_checked_before_csrf_and_routing(guarded):
    # An unsafe request without any CSRF material: the host answer comes first.
    assert_bad_host(send(guarded, ["evil.example"], method="POST", path="/api/todos/",
                         headers={"Origin": "http://evil.example", "Content-Type": "application/json"}, body=b"{}"))
    assert_bad_host(send(guarded, ["evil.example"], path="/api/no-such-route/"))
    # With a good host the same request reaches CSRF as before.
    answer = send(guarded, ["api.example.com"], method="POST", path="/api/todos/",
                  headers={"Origin": "http://evil.example", "Content-Type": "application/json"}, body=b"{}")
    assert answer.status == 403 and answer.json()["reason"] == "origin_untrusted"


def test_the_app_works_through_an_allowed_host(guarded):
    client = ApiClient(guarded.url)
    client.http.headers["Host"] = "api.example.com:8000"
    assert client.signup("hostuser", "correct horse 1").status_code == 201
    assert client.post("/api/todos/", json={"title": "through the right host"}).status_code == 201
    assert [t["title"] for t in client.get("/api/todos/").json()["todos"]] == ["through the right host"]


def test_x_forwarded_host_is_never_believed(servers):
    server = servers.start(ALLOWED_HOSTS="api.example.com", TRUSTED_PROXIES="127.0.0.1")
    assert_bad_host(send(server, ["evil.example"], headers={"X-Forwarded-Host": "api.example.com"}))
    assert send(server, ["api.example.com"], headers={"X-Forwarded-Host": "evil.example"}).status == 200


def test_each_refusal_is_logged_as_a_warning(guarded):
    guarded.new_log_lines()
    assert_bad_host(send(guarded, ["evil.example"]))
    lines = [line for line in guarded.new_log_lines().splitlines() if "bad_host" in line or "Host" in line]
    assert any("warning" in line and "evil.example" in line for line in lines), lines


@pytest.mark.parametrize("value", ["https://api.example.com", "api.example.com:8000", "api.example.com/x",
                                   "*.example.com", "exa mple.com", "..example.com"])
def test_invalid_allowed_hosts_entry_stops_the_server(value):
    result = subprocess.run([str(server_binary()), "serve"], env={"PATH": "/usr/bin:/bin", "PORT": "0",
                            "ALLOWED_HOSTS": value}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ALLOWED_HOSTS" in lines[0], result.stderr
