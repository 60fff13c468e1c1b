"""Limits section: the log-in and sign-up throttles and the bound on bcrypt work, under
concurrency. Each limit must be an upper bound however many requests arrive at once."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from accounts import PASSWORD, signed_up, unique_name
from api import ApiClient, assert_error

# Every test here fires many requests from one loopback address; the hashing queue is
# opened wide unless a test is about the queue itself.
WIDE_QUEUE = {"HASHING_QUEUE_LIMIT": "1000", "HASHING_QUEUE_PER_ADDRESS": "1000"}


def concurrently(requests_to_send: list[tuple[ApiClient, str, dict, dict]]) -> list[requests.Response]:
    """Sends every request at once (each client holds its CSRF token beforehand); the responses in order."""
    for client, _, _, _ in requests_to_send:
        client.fetch_token()
    barrier = threading.Barrier(len(requests_to_send))

    def send(item):
        client, path, body, headers = item
        barrier.wait(timeout=60)
        return client.post(path, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        return list(pool.map(send, requests_to_send))


def statuses(responses: list[requests.Response]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for response in responses:
        counts[response.status_code] = counts.get(response.status_code, 0) + 1
    return counts


# Log-in ---------------------------------------------------------------------------------

def test_concurrent_failures_for_one_username_verify_at_most_the_limit(servers, db):
    server = servers.start(db, LOGIN_FAILURES_PER_USERNAME="5", LOGIN_FAILURES_PER_ADDRESS="1000", **WIDE_QUEUE)
    name = unique_name()
    signed_up(server.url, name)
    attempts = [(ApiClient(server.url), "/api/auth/login/", {"username": name, "password": "wrong password"}, {})
                for _ in range(40)]
    responses = concurrently(attempts)
    counts = statuses(responses)
    assert set(counts) <= {400, 429}, counts
    assert counts.get(400, 0) <= 5, counts
    for response in responses:
        if response.status_code == 429:
            assert_error(response, 429, "throttled")
            assert int(response.headers["Retry-After"]) > 0
    # The limit is reached, so even the right password is refused now.
    assert_error(ApiClient(server.url).login(name, PASSWORD), 429, "throttled")


def test_concurrent_right_and_wrong_passwords_never_exceed_the_limit(servers, db):
    server = servers.start(db, LOGIN_FAILURES_PER_USERNAME="3", LOGIN_FAILURES_PER_ADDRESS="1000", **WIDE_QUEUE)
    name = unique_name()
    signed_up(server.url, name)
    attempts = [(ApiClient(server.url), "/api/auth/login/",
                 {"username": name.upper() if index % 2 else name, "password": "wrong password"}, {})
                for index in range(30)]
    counts = statuses(concurrently(attempts))
    assert counts.get(400, 0) <= 3 and set(counts) <= {400, 429}, counts


def test_concurrent_failures_from_one_address_verify_at_most_the_limit(servers, db):
    server = servers.start(db, LOGIN_FAILURES_PER_USERNAME="1000", LOGIN_FAILURES_PER_ADDRESS="10", **WIDE_QUEUE)
    name = unique_name()
    signed_up(server.url, name)
    attempts = [(ApiClient(server.url), "/api/auth/login/", {"username": unique_name("spray"), "password": "x" * 9}, {})
                for _ in range(120)]
    counts = statuses(concurrently(attempts))
    assert set(counts) <= {400, 429}, counts
    assert counts.get(400, 0) <= 10, counts
    assert_error(ApiClient(server.url).login(name, PASSWORD), 429, "throttled")


def test_a_successful_login_frees_its_reservation(servers, db):
    # Two slots per username: successes must not use them up.
    server = servers.start(db, LOGIN_FAILURES_PER_USERNAME="2", LOGIN_FAILURES_PER_ADDRESS="3", **WIDE_QUEUE)
    name = unique_name()
    signed_up(server.url, name)
    for _ in range(6):
        assert ApiClient(server.url).login(name, PASSWORD).status_code == 200
    assert_error(ApiClient(server.url).login(name, "wrong password"), 400, "invalid_credentials")
    assert ApiClient(server.url).login(name, PASSWORD).status_code == 200


# Non-canonical usernames -----------------------------------------------------------------

def test_login_compares_usernames_in_ascii_only(servers, db):
    server = servers.start(db, LOGIN_FAILURES_PER_USERNAME="2", LOGIN_FAILURES_PER_ADDRESS="1000")
    signed_up(server.url, "kelvin")
    # U+212A KELVIN SIGN lower-cases to "k" in Unicode; usernames are ASCII, so it names nobody.
    assert_error(ApiClient(server.url).login("\u212aelvin", PASSWORD), 400, "invalid_credentials")
    # Other non-ASCII look-alikes likewise (dotted capital I lower-cases to "i̇").
    signed_up(server.url, "ivan")
    assert_error(ApiClient(server.url).login("\u0130van", PASSWORD), 400, "invalid_credentials")
    assert ApiClient(server.url).login("KELVIN", PASSWORD).status_code == 200
    # A non-ASCII name counts like any failure for its own key.
    assert_error(ApiClient(server.url).login("\u212aelvin", PASSWORD), 400, "invalid_credentials")
    assert_error(ApiClient(server.url).login("\u212aelvin", PASSWORD), 429, "throttled")
    assert ApiClient(server.url).login("kelvin", PASSWORD).status_code == 200


# Sign-up --------------------------------------------------------------------------------

def test_signups_are_throttled_per_client_address(servers, db):
    server = servers.start(db, SIGNUPS_PER_ADDRESS="3", SIGNUP_THROTTLE_WINDOW="3600", TRUSTED_PROXIES="127.0.0.1",
                           **WIDE_QUEUE)
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    for _ in range(3):
        response = ApiClient(server.url).post("/api/auth/signup/", json={"username": unique_name(), "password": PASSWORD},
                                              headers=forwarded)
        assert response.status_code == 201, response.text
    name = unique_name()
    response = ApiClient(server.url).post("/api/auth/signup/", json={"username": name, "password": PASSWORD},
                                          headers=forwarded)
    assert_error(response, 429, "throttled")
    assert 3590 <= int(response.headers["Retry-After"]) <= 3600
    # Nothing was created for the refused sign-up.
    assert_error(ApiClient(server.url).login(name, PASSWORD), 400, "invalid_credentials")
    # Another address is not affected.
    other = ApiClient(server.url).post("/api/auth/signup/", json={"username": unique_name(), "password": PASSWORD},
                                       headers={"X-Forwarded-For": "198.51.100.4"})
    assert other.status_code == 201, other.text


def test_concurrent_signups_from_one_address_create_at_most_the_limit(servers, db):
    server = servers.start(db, SIGNUPS_PER_ADDRESS="4", **WIDE_QUEUE)
    attempts = [(ApiClient(server.url), "/api/auth/signup/", {"username": unique_name(), "password": PASSWORD}, {})
                for _ in range(30)]
    counts = statuses(concurrently(attempts))
    assert set(counts) <= {201, 429}, counts
    assert counts.get(201, 0) <= 4, counts


# Hashing work in flight ---------------------------------------------------------------------

def test_a_full_hashing_queue_answers_busy(servers):
    # A real cost, so the verifications overlap, and a queue of two per address.
    server = servers.start("sqlite", BCRYPT_COST="12", LOGIN_FAILURES_PER_USERNAME="1000",
                           LOGIN_FAILURES_PER_ADDRESS="1000", HASHING_QUEUE_LIMIT="4", HASHING_QUEUE_PER_ADDRESS="2")
    name = unique_name()
    signed_up(server.url, name)
    attempts = [(ApiClient(server.url), "/api/auth/login/", {"username": unique_name("flood"), "password": "x" * 9}, {})
                for _ in range(20)]
    responses = concurrently(attempts)
    counts = statuses(responses)
    assert set(counts) <= {400, 503}, counts
    assert counts.get(503, 0) >= 10, counts
    busy = next(r for r in responses if r.status_code == 503)
    assert_error(busy, 503, "busy")
    seconds = int(busy.headers["Retry-After"])
    assert seconds >= 1
    assert busy.json()["detail"].endswith(f"try again in {seconds} second{'s' if seconds != 1 else ''}."), busy.json()
    assert "Retry-After" in busy.headers.get("Access-Control-Expose-Headers", "")
    # A refused attempt was never verified, so it does not count as a failure: the
    # address is not throttled, and once the queue drains the owner logs in.
    assert ApiClient(server.url).login(name, PASSWORD).status_code == 200


def test_another_address_gets_through_a_flood_of_the_hashing_queue(servers):
    server = servers.start("sqlite", BCRYPT_COST="12", LOGIN_FAILURES_PER_USERNAME="1000",
                           LOGIN_FAILURES_PER_ADDRESS="1000", TRUSTED_PROXIES="127.0.0.1",
                           HASHING_QUEUE_LIMIT="6", HASHING_QUEUE_PER_ADDRESS="3")
    name = unique_name()
    signed_up(server.url, name)
    flood = [(ApiClient(server.url), "/api/auth/login/", {"username": unique_name("flood"), "password": "x" * 9},
              {"X-Forwarded-For": "203.0.113.50"}) for _ in range(20)]
    legitimate = (ApiClient(server.url), "/api/auth/login/", {"username": name, "password": PASSWORD},
                  {"X-Forwarded-For": "198.51.100.60"})
    responses = concurrently(flood + [legitimate])
    flood_counts = statuses(responses[:-1])
    assert flood_counts.get(400, 0) <= 20 and flood_counts.get(503, 0) >= 10, flood_counts
    assert responses[-1].status_code == 200, responses[-1].text


# Refusals are held ---------------------------------------------------------------------

def test_refused_attempts_are_answered_after_a_moment_spread_out(servers, db):
    server = servers.start(db, LOGIN_FAILURES_PER_USERNAME="1", LOGIN_FAILURES_PER_ADDRESS="1000",
                           REFUSAL_DELAY_MS="1000", **WIDE_QUEUE)
    name = unique_name()
    assert_error(ApiClient(server.url).login(name, "wrong password"), 400, "invalid_credentials")
    attempts = [(ApiClient(server.url), "/api/auth/login/", {"username": name, "password": "wrong password"}, {})
                for _ in range(20)]
    responses = concurrently(attempts)
    for response in responses:
        assert_error(response, 429, "throttled")
        assert int(response.headers["Retry-After"]) > 0
    waits = sorted(response.elapsed.total_seconds() for response in responses)
    # Each is held half to one and a half seconds, drawn at random: not answered together.
    assert waits[0] >= 0.5, waits
    assert waits[-1] - waits[0] >= 0.3, waits


def test_without_the_delay_refusals_are_answered_at_once(servers, db):
    server = servers.start(db, LOGIN_FAILURES_PER_USERNAME="1", REFUSAL_DELAY_MS="0", **WIDE_QUEUE)
    name = unique_name()
    client = ApiClient(server.url)
    assert_error(client.login(name, "wrong password"), 400, "invalid_credentials")
    refused = client.login(name, "wrong password")
    assert_error(refused, 429, "throttled")
    assert refused.elapsed.total_seconds() < 0.5
