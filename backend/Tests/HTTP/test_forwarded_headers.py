"""Forwarded headers are believed only from a trusted proxy, and then only the value that
proxy appended (the right-most): a client's own prefix changes nothing."""
import uuid

import pytest
import requests

from api import ApiClient, assert_error


@pytest.fixture
def proxied(servers):
    return servers.start(TRUSTED_PROXIES="127.0.0.1", LOGIN_FAILURES_PER_ADDRESS="3",
                         LOGIN_FAILURES_PER_USERNAME="100")


def failed_login(server, forwarded_for):
    client = ApiClient(server.url)
    return client.post("/api/auth/login/", json={"username": "u" + uuid.uuid4().hex[:8], "password": "wrong password"},
                       headers={"X-Forwarded-For": forwarded_for})


def test_client_prefixes_of_x_forwarded_for_do_not_escape_throttling(proxied):
    for attempt in range(3):
        assert_error(failed_login(proxied, f"10.9.8.{attempt}, 198.51.100.7"), 400, "invalid_credentials")
    assert_error(failed_login(proxied, "10.9.8.200, 198.51.100.7"), 429, "throttled")
    assert_error(failed_login(proxied, "198.51.100.7"), 429, "throttled")
    # Another client behind the same proxy is its own address.
    assert_error(failed_login(proxied, "198.51.100.7, 198.51.100.8"), 400, "invalid_credentials")


@pytest.mark.parametrize("spellings", [
    ["198.51.100.9:1111", "198.51.100.9:2222", "198.51.100.9", "198.51.100.9:3333"],
    ["[2001:db8::9]:443", "2001:DB8:0::9", "2001:db8::9", "2001:db8:0:0:0:0:0:9"],
])
def test_spellings_of_one_forwarded_address_share_its_throttle(proxied, spellings):
    for forwarded in spellings[:3]:
        assert_error(failed_login(proxied, forwarded), 400, "invalid_credentials")
    assert_error(failed_login(proxied, spellings[3]), 429, "throttled")


def test_x_forwarded_proto_prefix_does_not_turn_off_the_https_referer_check(servers):
    server = servers.start(TRUSTED_PROXIES="127.0.0.1", FRONTEND_ORIGINS="https://app.example.com")
    first = requests.get(server.url + "/api/csrf/")
    secret, token = first.cookies["csrftoken"], first.json()["csrfToken"]
    response = requests.post(server.url + "/api/ping/", cookies={"csrftoken": secret},
                             headers={"X-CSRFToken": token, "X-Forwarded-Proto": "http, https",
                                      "Referer": "https://evil.example/"})
    assert_error(response, 403, "csrf_failed", reason="referer_untrusted")
