"""The list as people meet it (issue 14): errors they can read and close, typed text never lost,
focus that lands somewhere visible, touch screens, and the small things around the list.
Desktop is 1280×800 with a mouse and keyboard; the phone is 390×844 with touch."""
import re

import pytest
from playwright.sync_api import Page, expect

from flows import (DESKTOP, PASSWORD, PHONE, add_todo, expect_titles, item, log_in, log_out, sign_up,
                   unique_username)

SCREENS = {"desktop": DESKTOP, "phone": PHONE}
# Long enough to break any layout that does not wrap, and within the 500-character limit.
LONG_TITLE = "Remember" + "x" * 480 + "the-end-12"


def signed_up_page(contexts, screen="desktop") -> Page:
    page = contexts.new_page(**SCREENS[screen])
    sign_up(page, unique_username("ux"))
    # The list's first read answered: a test that stops the API next must not race it
    # (a first read that fails shows "cannot reach the API" instead of the list).
    expect(page.get_by_test_id("loading")).to_have_count(0)
    expect(page.locator("input.new-todo")).to_be_visible()
    return page


def focused_element_is_visible(page: Page) -> dict:
    """What has focus, and whether a person can see it (not <body>, on screen, not hidden)."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        if (!el || el === document.body || el === document.documentElement) return {visible: false, what: 'body'};
        const box = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        const onScreen = box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
            && box.top < innerHeight && box.left < innerWidth;
        return {visible: onScreen && style.visibility !== 'hidden' && style.opacity !== '0',
                what: el.outerHTML.slice(0, 160)};
    }""")


def within_viewport(page: Page, box) -> bool:
    size = page.viewport_size
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and \
        box["x"] + box["width"] <= size["width"] + 0.5 and box["y"] + box["height"] <= size["height"] + 0.5


def overlaps(a, b) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


# ---- 1. An error people can read and close ----

@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_a_long_title_error_fits_the_screen_and_closes(dev, screen, screenshot):
    stack, contexts = dev
    page = signed_up_page(contexts, screen)
    stack.backend.stop()
    field = page.locator("input.new-todo")
    field.fill(LONG_TITLE)
    field.press("Enter")

    message = page.get_by_test_id("error-message")
    expect(message).to_be_visible()
    assert within_viewport(page, message.bounding_box()), (message.bounding_box(), page.viewport_size)
    text = message.inner_text()
    assert "Remember" in text and "could not be reached" in text, text
    assert "the-end-12" not in text and len(text) < 300, f"quotes the whole title: {len(text)} characters"
    close = message.get_by_role("button", name="Dismiss message")
    expect(close).to_be_visible()
    assert within_viewport(page, close.bounding_box()), close.bounding_box()
    page.evaluate("window.scrollTo(0, 0)")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    screenshot(page, f"error-{screen}")
    close.click()
    expect(page.get_by_test_id("error-message")).to_have_count(0)


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_title_inputs_stop_at_500_characters_with_a_counter_near_the_limit(dev, screen):
    stack, contexts = dev
    page = signed_up_page(contexts, screen)
    field = page.locator("input.new-todo")
    field.fill("a" * 100)
    expect(page.get_by_text(re.compile(r"\d+\s*/\s*500"))).to_have_count(0)  # no counter far from the limit
    field.fill("b" * 520)
    assert len(field.input_value()) == 500
    expect(page.get_by_text(re.compile(r"500\s*/\s*500"))).to_be_visible()
    field.fill("Short one")
    field.press("Enter")
    expect(item(page, "Short one")).not_to_have_attribute("aria-busy", "true")

    item(page, "Short one").get_by_role("button", name=re.compile("^Edit")).click()
    editor = page.locator("input.edit")
    editor.fill("c" * 520)
    assert len(editor.input_value()) == 500
    expect(page.get_by_text(re.compile(r"500\s*/\s*500"))).to_be_visible()
    editor.press("Enter")
    expect_titles(page, ["c" * 500])
    page.reload()
    expect_titles(page, ["c" * 500])


# ---- 2. Typed text never lost ----

def test_typed_text_survives_an_api_stop(dev):
    stack, contexts = dev
    page = signed_up_page(contexts)
    add_todo(page, "Keep this")
    stack.backend.stop()

    field = page.locator("input.new-todo")
    field.fill("An idea worth keeping")
    field.press("Enter")
    expect(page.get_by_test_id("error-message")).to_contain_text("could not be reached")
    expect(field).to_have_value("An idea worth keeping")
    expect_titles(page, ["Keep this"])

    item(page, "Keep this").get_by_test_id("todo-title").dblclick()
    editor = page.locator("input.edit")
    editor.fill("Keep this, renamed")
    editor.press("Enter")
    expect(page.get_by_test_id("error-message")).to_contain_text(re.compile("Could not rename|2 changes"))
    expect(page.locator("input.edit")).to_have_value("Keep this, renamed")  # the editor is open again, with the draft

    stack.backend.start()
    page.locator("input.edit").press("Enter")
    expect_titles(page, ["Keep this, renamed"])
    field.press("Enter")
    expect_titles(page, ["Keep this, renamed", "An idea worth keeping"])
    expect(field).to_have_value("")
    page.reload()
    expect_titles(page, ["Keep this, renamed", "An idea worth keeping"])


