"""Schemathesis hooks for todolist: every generated request carries the credentials a real
browser client would have, so the fuzzer reaches the handlers instead of the CSRF check.

Loaded by `schemathesis run` through SCHEMATHESIS_HOOKS=hooks (fuzz/ on PYTHONPATH), with:
  TODOLIST_FUZZ_URL   the server under test (a loopback address)
  TODOLIST_FUZZ_AUTH  `session` (logged in: a user of its own, made by sign-up) or `anonymous`

Unsafe requests (any method but GET, HEAD, OPTIONS, TRACE) get a valid `X-CSRFToken` for the `csrftoken` cookie sent with them and the
trusted `Origin` of the web app. Sign-up, log-in and log-out replace or end the session and
rotate the CSRF secret, so each of those requests gets credentials of its own, made for it
alone; every other request shares one identity, so the stateful phase sees its own todos.
"""
from __future__ import annotations

import os
import uuid

import requests
import schemathesis
from schemathesis.specs.openapi import checks as builtin_checks

BASE_URL = os.environ["TODOLIST_FUZZ_URL"]
LOGGED_IN = os.environ.get("TODOLIST_FUZZ_AUTH", "session") == "session"
ORIGIN = "http://localhost:3000"
# Django's safe methods; every other one (QUERY and unknown ones too) is CSRF-checked.
SAFE = {"GET", "HEAD", "OPTIONS", "TRACE"}
# Requests that replace or end the session and rotate the CSRF secret.
SESSION_CHANGING = {"/api/auth/signup/", "/api/auth/login/", "/api/auth/logout/"}


def new_identity() -> dict:
    """A fresh CSRF cookie and token, and when logged in a session of a new user."""
    with requests.Session() as http:
        token = http.get(BASE_URL + "/api/csrf/", timeout=10).json()["csrfToken"]
        if LOGGED_IN:
            credentials = {"username": "fuzz-" + uuid.uuid4().hex[:16], "password": "pw-" + uuid.uuid4().hex}
            response = http.post(BASE_URL + "/api/auth/signup/", json=credentials, timeout=10,
                                 headers={"Origin": ORIGIN, "X-CSRFToken": token})
            if response.status_code != 201:
                raise RuntimeError(f"fuzz sign-up failed: {response.status_code} {response.text}")
            token = http.get(BASE_URL + "/api/csrf/", timeout=10).json()["csrfToken"]
        return {"cookies": http.cookies.get_dict(), "token": token}


@schemathesis.auth(refresh_interval=None)
class BrowserCredentials:
    """The cookies and CSRF token of a logged-in (or anonymous) browser."""

    shared: dict | None = None

    def get(self, case, context):
        if case.operation.path in SESSION_CHANGING:
            return new_identity()
        if BrowserCredentials.shared is None:
            BrowserCredentials.shared = new_identity()
        return BrowserCredentials.shared

    def set(self, case, data, context):
        case.cookies = {**(case.cookies or {}), **data["cookies"]}
        if case.method.upper() not in SAFE:
            case.headers = {**(case.headers or {}), "X-CSRFToken": data["token"], "Origin": ORIGIN}


@schemathesis.check
def positive_data_accepted(ctx, response, case):
    """Schemathesis's positive_data_acceptance, only for cases whose every part is schema-valid.

    Schemathesis 4.32's coverage phase labels some cases positive although one part of them
    (their body) was made schema-violating; those are negative_data_rejection's to judge.
    The built-in check is excluded on the command line and this one runs instead.
    """
    meta = case.meta
    if meta is not None and any(component.mode.is_negative for component in meta.components.values()):
        return None
    return builtin_checks.positive_data_acceptance(ctx, response, case)
