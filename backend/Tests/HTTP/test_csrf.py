"""The CSRF section of the contract: token endpoint, each failure reason with its
exact status, code and sentence, and the order of checks."""
import http.client
import json
import re

import pytest
import requests

from api import ApiClient, assert_error

ALLOWED = "http://localhost:3000"
TOKEN_SOURCE = "the 'X-Csrftoken' HTTP header"
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def mask(secret: str, mask_text: str) -> str:
    """Django's _mask_cipher_secret with a chosen mask, to check wire compatibility."""
    pairs = zip((ALPHABET.index(x) for x in secret), (ALPHABET.index(y) for y in mask_text))
    return mask_text + "".join(ALPHABET[(x + y) % len(ALPHABET)] for x, y in pairs)


def unmask(token: str) -> str:
    mask_text, cipher = token[:32], token[32:]
    pairs = zip((ALPHABET.index(x) for x in cipher), (ALPHABET.index(y) for y in mask_text))
    return "".join(ALPHABET[x - y] for x, y in pairs)


def post(server, headers=None, cookies=None, path="/api/ping/", method="POST"):
    return requests.request(method, server.url + path, headers=headers or {}, cookies=cookies or {})


@pytest.fixture
def secret_and_token(sqlite_server):
    response = requests.get(sqlite_server.url + "/api/csrf/")
    return response.cookies["csrftoken"], response.json()["csrfToken"]


def test_token_endpoint_sets_httponly_cookie_and_returns_masked_token(sqlite_server):
    response = requests.get(sqlite_server.url + "/api/csrf/", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"].startswith("application/json")
    token = response.json()["csrfToken"]
    assert re.fullmatch(r"[a-zA-Z0-9]{64}", token)
    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith("csrftoken=")
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    secret = response.cookies["csrftoken"]
    assert re.fullmatch(r"[a-zA-Z0-9]{32}", secret)
    assert unmask(token) == secret
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_each_call_masks_differently_and_all_tokens_pass(sqlite_server):
    session = requests.Session()
    tokens = [session.get(sqlite_server.url + "/api/csrf/").json()["csrfToken"] for _ in range(5)]
    assert len(set(tokens)) == 5
    secret = session.cookies["csrftoken"]
    assert {unmask(t) for t in tokens} == {secret}
    for token in tokens:
        response = session.post(sqlite_server.url + "/api/ping/", headers={"X-CSRFToken": token, "Origin": ALLOWED})
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "OK"}


def test_cookie_is_only_set_when_missing_or_invalid(sqlite_server):
    session = requests.Session()
    first = session.get(sqlite_server.url + "/api/csrf/")
    assert "Set-Cookie" in first.headers
    second = session.get(sqlite_server.url + "/api/csrf/")
    assert "Set-Cookie" not in second.headers
    invalid = requests.get(sqlite_server.url + "/api/csrf/", cookies={"csrftoken": "short"})
    assert re.fullmatch(r"[a-zA-Z0-9]{32}", invalid.cookies["csrftoken"])


def test_token_from_our_mask_matches_djangos_algorithm(sqlite_server, secret_and_token):
    secret, _ = secret_and_token
    django_token = mask(secret, "A" * 16 + "z9" * 8)
    response = post(sqlite_server, {"X-CSRFToken": django_token}, {"csrftoken": secret})
    assert response.status_code == 200, response.text


def test_unmasked_32_character_token_is_accepted(sqlite_server, secret_and_token):
    secret, _ = secret_and_token
    response = post(sqlite_server, {"X-CSRFToken": secret}, {"csrftoken": secret})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_every_unsafe_method_is_checked(sqlite_server, method):
    response = post(sqlite_server, method=method)
    assert_error(response, 403, "csrf_failed", reason="cookie_missing", detail="CSRF cookie not set.")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
def test_safe_methods_are_never_checked(sqlite_server, method):
    response = requests.request(method, sqlite_server.url + "/api/ping/", headers={"Origin": "http://evil.example"})
    assert response.status_code != 403


