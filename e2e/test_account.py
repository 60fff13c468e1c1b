"""The Account page (issue 12) in Chromium against the real server: sessions (this device, end
one, log out everywhere else), a password change seen by another browser, personal access tokens
used by a script (plain HTTP with `Authorization: Bearer`, as curl would), account deletion, and
a keyboard-only pass. Each browser context is one device (its own cookie jar)."""
from __future__ import annotations

import re

import requests
from playwright.sync_api import Page, expect

from flows import (DESKTOP, PASSWORD, PHONE, add_todo, expect_logged_out_with_message, expect_titles, log_in,
                   open_account, sign_up, unique_username)

NEW_PASSWORD = "a brand new passphrase"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def next_action_logs_out(page: Page) -> None:
    """What the person on an ended session does next (add a todo) sends them to log in, told why."""
    page.goto("/#/")
    field = page.locator("input.new-todo")
    if field.count() == 0:  # the list was never loaded in this context: loading it is the action
        expect_logged_out_with_message(page)
        return
    field.fill("written on an ended session")
    field.press("Enter")
    expect_logged_out_with_message(page)


def still_logged_in_and_can_write(page: Page, username: str, title: str) -> None:
    page.goto("/#/")
    expect(page.get_by_test_id("current-user")).to_have_text(username)
    expect(page.locator("input.new-todo")).to_be_visible()  # the list is loaded (add_todo counts its rows)
    add_todo(page, title)
    page.reload()  # saved on the server, not only on screen
    expect(page.get_by_test_id("todo-title").filter(has_text=title)).to_have_count(1)


def session_row(page: Page, client: str):
    return page.get_by_test_id("session").filter(has=page.get_by_test_id("session-client").get_by_text(client, exact=True))


def bearer(api_url: str, token: str, method: str, path: str, **kwargs) -> requests.Response:
    """A script's request, like `curl -H "Authorization: Bearer $TOKEN"`: no cookie, no CSRF token."""
    return requests.request(method, api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs)


# ---- Password change ----