def test_typed_text_survives_the_session_ending(dev):
    stack, contexts = dev
    context = contexts.new(**DESKTOP)
    page = context.new_page()
    username = unique_username("ended")
    sign_up(page, username)
    add_todo(page, "Keep this")
    page.locator("input.new-todo").fill("Half-typed idea")
    item(page, "Keep this").get_by_test_id("todo-title").dblclick()
    page.locator("input.edit").fill("Keep this, renamed")

    other_tab = context.new_page()  # the same browser logs out elsewhere: this tab's session ends
    other_tab.goto("/#/")
    other_tab.get_by_test_id("logout").click()
    expect(other_tab.get_by_test_id("current-user")).to_have_count(0)
    other_tab.close()

    page.locator("input.edit").press("Enter")  # answered 401: the app asks to log in again
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("status-message")).to_contain_text("session has ended")
    form = page.get_by_test_id("login-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button").click()
    expect(page.locator("input.new-todo")).to_have_value("Half-typed idea")
    expect(page.locator("input.edit")).to_have_value("Keep this, renamed")
    page.locator("input.edit").press("Enter")
    expect_titles(page, ["Keep this, renamed"])

    log_out(page)  # leaving on purpose forgets unsaved text: the next person here must not see it
    log_in(page, username)
    page.goto("/#/")
    expect_titles(page, ["Keep this, renamed"])
    expect(page.locator("input.new-todo")).to_have_value("")


# ---- 3. Stale and covering errors ----

def test_an_error_clears_after_a_later_success_and_a_burst_reads_as_one(dev):
    stack, contexts = dev
    page = signed_up_page(contexts)
    for title in ["one", "two", "three"]:
        add_todo(page, title)
    stack.backend.stop()
    for title in ["one", "two", "three"]:
        item(page, title).locator("input.toggle").click()
    message = page.get_by_test_id("error-message")
    expect(message).to_have_count(1)
    expect(message).to_contain_text(re.compile(r"(?<![\d:])3(?!\d)"))  # one message for the three, saying how many
    expect(message).to_contain_text("could not be reached")

    stack.backend.start()
    add_todo(page, "four")
    expect(page.get_by_test_id("error-message")).to_have_count(0)


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_an_error_never_covers_the_list_or_its_footer(dev, screen):
    stack, contexts = dev
    page = signed_up_page(contexts, screen)
    for n in range(12):
        add_todo(page, f"Todo number {n}")
    stack.backend.stop()
    page.locator("input.new-todo").fill("Will fail")
    page.locator("input.new-todo").press("Enter")
    message = page.get_by_test_id("error-message")
    expect(message).to_be_visible()

    for scroll in (0, 400, 100_000):
        page.evaluate(f"window.scrollTo(0, {scroll})")
        box = message.bounding_box()
        covered = [el.inner_text()[:40] for el in page.locator("li[data-testid=todo-item], footer.footer").all()
                   if el.is_visible() and overlaps(box, el.bounding_box())]
        assert covered == [], f"the message covers {covered} at scroll {scroll}"


# ---- 4. Focus ----

def test_focus_after_clear_completed(dev):
    stack, contexts = dev
    page = signed_up_page(contexts)
    add_todo(page, "Done already")
    add_todo(page, "Still open")
    item(page, "Done already").locator("input.toggle").check()
    clear = page.get_by_role("button", name="Clear completed")
    clear.focus()
    page.keyboard.press("Enter")
    expect_titles(page, ["Still open"])
    focus = focused_element_is_visible(page)
    assert focus["visible"], focus


@pytest.mark.parametrize("view", ["active", "completed"])
def test_focus_after_a_toggle_removes_a_row_from_a_filtered_view(dev, view):
    stack, contexts = dev
    page = signed_up_page(contexts)
    for title in ["first", "second", "third"]:
        add_todo(page, title)
    if view == "completed":
        page.get_by_role("checkbox", name="Mark all as complete").check()
        expect(page.get_by_test_id("todo-count")).to_have_text("0 items left")
    page.goto(f"/#/{view}")
    expect_titles(page, ["first", "second", "third"])
    item(page, "second").locator("input.toggle").focus()
    page.keyboard.press("Space")
    expect_titles(page, ["first", "third"])
    focus = focused_element_is_visible(page)
    assert focus["visible"], focus
    # And keyboard work goes on from there: Space again toggles whatever now has focus, not the page.
    page.keyboard.press("Space")
    expect(page.get_by_test_id("todo-item")).to_have_count(1)