def test_cookie_missing(sqlite_server, secret_and_token):
    _, token = secret_and_token
    assert_error(post(sqlite_server, {"X-CSRFToken": token}), 403, "csrf_failed",
                 reason="cookie_missing", detail="CSRF cookie not set.")


@pytest.mark.parametrize("cookie,sentence", [
    ("", "CSRF cookie has incorrect length."),  # present but empty: malformed, as in Django
    ("abc", "CSRF cookie has incorrect length."),
    ("a" * 31 + "!", "CSRF cookie has invalid characters."),
    ("a" * 63 + "-", "CSRF cookie has invalid characters."),
])
def test_cookie_malformed(sqlite_server, secret_and_token, cookie, sentence):
    _, token = secret_and_token
    response = requests.post(sqlite_server.url + "/api/ping/",
                             headers={"X-CSRFToken": token, "Cookie": f"csrftoken={cookie}"})
    assert_error(response, 403, "csrf_failed", reason="cookie_malformed", detail=sentence)


def test_token_missing(sqlite_server, secret_and_token):
    secret, _ = secret_and_token
    assert_error(post(sqlite_server, {}, {"csrftoken": secret}), 403, "csrf_failed",
                 reason="token_missing", detail="CSRF token missing.")


@pytest.mark.parametrize("token,problem", [
    ("abc", "has incorrect length"),
    ("a" * 65, "has incorrect length"),
    ("a" * 31 + "*", "has invalid characters"),
    ("a" * 63 + "_", "has invalid characters"),
])
def test_token_malformed(sqlite_server, secret_and_token, token, problem):
    secret, _ = secret_and_token
    assert_error(post(sqlite_server, {"X-CSRFToken": token}, {"csrftoken": secret}), 403, "csrf_failed",
                 reason="token_malformed", detail=f"CSRF token from {TOKEN_SOURCE} {problem}.")


def test_token_incorrect(sqlite_server, secret_and_token):
    secret, _ = secret_and_token
    other = requests.get(sqlite_server.url + "/api/csrf/").json()["csrfToken"]
    assert_error(post(sqlite_server, {"X-CSRFToken": other}, {"csrftoken": secret}), 403, "csrf_failed",
                 reason="token_incorrect", detail=f"CSRF token from {TOKEN_SOURCE} incorrect.")


def test_masked_cookie_from_old_django_is_unmasked(sqlite_server, secret_and_token):
    secret, token = secret_and_token
    response = post(sqlite_server, {"X-CSRFToken": secret}, {"csrftoken": mask(secret, "b" * 32)})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:3000.evil.com", "null",
                                    "https://localhost:3000", "http://localhost:3001",
                                    # Not the serialised form of the allowed origin (RFC 6454): no browser sends these.
                                    "HTTP://LOCALHOST:3000", "http://localhost:03000", "http://LocalHost:3000",
                                    "Http://localhost:3000", "http://localhost:3000/"])
def test_origin_untrusted(sqlite_server, secret_and_token, origin):
    secret, token = secret_and_token
    response = post(sqlite_server, {"X-CSRFToken": token, "Origin": origin}, {"csrftoken": secret})
    assert_error(response, 403, "csrf_failed", reason="origin_untrusted",
                 detail=f"Origin checking failed - {origin} does not match any trusted origins.")


def test_backend_own_origin_is_trusted(sqlite_server, secret_and_token):
    secret, token = secret_and_token
    own = sqlite_server.url
    response = post(sqlite_server, {"X-CSRFToken": token, "Origin": own}, {"csrftoken": secret})
    assert response.status_code == 200, response.text


def test_origin_is_checked_before_the_token(sqlite_server):
    response = post(sqlite_server, {"Origin": "http://evil.example"})
    assert_error(response, 403, "csrf_failed", reason="origin_untrusted")


