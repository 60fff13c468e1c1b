"""What a person does in the app, as small steps shared by the browser tests."""
from __future__ import annotations

import itertools
import time

from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery"
# Browser context options (Contexts.new) for the two screens the app is checked on.
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
_counter = itertools.count()


def unique_username(prefix: str = "user") -> str:
    return f"{prefix}{int(time.time() * 1000) % 10_000_000}{next(_counter)}"


def sign_up(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/#/signup")
    form = page.get_by_test_id("signup-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button").click()
    expect(page.get_by_test_id("current-user")).to_have_text(username)


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/#/login")
    form = page.get_by_test_id("login-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button").click()
    expect(page.get_by_test_id("current-user")).to_have_text(username)


def log_out(page: Page) -> None:
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("current-user")).to_have_count(0)


def add_todo(page: Page, title: str) -> None:
    count = page.get_by_test_id("todo-item").count()
    field = page.locator("input.new-todo")
    field.fill(title)
    field.press("Enter")
    expect(page.get_by_test_id("todo-item")).to_have_count(count + 1)
    expect(page.get_by_test_id("todo-item").last).not_to_have_attribute("aria-busy", "true")


def titles(page: Page) -> list[str]:
    return page.get_by_test_id("todo-title").all_inner_texts()


def item(page: Page, title: str):
    return page.get_by_test_id("todo-item").filter(has=page.get_by_test_id("todo-title").get_by_text(title, exact=True))


def expect_titles(page: Page, expected: list[str]) -> None:
    expect(page.get_by_test_id("todo-title")).to_have_text(expected)


def expect_diagnostics_ok(page: Page) -> None:
    page.goto("/#/diagnostics")
    expect(page.get_by_test_id("diagnostics-get")).to_have_text("Test GET request: OK")
    expect(page.get_by_test_id("diagnostics-post")).to_have_text("Test POST request: OK")


def open_account(page: Page) -> None:
    """The Account page, the way a person gets there: the header's Account link."""
    page.get_by_test_id("account-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_test_id("session").first).to_be_visible()


def expect_logged_out_with_message(page: Page, message: str = "Your session has ended") -> None:
    """The log-in form, with the app's message saying why the person is there."""
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    expect(page.get_by_test_id("status-message")).to_contain_text(message)
