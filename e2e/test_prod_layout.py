"""Production-like layout: https://app.todolist.test and https://api.todolist.test on
loopback, nginx terminating TLS with deploy/nginx/todolist.conf, Secure __Host- cookies."""
import requests
import urllib3
from playwright.sync_api import expect

from flows import add_todo, expect_diagnostics_ok, expect_titles, log_in, log_out, sign_up, unique_username

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def test_diagnostics_over_https(prod, screenshot):
    stack, contexts = prod
    page = contexts.new_page()
    expect_diagnostics_ok(page)
    screenshot(page, "diagnostics-https")


def test_sign_up_and_todos_with_secure_host_cookies(prod):
    stack, contexts = prod
    context = contexts.new()
    page = context.new_page()
    username = unique_username("prod")
    sign_up(page, username)
    add_todo(page, "Deployed")
    add_todo(page, "Behind nginx")
    page.reload()
    expect_titles(page, ["Deployed", "Behind nginx"])

    cookies = {c["name"]: c for c in context.cookies(stack.api_url)}
    for name in ("__Host-sessionid", "__Host-csrftoken"):
        assert cookies[name]["secure"] and cookies[name]["httpOnly"], cookies
        assert cookies[name]["sameSite"] == "Lax" and cookies[name]["path"] == "/", cookies
        assert cookies[name]["domain"] == stack.api_host, cookies  # host-only: no Domain attribute
    # The page on the app host can never read the API's cookies; its token came from /api/csrf/.
    assert page.evaluate("document.cookie") == ""

    log_out(page)
    log_in(page, username)
    page.goto("/#/")
    expect_titles(page, ["Deployed", "Behind nginx"])


def test_token_refresh_over_https(prod):
    stack, contexts = prod
    context = contexts.new()
    page = context.new_page()
    username = unique_username("prodrotate")
    sign_up(page, username)
    add_todo(page, "First")
    other = context.new_page()
    other.goto("/#/")
    log_out(other)
    log_in(other, username)
    other.close()
    requests = []  # in request order: see the same test in test_dev_layout.py
    page.on("request", lambda r: requests.append(r) if r.method == "POST" and r.url.endswith("/api/todos/") else None)
    add_todo(page, "Second")
    page.wait_for_timeout(200)
    assert [r.response().status for r in requests] == [403, 201]


def test_referer_rules_apply_to_https_requests_without_origin(prod):
    """Through nginx, X-Forwarded-Proto makes the API see HTTPS and check the Referer strictly."""
    stack, _ = prod
    http = requests.Session()
    # REQUESTS_CA_BUNDLE in the environment would override verify=False; the certificate is
    # the stack's own self-signed one, and nothing here should go through a proxy.
    http.trust_env = False
    http.verify = False
    api = f"https://127.0.0.1:{stack.port}"
    host = {"Host": f"{stack.api_host}:{stack.port}"}
    token = http.get(api + "/api/csrf/", headers=host).json()["csrfToken"]
    secret = http.cookies.get("__Host-csrftoken")
    cookie = {"Cookie": f"__Host-csrftoken={secret}", "X-CSRFToken": token, **host}

    def post(**headers):
        return http.post(api + "/api/ping/", headers={**cookie, **headers})

    assert post().json()["reason"] == "referer_missing"
    assert post(Referer="http://app.todolist.test/").json()["reason"] == "referer_insecure"
    assert post(Referer="https://evil.test/").json()["reason"] == "referer_untrusted"
    assert post(Referer="::not a url").json()["reason"] == "referer_malformed"
    ok = post(Referer=f"{stack.app_url}/#/diagnostics")
    assert ok.status_code == 200, ok.text
    assert post(Origin="https://evil.test").json()["reason"] == "origin_untrusted"