def test_a_password_change_logs_out_the_other_browser_and_keeps_this_one(dev):
    stack, contexts = dev
    username = unique_username("pw")
    here = contexts.new_page(**DESKTOP)
    sign_up(here, username)
    elsewhere = contexts.new_page(**DESKTOP)
    log_in(elsewhere, username)
    add_todo(elsewhere, "from the other browser")

    open_account(here)
    form = here.get_by_test_id("password-form")
    # A wrong current password is refused at that field, and changes nothing.
    form.get_by_label("Current password").fill("not my password")
    form.get_by_label("New password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(here.get_by_test_id("currentPassword-error")).to_have_text("That is not your current password.")
    expect(form.get_by_label("Current password")).to_be_focused()
    # A new password that breaks the sign-up rules is refused at the new password.
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_label("New password").fill("12345678")
    form.get_by_role("button", name="Change password").click()
    expect(here.get_by_test_id("newPassword-error")).to_be_visible()
    expect(here.get_by_test_id("currentPassword-error")).to_have_count(0)

    refused: list[str] = []  # from here on, this browser must never meet a CSRF refusal
    here.on("response", lambda r: r.status == 403 and refused.append(f"{r.request.method} {r.url}"))
    form.get_by_label("New password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(here.get_by_test_id("password-status")).to_contain_text("Password changed. You are still logged in here")
    expect(form.get_by_label("Current password")).to_have_value("")
    # The sessions list is read again: only this device is left.
    expect(here.get_by_test_id("session")).to_have_count(1)
    expect(here.get_by_test_id("no-other-sessions")).to_be_visible()

    # The other browser is logged out on its next action, and told so.
    next_action_logs_out(elsewhere)

    # This one stays logged in, and its writes pass the CSRF check with the rotated secret.
    still_logged_in_and_can_write(here, username, "after the password change")
    # The API client fetched a token for the new secret at once, rather than being refused
    # with the old one and retrying.
    assert refused == [], refused

    # Only the new password logs in from now on.
    third = contexts.new_page(**DESKTOP)
    third.goto("/#/login")
    form = third.get_by_test_id("login-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button").click()
    expect(third.get_by_test_id("form-error")).to_have_text("Wrong username or password.")
    log_in(third, username, NEW_PASSWORD)
    expect_titles(third, ["from the other browser", "after the password change"])


# ---- Sessions ----

def test_sessions_show_this_device_and_end_one_then_all_others(dev, screenshot):
    stack, contexts = dev
    username = unique_username("sess")
    here = contexts.new_page(**DESKTOP)
    sign_up(here, username)
    laptop = contexts.new_page(user_agent=FIREFOX, **DESKTOP)
    log_in(laptop, username)

    open_account(here)
    rows = here.get_by_test_id("session")
    expect(rows).to_have_count(2)
    expect(here.get_by_test_id("this-device")).to_have_count(1)
    # "This device" is on the session of this browser (not the Firefox one), listed first.
    expect(rows.first.get_by_test_id("this-device")).to_be_visible()
    expect(session_row(here, "Firefox on Linux").get_by_test_id("this-device")).to_have_count(0)
    expect(session_row(here, "Firefox on Linux")).to_contain_text("127.0.0.1")
    expect(rows.first).to_contain_text(re.compile(r"Logged in (just now|\d+ minutes? ago)"))
    screenshot(here, "account")

    # The laptop sees the same two sessions, with "This device" on its own.
    open_account(laptop)
    expect(laptop.get_by_test_id("session")).to_have_count(2)
    expect(session_row(laptop, "Firefox on Linux").get_by_test_id("this-device")).to_be_visible()

    # End the laptop's session from here: the laptop is logged out on its next action.
    session_row(here, "Firefox on Linux").get_by_role("button", name=re.compile("^End")).click()
    expect(here.get_by_test_id("sessions-status")).to_contain_text("Ended the session of Firefox on Linux")
    expect(here.get_by_test_id("session")).to_have_count(1)
    expect(here.get_by_test_id("current-user")).to_have_text(username)
    laptop.get_by_label("Name", exact=True).fill("a token from an ended session")
    laptop.get_by_role("button", name="Create token").click()
    expect_logged_out_with_message(laptop)

    # Two more devices; "Log out everywhere else" ends both and says how many.
    phone = contexts.new_page(**DESKTOP)
    log_in(phone, username)
    log_in(laptop, username)
    here.reload()
    expect(here.get_by_test_id("session")).to_have_count(3)
    here.get_by_role("button", name="Log out everywhere else").click()
    expect(here.get_by_test_id("sessions-status")).to_have_text("Logged out everywhere else: 2 other sessions ended.")
    expect(here.get_by_test_id("session")).to_have_count(1)
    next_action_logs_out(phone)
    next_action_logs_out(laptop)
    still_logged_in_and_can_write(here, username, "the only session left")

    # Ending this device's own session is a log-out.
    open_account(here)
    here.get_by_role("button", name="Log out of this device").click()
    expect(here.get_by_test_id("login-form")).to_be_visible()
    expect(here.get_by_test_id("current-user")).to_have_count(0)


# ---- Personal access tokens ----

def test_a_token_made_in_the_app_works_for_a_script_until_revoked(dev):
    stack, contexts = dev
    username = unique_username("tok")
    context = contexts.new(**DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.app_url)
    page = context.new_page()
    sign_up(page, username)
    add_todo(page, "made in the browser")
    open_account(page)
    expect(page.get_by_test_id("no-tokens")).to_be_visible()

    form = page.get_by_test_id("token-form")
    form.get_by_label("Name", exact=True).fill("backup script")
    form.get_by_role("checkbox", name=re.compile("Read todos")).check()
    form.get_by_role("checkbox", name=re.compile("Change todos")).check()
    form.get_by_label("Expires after").select_option(label="7 days")
    form.get_by_role("button", name="Create token").click()

    # The secret, once, with the warning; focus on it, ready to copy.
    new_token = page.get_by_test_id("new-token")
    expect(new_token).to_contain_text("you will not see it again")
    secret_field = page.get_by_test_id("token-secret")
    expect(secret_field).to_be_focused()
    secret = secret_field.input_value()
    assert re.fullmatch(r"tdl_[A-Za-z0-9_-]{43}", secret), secret
    new_token.get_by_role("button", name="Copy the token").click()
    expect(page.get_by_test_id("token-copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    row = page.get_by_test_id("token").filter(has=page.get_by_test_id("token-name").get_by_text("backup script", exact=True))
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("token-abilities")).to_have_text("may read and change todos")
    expect(row.get_by_test_id("token-last-used")).to_have_text("never used")
    expect(row.get_by_test_id("token-expires")).to_have_text("expires in 7 days")

    # Gone once hidden, and never again after a reload: the server no longer has it.
    new_token.get_by_role("button", name="Done, hide the token").click()
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.reload()
    expect(row).to_have_count(1)
    assert secret not in page.content()

    # A script uses it: plain HTTP, no cookie, no CSRF token.
    listed = bearer(stack.api_url, secret, "GET", "/api/todos/")
    assert listed.status_code == 200, listed.text
    assert [t["title"] for t in listed.json()["todos"]] == ["made in the browser"]
    created = bearer(stack.api_url, secret, "POST", "/api/todos/", json={"title": "made by the script"})
    assert created.status_code == 201, created.text
    assert "Set-Cookie" not in created.headers

    # The browser sees what the script did, and when the token was last used.
    page.goto("/#/")
    expect_titles(page, ["made in the browser", "made by the script"])
    open_account(page)
    expect(row.get_by_test_id("token-last-used")).to_have_text(re.compile(r"^last used (just now|1 minute ago)$"))

    # Revoked in the app, refused to the script.
    row.get_by_role("button", name="Revoke the token “backup script”").click()
    expect(page.get_by_test_id("tokens-status")).to_contain_text("Token “backup script” revoked")
    expect(row).to_have_count(0)
    expect(page.get_by_test_id("no-tokens")).to_be_visible()
    refused = bearer(stack.api_url, secret, "GET", "/api/todos/")
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_token"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    # The browser session itself is untouched.
    still_logged_in_and_can_write(page, username, "after the revocation")


def test_token_errors_are_shown_at_the_field(dev):
    stack, contexts = dev
    page = contexts.new_page(**DESKTOP)
    sign_up(page, unique_username("tokerr"))
    open_account(page)
    form = page.get_by_test_id("token-form")
    form.get_by_label("Name", exact=True).fill("   ")
    form.get_by_role("checkbox", name=re.compile("Read todos")).uncheck()
    form.get_by_role("button", name="Create token").click()
    # The server judges the name first; then the abilities.
    expect(page.get_by_test_id("tokenName-error")).to_contain_text("1 to 100 characters")
    expect(form.get_by_label("Name", exact=True)).to_be_focused()
    form.get_by_label("Name", exact=True).fill("valid name")
    form.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("abilities-error")).to_be_visible()
    expect(page.get_by_test_id("tokenName-error")).to_have_count(0)
    expect(page.get_by_test_id("no-tokens")).to_be_visible()


# ---- Deleting the account ----

def test_deleting_the_account_asks_for_the_password_and_frees_the_username(dev):
    stack, contexts = dev
    username = unique_username("del")
    page = contexts.new_page(**DESKTOP)
    sign_up(page, username)
    add_todo(page, "soon gone")
    open_account(page)

    section = page.get_by_test_id("delete-account")
    expect(section).to_contain_text("deletes all its todos and access tokens")
    section.get_by_role("button", name="Delete account…").click()
    password = section.get_by_label("Type your password to confirm")
    expect(password).to_be_focused()
    # Cancel leaves everything as it was.
    section.get_by_role("button", name="Cancel").click()
    expect(section.get_by_role("button", name="Delete account…")).to_be_focused()
    section.get_by_role("button", name="Delete account…").click()

    password.fill("not my password")
    section.get_by_role("button", name="Delete my account for good").click()
    expect(page.get_by_test_id("password-error")).to_have_text("That is not your password.")
    expect(page.get_by_test_id("current-user")).to_have_text(username)

    password.fill(PASSWORD)
    section.get_by_role("button", name="Delete my account for good").click()
    expect_logged_out_with_message(page, f"The account “{username}” has been deleted")
    expect(page).to_have_url(re.compile(r"#/login$"))

    # Logging in again fails: the account is gone.
    form = page.get_by_test_id("login-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button").click()
    expect(page.get_by_test_id("form-error")).to_have_text("Wrong username or password.")

    # The username is free again, for a new account with nothing in it.
    sign_up(page, username)
    expect(page.locator("input.new-todo")).to_be_visible()
    expect(page.get_by_test_id("todo-item")).to_have_count(0)


# ---- Keyboard only ----

FOCUSED = r"""() => {
    const el = document.activeElement;
    if (!el || el === document.body) return {what: 'body', visible: false};
    const box = el.getBoundingClientRect();
    return {what: (el.getAttribute('aria-label') || el.textContent.replace(/\s+/g, ' ').trim() || el.value || el.id || el.tagName).slice(0, 80),
            tag: el.tagName, visible: box.width > 0 && box.height > 0};
}"""


def focused(page: Page) -> dict:
    return page.evaluate(FOCUSED)


def tab_to(page: Page, pattern: str, limit: int = 60) -> None:
    """Presses Tab until the focused element's text or label matches `pattern`."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        seen.append(now["what"])
        if re.search(pattern, now["what"]):
            assert now["visible"], now
            return
    raise AssertionError(f"never reached {pattern!r} with Tab; went through {seen}")


def expect_focus(page: Page, pattern: str) -> None:
    """Waits (5 s at most) until focus is on a visible element matching `pattern`."""
    for _ in range(50):
        now = focused(page)
        if re.search(pattern, now["what"]) and now["visible"]:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"focus is on {focused(page)}, not {pattern!r}")


def test_the_account_page_works_with_the_keyboard_alone(dev):
    stack, contexts = dev
    username = unique_username("kbd")
    page = contexts.new_page(**DESKTOP)
    sign_up(page, username)
    other = contexts.new_page(user_agent=FIREFOX, **DESKTOP)
    log_in(other, username)

    page.goto("/#/")
    expect(page.locator("input.new-todo")).to_be_visible()
    page.locator("body").focus()
    tab_to(page, r"^Account$")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page).to_have_title(re.compile(r"^Account"))
    expect(page.get_by_test_id("session")).to_have_count(2)

    # End the other session: focus moves on to the next control, not to <body>.
    tab_to(page, r"^End the session of Firefox on Linux")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("session")).to_have_count(1)
    expect_focus(page, r"Where you are logged in")

    # Change the password: type, Tab, type, Enter; focus lands on the result.
    tab_to(page, r"^field-currentPassword$")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("password-status")).to_contain_text("Password changed")
    expect_focus(page, r"Password changed")

    # Create a token from the keyboard; focus goes to the secret, then Copy, then Done.
    tab_to(page, r"^field-tokenName$")
    page.keyboard.type("keyboard token")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("token-secret")).to_be_focused()
    page.keyboard.press("Tab")
    expect_focus(page, r"^Copy")
    page.keyboard.press("Tab")
    expect_focus(page, r"^Done, hide the token")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    expect_focus(page, r"^field-tokenName$")

    # Revoke it; with no token left, focus goes to the section's heading.
    tab_to(page, r"^Revoke the token")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("no-tokens")).to_be_visible()
    expect_focus(page, r"Personal access tokens")

    # Delete the account: the confirmation step opens on the password field.
    tab_to(page, r"^Delete account…$")
    page.keyboard.press("Enter")
    expect_focus(page, r"^field-password$")
    page.keyboard.press("Escape")  # changed my mind: back where I was
    expect_focus(page, r"^Delete account…$")
    page.keyboard.press("Enter")
    expect_focus(page, r"^field-password$")
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")
    expect_logged_out_with_message(page, "has been deleted")


# ---- Touch screens ----

def test_on_a_phone_every_account_control_is_a_44px_target_and_nothing_overflows(dev, screenshot):
    stack, contexts = dev
    page = contexts.new_page(**PHONE)
    sign_up(page, unique_username("phone"))
    log_in(contexts.new_page(user_agent=FIREFOX, **DESKTOP), page.get_by_test_id("current-user").inner_text())
    open_account(page)
    page.get_by_label("Name", exact=True).fill("phone token")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("token-secret")).to_be_visible()
    page.get_by_role("button", name="Delete account…").click()
    screenshot(page, "account-phone")

    small = page.evaluate("""() => {
        const targets = [...document.querySelectorAll('header a, header button, [data-testid=account-page] :is(a, button, select, input)')]
            .filter((el) => el.type !== 'hidden' && el.getClientRects().length > 0);
        return targets.map((el) => {
            // A checkbox's target is its whole label.
            const box = (el.type === 'checkbox' ? el.closest('label') : el).getBoundingClientRect();
            return {what: (el.textContent || el.name || el.id).trim().slice(0, 40), width: box.width, height: box.height};
        }).filter((t) => t.width < 43.5 || t.height < 43.5);
    }""")
    assert small == [], f"targets under 44 px on a touch screen: {small}"
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    # The header keeps Account and Log out on one line each.
    for control in (page.get_by_test_id("account-link"), page.get_by_test_id("logout")):
        assert control.bounding_box()["height"] < 60, control.bounding_box()