def test_cross_site_fetch_metadata_without_origin(sqlite_server, secret_and_token):
    secret, token = secret_and_token
    response = post(sqlite_server, {"X-CSRFToken": token, "Sec-Fetch-Site": "cross-site"}, {"csrftoken": secret})
    assert_error(response, 403, "csrf_failed", reason="cross_site",
                 detail="Cross-site request rejected by Fetch Metadata.")
    same_site = post(sqlite_server, {"X-CSRFToken": token, "Sec-Fetch-Site": "same-site"}, {"csrftoken": secret})
    assert same_site.status_code == 200


class TestRefererOverHTTPS:
    """Without Origin, an HTTPS request (here: through a trusted proxy) needs a trusted Referer."""

    @pytest.fixture
    def https_server(self, servers):
        return servers.start(TRUSTED_PROXIES="127.0.0.1", FRONTEND_ORIGINS="https://app.example.com")

    @pytest.fixture
    def credentials(self, https_server):
        response = requests.get(https_server.url + "/api/csrf/")
        return response.cookies["csrftoken"], response.json()["csrfToken"]

    def send(self, server, credentials, **headers):
        secret, token = credentials
        merged = {"X-CSRFToken": token, "X-Forwarded-Proto": "https"}
        merged.update({k.replace("_", "-"): v for k, v in headers.items()})
        return requests.post(server.url + "/api/ping/", headers=merged, cookies={"csrftoken": secret})

    def test_referer_missing(self, https_server, credentials):
        assert_error(self.send(https_server, credentials), 403, "csrf_failed",
                     reason="referer_missing", detail="Referer checking failed - no Referer.")

    @pytest.mark.parametrize("referer", ["not a url", "https://", "//app.example.com/x", "https:///path"])
    def test_referer_malformed(self, https_server, credentials, referer):
        assert_error(self.send(https_server, credentials, Referer=referer), 403, "csrf_failed",
                     reason="referer_malformed", detail="Referer checking failed - Referer is malformed.")

    def test_referer_insecure(self, https_server, credentials):
        assert_error(self.send(https_server, credentials, Referer="http://app.example.com/"), 403, "csrf_failed",
                     reason="referer_insecure",
                     detail="Referer checking failed - Referer is insecure while host is secure.")

    @pytest.mark.parametrize("referer", ["https://evil.example/page", "https://app.example.com.evil.net/",
                                         "https://app.example.com:8443/"])
    def test_referer_untrusted(self, https_server, credentials, referer):
        assert_error(self.send(https_server, credentials, Referer=referer), 403, "csrf_failed",
                     reason="referer_untrusted",
                     detail=f"Referer checking failed - {referer} does not match any trusted origins.")

    def test_trusted_referer_passes(self, https_server, credentials):
        response = self.send(https_server, credentials, Referer="https://app.example.com/#/diagnostics")
        assert response.status_code == 200, response.text

    def test_own_host_referer_passes(self, https_server, credentials):
        host = https_server.url.split("://")[1]
        response = self.send(https_server, credentials, Referer=f"https://{host}/somewhere")
        assert response.status_code == 200, response.text

    def test_trusted_origin_over_https_needs_no_referer(self, https_server, credentials):
        response = self.send(https_server, credentials, Origin="https://app.example.com")
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("proto", ["http, https", "HTTP,https", "ftp, http,https"])
    def test_forwarded_proto_is_the_value_the_proxy_appended(self, https_server, credentials, proto):
        """A client-supplied prefix cannot switch the strict HTTPS Referer check off."""
        assert_error(self.send(https_server, credentials, X_Forwarded_Proto=proto), 403, "csrf_failed",
                     reason="referer_missing")

    @pytest.mark.parametrize("proto", ["https, http", "https,http"])
    def test_forwarded_proto_prefix_cannot_claim_https(self, https_server, credentials, proto):
        # Plain HTTP behind the proxy: no Referer needed.
        response = self.send(https_server, credentials, X_Forwarded_Proto=proto)
        assert response.status_code == 200, response.text

    def test_forwarded_proto_from_untrusted_peer_is_ignored(self, servers):
        server = servers.start(FRONTEND_ORIGINS="https://app.example.com")  # no TRUSTED_PROXIES
        response = requests.get(server.url + "/api/csrf/")
        secret, token = response.cookies["csrftoken"], response.json()["csrfToken"]
        response = requests.post(server.url + "/api/ping/", cookies={"csrftoken": secret},
                                 headers={"X-CSRFToken": token, "X-Forwarded-Proto": "https"})
        assert response.status_code == 200, response.text


