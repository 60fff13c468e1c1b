"""Helpers for tests that need users: unique names and a signed-up client."""
from __future__ import annotations

import uuid

from api import ApiClient

PASSWORD = "correct horse battery"


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def signed_up(base_url: str, name: str | None = None, password: str = PASSWORD) -> ApiClient:
    """A client logged in as a brand-new user."""
    client = ApiClient(base_url)
    response = client.signup(name or unique_name(), password)
    assert response.status_code == 201, response.text
    return client
