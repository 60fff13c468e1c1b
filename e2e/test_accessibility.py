"""axe-core (through axe-playwright-python) on every view, at desktop and phone sizes:
no serious or critical violation anywhere, error states included."""
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from flows import DESKTOP, PASSWORD, PHONE, add_todo, item, open_account, sign_up, unique_username

SCREENS = {"desktop": DESKTOP, "phone": PHONE}
BLOCKING = {"serious", "critical"}


class Audit:
    """Runs axe on the page as it is now and keeps what it found, per view."""

    def __init__(self):
        self.axe = Axe()
        self.found: dict[str, list[str]] = {}
        self.views: list[str] = []

    def __call__(self, page: Page, view: str) -> None:
        page.wait_for_timeout(250)  # let transitions (colour, opacity) finish: axe reads computed styles
        results = self.axe.run(page)
        self.views.append(view)
        for violation in results.response["violations"]:
            if violation["impact"] not in BLOCKING:
                continue
            targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]][:5]
            self.found.setdefault(view, []).append(
                f"{violation['impact']} {violation['id']}: {violation['help']} at {targets}")

    def report(self) -> str:
        return "\n".join(f"{view}:\n  " + "\n  ".join(lines) for view, lines in self.found.items())


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_no_serious_or_critical_violation_on_any_view(dev, screen):
    stack, contexts = dev
    page = contexts.new_page(**SCREENS[screen])
    audit = Audit()

    page.goto("/#/login")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    audit(page, "log-in")
    page.goto("/#/signup")
    expect(page.get_by_test_id("signup-form")).to_be_visible()
    audit(page, "sign-up")
    form = page.get_by_test_id("signup-form")
    form.get_by_label("Username").fill("bad name!")
    form.get_by_label("Password").fill("123")
    form.get_by_role("button").click()
    expect(page.get_by_test_id("username-error")).to_be_visible()
    audit(page, "sign-up with a field error")
    page.goto("/#/diagnostics")
    expect(page.get_by_test_id("diagnostics-post")).to_have_text("Test POST request: OK")
    audit(page, "diagnostics")
    page.goto("/#/nowhere")
    audit(page, "not found")

    username = unique_username("a11y")
    sign_up(page, username)
    audit(page, "empty list")
    for title in ["Buy milk", "Write the report", "Call the plumber"]:
        add_todo(page, title)
    item(page, "Buy milk").locator("input.toggle").check()
    audit(page, "list with items (all)")
    page.goto("/#/active")
    expect(page.get_by_test_id("todo-item")).to_have_count(2)
    audit(page, "active filter")
    page.goto("/#/completed")
    expect(page.get_by_test_id("todo-item")).to_have_count(1)
    audit(page, "completed filter")
    page.goto("/#/")
    item(page, "Write the report").get_by_test_id("todo-title").dblclick()
    expect(page.locator("input.edit")).to_be_focused()
    audit(page, "editing")
    page.locator("input.edit").press("Escape")

    open_account(page)
    audit(page, "account")
    page.get_by_test_id("token-form").get_by_label("Name", exact=True).fill("audit script")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("token-secret")).to_be_focused()
    audit(page, "account with a new token shown")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("newPassword-error")).to_be_visible()
    page.get_by_role("button", name="Delete account…").click()
    expect(page.get_by_label("Type your password to confirm")).to_be_focused()
    audit(page, "account with a field error and the deletion step")
    page.goto("/#/")
    expect(page.get_by_test_id("todo-item")).to_have_count(3)

    stack.backend.stop()
    item(page, "Call the plumber").locator("input.toggle").click()  # fails and rolls back
    expect(page.get_by_test_id("error-message")).to_be_visible()
    audit(page, "list with an error message")
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("error-message").filter(has_text="Could not log out")).to_be_visible()
    audit(page, "failed log-out")
    page.reload()
    expect(page.get_by_test_id("api-unreachable")).to_be_visible()
    audit(page, "API unreachable")
    page.goto("/#/diagnostics")
    expect(page.get_by_test_id("diagnostics-get")).to_contain_text("KO")
    audit(page, "diagnostics, API down")

    stack.backend.start()
    page.goto("/#/")
    page.get_by_test_id("api-unreachable").get_by_role("button", name="Try again").click()
    expect(page.get_by_test_id("current-user")).to_have_text(username)
    page.get_by_test_id("logout").click()
    page.goto("/#/login")
    form = page.get_by_test_id("login-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(PASSWORD + "x")
    form.get_by_role("button").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    audit(page, "log-in with a wrong password")

    assert len(audit.views) == 18, audit.views
    assert not audit.found, "axe found serious or critical violations:\n" + audit.report()