def test_focus_after_a_failed_log_in_submitted_from_the_button(dev):
    stack, contexts = dev
    page = contexts.new_page(**DESKTOP)
    username = unique_username("focus")
    sign_up(page, username)
    page.get_by_test_id("logout").click()
    page.goto("/#/login")
    form = page.get_by_test_id("login-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill("not the password")
    form.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("form-error")).to_have_text("Wrong username or password.")
    focus = focused_element_is_visible(page)
    assert focus["visible"], focus


# ---- Request timeout ----

def test_a_request_that_never_answers_times_out_with_a_message_and_retry(dev):
    stack, contexts = dev
    page = signed_up_page(contexts)
    held = []
    page.route("**/api/todos/", lambda route: held.append(route) if route.request.method == "POST" else route.continue_())
    field = page.locator("input.new-todo")
    field.fill("Slow network")
    field.press("Enter")
    message = page.get_by_test_id("error-message")
    expect(message).to_contain_text(re.compile(r"did not answer within 10 seconds", re.I), timeout=15_000)
    assert len(held) == 1
    page.unroute("**/api/todos/")
    message.get_by_role("button", name="Retry").click()
    expect(page.get_by_test_id("error-message")).to_have_count(0)
    expect_titles(page, ["Slow network"])
    expect(item(page, "Slow network")).not_to_have_attribute("aria-busy", "true")
    expect(field).to_have_value("")
    page.reload()
    expect_titles(page, ["Slow network"])


# ---- 5. Contrast of controls at rest, where nothing hovers ----

CONTROL_COLOURS = r"""() => {
    const parse = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
        const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const backgroundOf = (el) => {
        for (let node = el.parentElement; node; node = node.parentElement) {
            const c = parse(getComputedStyle(node).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const opacity = (el) => {
        let o = 1;
        for (let node = el; node; node = node.parentElement) o *= Number(getComputedStyle(node).opacity);
        return o;
    };
    // The colour a control is drawn in, however the stylesheet draws it.
    const painted = {
        text: (style) => parse(style.color),
        // A ring is a border, or (for a small ring inside a bigger target) the widest inset shadow.
        ring: (style) => {
            const border = parse(style.borderTopColor);
            if (border.length === 3 || border[3] > 0) return border;
            const shadows = style.boxShadow.split(/,(?![^(]*\))/).map((s) => ({
                colour: parse(s.match(/rgba?\([^)]*\)/)[0]), spread: Number(s.match(/(-?[\d.]+)px inset/)[1])}));
            return shadows.sort((a, b) => b.spread - a.spread)[0].colour;
        },
        // An icon drawn by an SVG background: the stroke colour written in it.
        icon: (style) => {
            const svg = decodeURIComponent(style.backgroundImage);
            const hex = svg.match(/stroke='#([0-9a-f]{6})'/i)[1];
            return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
        },
    };
    const check = (selector, how) => {
        const el = document.querySelector(selector);
        if (!el) return {selector, missing: true};
        const style = getComputedStyle(el);
        return {selector, ratio: ratio(painted[how](style).slice(0, 3), backgroundOf(el)), opacity: opacity(el),
                visibility: style.visibility};
    };
    return [check('li:not(.completed) .edit-button', 'icon'), check('li:not(.completed) .destroy', 'text'),
            check('li:not(.completed) .toggle', 'ring'), check('.toggle-all', 'icon')];
}"""


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_list_controls_have_3_to_1_contrast_at_rest(dev, screen):
    stack, contexts = dev
    page = signed_up_page(contexts, screen)
    add_todo(page, "Contrast")
    add_todo(page, "Done")
    item(page, "Done").locator("input.toggle").check()
    page.mouse.move(0, 0)
    page.locator("input.new-todo").focus()
    page.wait_for_timeout(300)  # transitions end
    for control in page.evaluate(CONTROL_COLOURS):
        assert not control.get("missing"), control
        assert control["visibility"] == "visible" and control["opacity"] == 1, control
        assert control["ratio"] >= 3, control


def test_toggle_all_shows_a_visible_hint(dev):
    stack, contexts = dev
    page = signed_up_page(contexts)
    add_todo(page, "Something")
    toggle_all = page.get_by_role("checkbox", name="Mark all as complete")
    toggle_all.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # keyboard focus, as :focus-visible needs
    hint = page.get_by_text("Mark all as complete")
    expect(hint).to_be_visible()
    box = hint.bounding_box()
    assert box["width"] > 20 and box["height"] > 8, box