def test_csrf_runs_before_routing(sqlite_client):
    anonymous = requests.post(sqlite_client.url("/api/no-such-thing/"), headers={"Origin": ALLOWED})
    assert_error(anonymous, 403, "csrf_failed", reason="cookie_missing")
    assert_error(sqlite_client.post("/api/no-such-thing/"), 404, "not_found")
    wrong_method = requests.put(sqlite_client.url("/api/csrf/"), headers={"Origin": ALLOWED})
    assert_error(wrong_method, 403, "csrf_failed")
    response = sqlite_client.put("/api/csrf/")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_each_rejection_is_logged_as_a_warning_with_reason_and_path(sqlite_server):
    sqlite_server.new_log_lines()
    requests.post(sqlite_server.url + "/api/ping/", headers={"Origin": "http://evil.example"})
    lines = [line for line in sqlite_server.new_log_lines().splitlines() if "csrf" in line.lower()]
    assert any("warning" in line and "origin_untrusted" in line and "/api/ping/" in line for line in lines), lines


def test_secure_host_prefixed_cookie_name(servers):
    server = servers.start(COOKIE_SECURE="true", CSRF_COOKIE_NAME="__Host-csrftoken",
                           SESSION_COOKIE_NAME="__Host-sessionid")
    response = requests.get(server.url + "/api/csrf/")
    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith("__Host-csrftoken=")
    assert "Secure" in set_cookie and "Path=/" in set_cookie and "Domain" not in set_cookie
    secret = set_cookie.split(";")[0].split("=", 1)[1]
    ok = requests.post(server.url + "/api/ping/", headers={
        "X-CSRFToken": response.json()["csrfToken"], "Cookie": f"__Host-csrftoken={secret}"})
    assert ok.status_code == 200, ok.text


# Cookie tossing: a cookie planted for a longer path (or by a sibling domain) comes first -----------

def expired_cookie_paths(response, name="csrftoken"):
    """Paths of the Set-Cookie fields that expire `name` (Max-Age=0)."""
    paths = []
    for field in response.raw.headers.getlist("Set-Cookie"):
        parts = [part.strip() for part in field.split(";")]
        if parts[0].split("=", 1)[0] != name or "Max-Age=0" not in parts:
            continue
        paths += [part.split("=", 1)[1] for part in parts if part.lower().startswith("path=")]
    return paths


@pytest.mark.parametrize("first_is_valid", [True, False])
def test_duplicated_cookie_is_refused_whichever_comes_first(sqlite_server, secret_and_token, first_is_valid):
    secret, token = secret_and_token
    cookies = [f"csrftoken={secret}", "csrftoken=" + "j" * 32]
    if not first_is_valid:
        cookies.reverse()
    response = requests.post(sqlite_server.url + "/api/ping/",
                             headers={"X-CSRFToken": token, "Cookie": "; ".join(cookies), "Origin": ALLOWED})
    assert_error(response, 403, "csrf_failed", reason="cookie_duplicated",
                 detail="CSRF cookie is set more than once.")
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_duplicated_cookie_with_the_same_value_is_still_refused(sqlite_server, secret_and_token):
    secret, token = secret_and_token
    response = requests.post(sqlite_server.url + "/api/ping/",
                             headers={"X-CSRFToken": token, "Cookie": f"csrftoken={secret}; a=b; csrftoken={secret}"})
    assert_error(response, 403, "csrf_failed", reason="cookie_duplicated")


