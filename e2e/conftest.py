"""Browser fixtures: headless Chromium (Debian's) through Playwright, the stacks of
stack.py, and on failure the browser console, failed requests and backend log."""
from __future__ import annotations

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from stack import PROD_DOMAIN, DevStack, ProdStack, free_port  # noqa: E402
from servers import PostgresCluster  # noqa: E402  (stack.py put backend/Tests/HTTP on the path)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=[f"--host-resolver-rules=MAP *.{PROD_DOMAIN} 127.0.0.1", "--no-sandbox", "--disable-dev-shm-usage"])
    yield browser
    browser.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def failed(request) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is not None and report.failed


class BrowserLog:
    """What the browser saw, printed when a test fails."""

    def __init__(self):
        self.console: list[str] = []
        self.failed_requests: list[str] = []
        self.responses: list[tuple[str, str, int, str]] = []

    def attach(self, context):
        def on_console(message):
            self.console.append(f"[{message.type}] {message.text}")

        def on_page(page):
            page.on("console", on_console)
            page.on("pageerror", lambda error: self.console.append(f"[pageerror] {error}"))

        context.on("page", on_page)
        context.on("requestfailed", lambda req: self.failed_requests.append(
            f"{req.method} {req.url}: {req.failure}"))

        def on_response(response):
            body = ""
            if response.status >= 400:
                try:
                    body = response.text()
                except Exception:  # the body may be gone once the page navigates
                    body = "<unavailable>"
                self.failed_requests.append(f"{response.request.method} {response.url} -> {response.status} {body}")
            self.responses.append((response.request.method, response.url, response.status, body))

        context.on("response", on_response)

    def report(self) -> str:
        return ("--- browser console ---\n" + "\n".join(self.console) +
                "\n--- failed network requests ---\n" + "\n".join(self.failed_requests))


class Contexts:
    """Browser contexts (separate cookie jars: one per simulated browser) for one test."""

    def __init__(self, browser, base_url: str, https: bool):
        self.browser = browser
        self.base_url = base_url
        self.https = https
        self.log = BrowserLog()
        self.contexts = []

    def new(self, **options):
        """`options` go to Playwright's new_context, e.g. a phone's viewport, has_touch, is_mobile."""
        options = {"viewport": {"width": 1000, "height": 760}, **options}
        context = self.browser.new_context(base_url=self.base_url, ignore_https_errors=self.https, **options)
        context.set_default_timeout(10_000)
        self.log.attach(context)
        self.contexts.append(context)
        return context

    def new_page(self, **options):
        return self.new(**options).new_page()

    def close(self):
        for context in self.contexts:
            context.close()


def _stack_fixture(request, tmp_path, browser, stack_class, https):
    stack = stack_class(tmp_path).start()
    contexts = Contexts(browser, stack.app_url, https)
    try:
        yield stack, contexts
    finally:
        if failed(request):
            print(contexts.log.report())
            print("--- backend log ---\n" + stack.backend_logs()[-20000:])
        contexts.close()
        stack.cleanup()


@pytest.fixture
def dev(request, tmp_path, browser):
    """http://localhost:<web> -> http://localhost:<api>, fresh database."""
    yield from _stack_fixture(request, tmp_path, browser, DevStack, https=False)


@pytest.fixture
def prod(request, tmp_path, browser):
    """https://app.todolist.test -> https://api.todolist.test through nginx, fresh database."""
    yield from _stack_fixture(request, tmp_path, browser, ProdStack, https=True)


@pytest.fixture
def prod_two_instances(request, tmp_path, browser):
    """The production layout with two API processes behind nginx on one PostgreSQL database
    (a throw-away cluster); `stack.use_instance(context, n)` picks a browser's instance."""
    cluster = PostgresCluster().start()
    try:
        database_url = cluster.create_database()
        yield from _stack_fixture(
            request, tmp_path, browser,
            lambda workdir: ProdStack(workdir, database_url=database_url, instances=2), https=True)
    finally:
        cluster.cleanup()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, scale="css")  # a phone's at 390 px wide, not 3×
        return path

    return take


@pytest.fixture
def attacker_site():
    """A third origin (http://127.0.0.1:<port>) serving pages the test writes."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path.split("?")[0], "not found").encode()
            self.send_response(200 if self.path.split("?")[0] in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    class Site:
        url = f"http://127.0.0.1:{port}"

        @staticmethod
        def add(path: str, html: str) -> str:
            pages[path] = html
            return Site.url + path

    yield Site
    server.shutdown()