# ---- 6. Small things ----

def test_the_editing_hint_fits_the_device(dev, screenshot):
    stack, contexts = dev
    phone = signed_up_page(contexts, "phone")
    for title in ["Buy milk", "Write the annual report", "Call the plumber"]:
        add_todo(phone, title)
    item(phone, "Buy milk").locator("input.toggle").check()
    screenshot(phone, "list-phone")
    expect(phone.get_by_text(re.compile("tap the pencil", re.I))).to_be_visible()
    expect(phone.get_by_text(re.compile("double-click", re.I))).to_be_hidden()
    desktop = signed_up_page(contexts, "desktop")
    add_todo(desktop, "On the desktop")
    expect(desktop.get_by_text(re.compile("double-click", re.I))).to_be_visible()
    expect(desktop.get_by_text(re.compile("tap the pencil", re.I))).to_be_hidden()


def test_throttled_log_in_says_how_many_minutes(dev):
    stack, contexts = dev
    page = contexts.new_page(**DESKTOP)
    username = unique_username("throttled")
    sign_up(page, username)
    page.get_by_test_id("logout").click()
    page.goto("/#/login")
    form = page.get_by_test_id("login-form")
    error = page.get_by_test_id("form-error")
    for attempt in range(6):  # 5 failures per username are allowed within 15 minutes
        form.get_by_label("Username").fill(username)
        form.get_by_label("Password").fill(f"wrong password {attempt}")
        form.get_by_role("button", name="Log in").click()
        expect(form.get_by_role("button", name="Log in")).to_be_enabled()
        expect(error).to_be_visible()
        if "Too many" in error.inner_text():
            break
    expect(error).to_have_text("Too many failed attempts. Try again in 15 minutes.")


def test_every_view_has_its_own_title_and_one_h1(dev):
    stack, contexts = dev
    page = contexts.new_page(**DESKTOP)
    seen = {}
    for path, heading in [("/#/login", "Log in"), ("/#/signup", "Create your account"),
                          ("/#/diagnostics", "Diagnostics")]:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        seen[path] = page.title()
    sign_up(page, unique_username("titles"))
    add_todo(page, "Titled")
    for path in ["/#/", "/#/active", "/#/completed"]:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_count(1)
        expect(page).not_to_have_title(seen.get("/#/login"))
        seen[path] = page.title()
    assert len(set(seen.values())) == len(seen), seen
    assert all(title.endswith("Todolist") for title in seen.values()), seen
    assert "Log in" in seen["/#/login"] and "Diagnostics" in seen["/#/diagnostics"], seen
    assert "Active" in seen["/#/active"] and "Completed" in seen["/#/completed"], seen


def test_diagnostics_has_a_way_back(dev):
    stack, contexts = dev
    page = signed_up_page(contexts)
    add_todo(page, "Back here")
    page.get_by_role("link", name="Diagnostics").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Diagnostics")
    back = page.get_by_role("main").get_by_role("link", name=re.compile("back to your todos", re.I))
    expect(back).to_be_visible()
    back.click()
    expect_titles(page, ["Back here"])


TAP_TARGETS = [
    ("toggle", "li[data-testid=todo-item] input.toggle"),
    ("edit", "li[data-testid=todo-item] .edit-button"),
    ("delete", "li[data-testid=todo-item] .destroy"),
    ("toggle all", "input.toggle-all"),
    ("filter", ".filters a"),
    ("clear completed", "button.clear-completed"),
    ("diagnostics link", "footer.info a"),
    ("log out", "[data-testid=logout]"),
    ("dismiss", "button.notice-dismiss"),
]


@pytest.mark.parametrize("screen,minimum", [("phone", 44), ("desktop", 24)])
def test_tap_targets_are_big_enough(dev, screen, minimum):
    stack, contexts = dev
    page = signed_up_page(contexts, screen)
    add_todo(page, "Tap me")
    add_todo(page, "Done")
    item(page, "Done").locator("input.toggle").check()
    page.reload()  # the PATCH has been answered: stopping the API cannot roll it back
    expect(item(page, "Done")).to_have_class("completed")
    stack.backend.stop()
    item(page, "Tap me").locator("input.toggle").click()  # fails: the error message and its close button
    expect(page.get_by_test_id("error-message")).to_be_visible()
    small = []
    for name, selector in TAP_TARGETS:
        elements = page.locator(selector).all()
        assert elements, f"no {name} ({selector})"
        for element in elements:
            box = element.bounding_box()
            if box["width"] < minimum - 0.5 or box["height"] < minimum - 0.5:
                small.append(f"{name}: {box['width']:.0f}×{box['height']:.0f}")
    assert small == [], f"smaller than {minimum}×{minimum} px: {small}"
