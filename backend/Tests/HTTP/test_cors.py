"""The CORS section of the contract, against the real server."""
import pytest
import requests

from api import ApiClient, assert_error

ALLOWED = "http://localhost:3000"
PREFLIGHT_METHODS = "DELETE, GET, OPTIONS, PATCH, POST, PUT"
PREFLIGHT_HEADERS = "accept, authorization, content-type, user-agent, x-csrftoken, x-requested-with"


def cors_headers(response):
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def assert_allowed(response, origin=ALLOWED):
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Expose-Headers"] == "Retry-After, X-Request-Id"
    assert "Origin" in response.headers["Vary"]


def test_allowed_origin_is_echoed_with_credentials(sqlite_server):
    response = requests.get(sqlite_server.url + "/api/ping/", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.json() == {"result": "OK"}
    assert_allowed(response)


@pytest.mark.parametrize("origin", [
    "http://evil.example", "http://localhost:3001", "https://localhost:3000",
    "http://localhost:3000.evil.com", "null", "http://localhost", "http://LOCALHOST:3000.evil.com",
    # Spellings no browser sends (RFC 6454 serialisation is lower-case, without leading zeros or a slash).
    "HTTP://LOCALHOST:3000", "http://LOCALHOST:3000", "HTTP://localhost:3000", "http://localhost:03000",
    "http://localhost:3000/",
])
def test_disallowed_origin_gets_no_cors_header(sqlite_server, origin):
    response = requests.get(sqlite_server.url + "/api/ping/", headers={"Origin": origin})
    assert response.status_code == 200
    assert cors_headers(response) == {}
    assert response.headers["Vary"] == "Origin"


def test_absent_origin_gets_no_cors_header_but_vary(sqlite_server):
    response = requests.get(sqlite_server.url + "/api/ping/")
    assert cors_headers(response) == {}
    assert response.headers["Vary"] == "Origin"


@pytest.mark.parametrize("path", ["/api/ping/", "/api/todos/", "/api/does-not-exist/", "/"])
@pytest.mark.parametrize("method", ["POST", "DELETE", "PATCH", "PUT", "GET"])
def test_preflight_from_allowed_origin_is_answered_before_routing(sqlite_server, path, method):
    response = requests.options(sqlite_server.url + path, headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type, x-csrftoken",
    })
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Allow-Methods"] == PREFLIGHT_METHODS
    assert response.headers["Access-Control-Allow-Headers"] == PREFLIGHT_HEADERS
    assert response.headers["Access-Control-Max-Age"] == "86400"
    assert response.headers["Vary"] == "Origin"


def test_preflight_needs_no_csrf_token_and_sets_no_cookie(sqlite_server):
    response = requests.options(sqlite_server.url + "/api/auth/login/", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:3000.evil.com", "null"])
def test_preflight_from_disallowed_origin_is_empty_200_without_cors(sqlite_server, origin):
    response = requests.options(sqlite_server.url + "/api/ping/", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert response.status_code == 200
    assert response.content == b""
    assert cors_headers(response) == {}


def test_cors_headers_on_404(sqlite_server):
    response = requests.get(sqlite_server.url + "/api/nothing-here/", headers={"Origin": ALLOWED})
    assert_error(response, 404, "not_found")
    assert_allowed(response)


def test_cors_headers_on_csrf_403(sqlite_server):
    response = requests.post(sqlite_server.url + "/api/ping/", headers={"Origin": ALLOWED})
    assert_error(response, 403, "csrf_failed", reason="cookie_missing")
    assert_allowed(response)


def test_cors_headers_on_405_413_415_400(sqlite_client):
    response = sqlite_client.put("/api/ping/")
    assert_error(response, 405, "method_not_allowed")
    assert_allowed(response)
    response = sqlite_client.post("/api/ping/", data="x" * (64 * 1024 + 1), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    assert_allowed(response)
    response = sqlite_client.post("/api/ping/", data="hello", headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")
    assert_allowed(response)
    response = sqlite_client.post("/api/ping/", data="{not json", headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")
    assert_allowed(response)


def test_wildcard_entry_allows_subdomains_over_its_scheme_only(servers):
    server = servers.start(FRONTEND_ORIGINS="https://*.example.com, http://localhost:3000")
    def allowed(origin):
        response = requests.get(server.url + "/api/ping/", headers={"Origin": origin})
        return response.headers.get("Access-Control-Allow-Origin") == origin
    assert allowed("https://app.example.com")
    assert allowed("https://a.b.example.com")
    assert allowed("http://localhost:3000")
    assert not allowed("http://app.example.com")
    assert not allowed("https://example.com")
    assert not allowed("https://evilexample.com")
    assert not allowed("https://app.example.com.evil.net")
    assert not allowed("https://app.example.com:8443")


def test_expose_headers_let_the_frontend_read_request_id(sqlite_server):
    first = requests.get(sqlite_server.url + "/api/ping/", headers={"Origin": ALLOWED})
    second = requests.get(sqlite_server.url + "/api/ping/", headers={"Origin": ALLOWED})
    assert first.headers["X-Request-Id"] and first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_preflight_from_non_canonical_origin_gets_no_cors_headers(sqlite_server):
    response = requests.options(sqlite_server.url + "/api/ping/", headers={
        "Origin": "HTTP://LOCALHOST:3000", "Access-Control-Request-Method": "POST"})
    assert response.status_code == 200
    assert cors_headers(response) == {}


def test_wildcard_and_default_port_spellings_are_refused(servers):
    server = servers.start(FRONTEND_ORIGINS="https://*.example.com, https://app.test:443")
    def allowed(origin):
        response = requests.get(server.url + "/api/ping/", headers={"Origin": origin})
        return "Access-Control-Allow-Origin" in response.headers
    assert allowed("https://a.example.com") and allowed("https://app.test")
    for origin in ["https://A.example.com", "HTTPS://a.example.com", "https://a.example.com:443",
                   "https://app.test:443", "https://APP.test", "https://a.example.com:0443"]:
        assert not allowed(origin), origin
