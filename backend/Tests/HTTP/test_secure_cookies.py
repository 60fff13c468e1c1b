"""COOKIE_SECURE=true makes the default cookie names `__Host-` prefixed (issue 15 §1), so a
sibling subdomain or a man-in-the-middle cannot toss a cookie of the same name."""
from __future__ import annotations

import requests

ORIGIN = "http://localhost:3000"


def set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name (requests folds them into one string)."""
    raw = response.raw.headers.getlist("Set-Cookie")
    return {line.split("=", 1)[0]: line for line in raw}


def test_secure_cookies_get_host_prefixed_default_names(servers):
    server = servers.start(COOKIE_SECURE="true")
    token_response = requests.get(server.url + "/api/csrf/", headers={"Origin": ORIGIN})
    cookies = set_cookies(token_response)
    assert list(cookies) == ["__Host-csrftoken"], cookies
    attributes = cookies["__Host-csrftoken"]
    assert "Secure" in attributes and "Path=/" in attributes and "Domain" not in attributes
    secret = attributes.split(";")[0].split("=", 1)[1]
    # The prefixed cookie is the one the CSRF check reads; a plain `csrftoken` no longer counts.
    token = token_response.json()["csrfToken"]
    signup = requests.post(server.url + "/api/auth/signup/", json={"username": "prefixed", "password": "correct horse 1"},
                           headers={"Origin": ORIGIN, "X-CSRFToken": token, "Cookie": f"__Host-csrftoken={secret}"})
    assert signup.status_code == 201, signup.text
    issued = set_cookies(signup)
    assert "__Host-sessionid" in issued and "__Host-csrftoken" in issued, issued
    session = issued["__Host-sessionid"].split(";")[0].split("=", 1)[1]
    me = requests.get(server.url + "/api/auth/me/", headers={"Origin": ORIGIN, "Cookie": f"__Host-sessionid={session}"})
    assert me.json()["user"]["username"] == "prefixed"
    plain = requests.post(server.url + "/api/ping/", headers={"Origin": ORIGIN, "X-CSRFToken": token,
                                                             "Cookie": f"csrftoken={secret}"})
    assert plain.status_code == 403 and plain.json()["reason"] == "cookie_missing"


def test_explicit_names_still_win(servers):
    server = servers.start(COOKIE_SECURE="true", CSRF_COOKIE_NAME="csrftoken")
    assert list(set_cookies(requests.get(server.url + "/api/csrf/"))) == ["csrftoken"]


def test_cookie_domain_gets_secure_prefixed_names(servers):
    server = servers.start(COOKIE_SECURE="true", COOKIE_DOMAIN=".example.com")
    cookies = set_cookies(requests.get(server.url + "/api/csrf/"))
    assert list(cookies) == ["__Secure-csrftoken"], cookies
    assert "Domain=.example.com" in cookies["__Secure-csrftoken"] and "Secure" in cookies["__Secure-csrftoken"]


def test_insecure_cookies_keep_plain_names(sqlite_server):
    assert list(set_cookies(requests.get(sqlite_server.url + "/api/csrf/"))) == ["csrftoken"]
