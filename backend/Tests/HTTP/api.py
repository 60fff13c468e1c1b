"""A small API client for tests that behaves like the browser app: it sends the
frontend's Origin, fetches the CSRF token from /api/csrf/ and puts it in
X-CSRFToken on unsafe methods. Every knob can be turned off to build attacks."""
from __future__ import annotations

import requests

FRONTEND_ORIGIN = "http://localhost:3000"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class ApiClient:
    def __init__(self, base_url: str, origin: str | None = FRONTEND_ORIGIN):
        self.base_url = base_url
        self.origin = origin
        self.http = requests.Session()
        self.token: str | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def fetch_token(self) -> str:
        response = self.http.get(self.url("/api/csrf/"), headers=self._origin_header())
        assert response.status_code == 200, response.text
        self.token = response.json()["csrfToken"]
        return self.token

    def _origin_header(self) -> dict[str, str]:
        return {"Origin": self.origin} if self.origin else {}

    def request(self, method: str, path: str, *, json=None, data=None, headers=None, csrf: bool = True,
                **kwargs) -> requests.Response:
        method = method.upper()
        merged = self._origin_header()
        if method in UNSAFE and csrf:
            merged["X-CSRFToken"] = self.token or self.fetch_token()
        merged.update(headers or {})
        return self.http.request(method, self.url(path), json=json, data=data, headers=merged, timeout=30, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    # The server rotates the CSRF secret at these three, so the cached token is dropped.
    def signup(self, username: str, password: str) -> requests.Response:
        response = self.post("/api/auth/signup/", json={"username": username, "password": password})
        self.token = None
        return response

    def login(self, username: str, password: str) -> requests.Response:
        response = self.post("/api/auth/login/", json={"username": username, "password": password})
        self.token = None
        return response

    def logout(self) -> requests.Response:
        response = self.post("/api/auth/logout/")
        self.token = None
        return response

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)

    def set_cookie(self, name: str, value: str) -> None:
        host = self.base_url.split("://", 1)[1].split(":")[0]
        self.http.cookies.set(name, value, domain=host, path="/")


def assert_error(response: requests.Response, status: int, code: str, **fields) -> dict:
    """The contract's error shape: status, `error` code, a `detail` sentence, named extras."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert body.get("error") == code, body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    for name, value in fields.items():
        assert body.get(name) == value, body
    return body