def test_duplicated_cookie_in_two_cookie_fields_is_refused(sqlite_server, secret_and_token):
    secret, token = secret_and_token
    host, port = sqlite_server.url.split("://")[1].split(":")
    # Two Cookie fields, as an HTTP/2 client may send them.
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("POST", "/api/ping/")
        connection.putheader("X-CSRFToken", token)
        connection.putheader("Cookie", f"csrftoken={secret}")
        connection.putheader("Cookie", "csrftoken=" + "k" * 32)
        connection.putheader("Content-Length", "0")
        connection.endheaders()
        answer = connection.getresponse()
        body = json.loads(answer.read())
    finally:
        connection.close()
    assert answer.status == 403, body
    assert body["reason"] == "cookie_duplicated", body


def test_names_that_only_contain_the_cookie_name_are_not_duplicates(sqlite_server, secret_and_token):
    secret, token = secret_and_token
    cookie = f"xcsrftoken=junk; csrftoken={secret}; csrftoken2=junk; csrftokenx=1"
    response = requests.post(sqlite_server.url + "/api/ping/", headers={"X-CSRFToken": token, "Cookie": cookie})
    assert response.status_code == 200, response.text


def test_cookie_duplicated_is_logged_as_a_warning(sqlite_server, secret_and_token):
    secret, token = secret_and_token
    sqlite_server.new_log_lines()
    requests.post(sqlite_server.url + "/api/todos/",
                  headers={"X-CSRFToken": token, "Cookie": f"csrftoken={secret}; csrftoken={secret}"})
    lines = sqlite_server.new_log_lines().splitlines()
    assert any("warning" in line and "cookie_duplicated" in line and "/api/todos/" in line for line in lines), lines


def test_refusal_expires_the_cookie_at_the_paths_that_can_shadow_ours(sqlite_server, secret_and_token):
    """A planted host-only copy at a path prefix of the request is erased by the refusal itself;
    ours (Path=/) is left alone."""
    secret, token = secret_and_token
    response = requests.post(sqlite_server.url + "/api/todos/",
                             headers={"X-CSRFToken": token, "Cookie": f"csrftoken={secret}; csrftoken={secret}"})
    assert_error(response, 403, "csrf_failed", reason="cookie_duplicated")
    assert sorted(expired_cookie_paths(response)) == ["/api", "/api/", "/api/todos", "/api/todos/"]


def test_token_endpoint_with_duplicated_cookie_issues_a_fresh_secret_and_expires_shadowing_copies(sqlite_server):
    planted, other = "p" * 32, "q" * 32
    response = requests.get(sqlite_server.url + "/api/csrf/", headers={"Cookie": f"csrftoken={planted}; csrftoken={other}"})
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    fresh = [field for field in response.raw.headers.getlist("Set-Cookie")
             if field.startswith("csrftoken=") and "Max-Age=0" not in field]
    assert len(fresh) == 1 and "Path=/" in [part.strip() for part in fresh[0].split(";")], fresh
    secret = fresh[0].split(";")[0].split("=", 1)[1]
    assert secret not in (planted, other) and re.fullmatch(r"[a-zA-Z0-9]{32}", secret)
    assert unmask(response.json()["csrfToken"]) == secret
    assert sorted(expired_cookie_paths(response)) == ["/api", "/api/", "/api/csrf", "/api/csrf/"]


def test_browser_heals_a_cookie_planted_at_api_path(sqlite_server):
    """requests' cookie jar plays the browser: a planted `Path=/api` copy is sent first; the token
    endpoint expires it, and then the ordinary flow works again."""
    session = requests.Session()
    host = sqlite_server.url.split("://")[1].split(":")[0]
    first = session.get(sqlite_server.url + "/api/csrf/")
    assert first.status_code == 200
    session.cookies.set("csrftoken", "z" * 32, domain=host, path="/api")
    token = session.get(sqlite_server.url + "/api/csrf/").json()["csrfToken"]
    assert [c.path for c in session.cookies if c.name == "csrftoken"] == ["/"]
    response = session.post(sqlite_server.url + "/api/ping/", headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.text
