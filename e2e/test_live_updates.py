"""Live updates (issue 11) in Chromium: two browser contexts (two devices, two sessions) logged
in as the same user; each change made in one shows in the other within a second, in the
development layout and through nginx over HTTPS. Also: log-out ends only its own stream, the
connection indicator follows the API going away and coming back, and a page on another origin
cannot open a stream with the user's cookies."""
from __future__ import annotations

import re
import sqlite3
import time

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from flows import (DESKTOP, PHONE, add_todo, expect_logged_out_with_message, expect_titles, item, log_in, log_out, sign_up,
                   unique_username)

WITHIN_A_SECOND = 1000  # ms: the promise, from the action in one browser to the other showing it
LAYOUTS = ["dev", "prod"]


def indicator(page: Page):
    return page.get_by_role("status", name="Live updates")


def expect_live(page: Page, timeout: float = 10_000) -> None:
    expect(indicator(page)).to_have_attribute("data-state", "live", timeout=timeout)
    expect(indicator(page)).to_have_text("Live updates: Live")


def two_devices(contexts, screen=DESKTOP, prepare=None) -> tuple[Page, Page, str]:
    """A user signed up on one device and logged in on another, both on the list, both live.
    `prepare(context, n)` runs on each new context (n = 1, 2) before it opens a page."""
    pages = []
    for n in (1, 2):
        context = contexts.new(**screen)
        if prepare:
            prepare(context, n)
        pages.append(context.new_page())
    first, second = pages
    username = unique_username("live")
    sign_up(first, username)
    log_in(second, username)
    for page in (first, second):
        page.goto("/#/")
        expect_live(page)
    return first, second, username


class Latency:
    """How long each change took to show on the other device (printed with -s, and on failure)."""

    def __init__(self):
        self.samples: list[tuple[str, float]] = []

    def check(self, what: str, act, expectation) -> None:
        started = time.monotonic()
        act()
        expectation(WITHIN_A_SECOND)
        self.samples.append((what, (time.monotonic() - started) * 1000))

    def __str__(self) -> str:
        return ", ".join(f"{what} {ms:.0f} ms" for what, ms in self.samples)


def run_every_change(one: Page, other: Page) -> Latency:
    """Create, rename, toggle, delete, toggle all and clear completed in `one`, each seen in `other`."""
    latency = Latency()
    titles_in = lambda page: page.get_by_test_id("todo-title")  # noqa: E731

    def create(title):
        field = one.locator("input.new-todo")
        field.fill(title)
        field.press("Enter")

    for title in ["Buy milk", "Call the plumber", "Write the report"]:
        latency.check(f"create {title!r}", lambda: create(title),
                      lambda t, title=title: expect(other.get_by_test_id("todo-title").last).to_have_text(title, timeout=t))
    expect_titles(other, ["Buy milk", "Call the plumber", "Write the report"])

    def rename():
        item(one, "Call the plumber").get_by_test_id("todo-title").dblclick()
        editor = one.locator("input.edit")
        editor.fill("Call the electrician")
        editor.press("Enter")

    latency.check("rename", rename, lambda t: expect(titles_in(other)).to_have_text(
        ["Buy milk", "Call the electrician", "Write the report"], timeout=t))

    latency.check("toggle", lambda: item(one, "Buy milk").locator("input.toggle").click(),
                  lambda t: expect(item(other, "Buy milk")).to_have_class(re.compile(r"\bcompleted\b"), timeout=t))
    expect(other.get_by_test_id("todo-count")).to_have_text("2 items left")

    latency.check("delete", lambda: item(one, "Write the report").locator("button.destroy").click(),
                  lambda t: expect(titles_in(other)).to_have_text(["Buy milk", "Call the electrician"], timeout=t))

    latency.check("toggle all", lambda: one.locator("input.toggle-all").click(),
                  lambda t: expect(other.get_by_test_id("todo-count")).to_have_text("0 items left", timeout=t))
    expect(other.locator("li.completed")).to_have_count(2)

    latency.check("clear completed", lambda: one.locator("button.clear-completed").click(),
                  lambda t: expect(other.get_by_test_id("todo-item")).to_have_count(0, timeout=t))

    # And the other way round, once, to show neither side is special.
    latency.check("create, back", lambda: create_in(other, "From the other one"),
                  lambda t: expect(titles_in(one)).to_have_text(["From the other one"], timeout=t))
    return latency


def create_in(page: Page, title: str) -> None:
    field = page.locator("input.new-todo")
    field.fill(title)
    field.press("Enter")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_change_on_one_device_shows_on_the_other_within_a_second(layout, request):
    stack, contexts = request.getfixturevalue(layout)
    one, other, _ = two_devices(contexts)
    latency = run_every_change(one, other)
    print(f"\n{layout}: {latency}")
    # Both ended in the same state, and it is the server's: a reload shows the same list.
    expect_titles(one, ["From the other one"])
    expect(one.locator("ul.todo-list li.pending")).to_have_count(0)
    other.reload()
    expect_titles(other, ["From the other one"])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_own_changes_are_not_applied_twice(layout, request):
    stack, contexts = request.getfixturevalue(layout)
    one, other, _ = two_devices(contexts)
    for title in ["First", "Second", "Third"]:
        add_todo(one, title)  # the helper checks one row more each time, never two
    expect_titles(other, ["First", "Second", "Third"])
    one.wait_for_timeout(300)  # any echo of those adds has arrived by now
    expect_titles(one, ["First", "Second", "Third"])
    item(one, "Second").locator("input.toggle").click()
    expect(item(other, "Second")).to_have_class(re.compile(r"\bcompleted\b"))
    expect(one.get_by_test_id("todo-count")).to_have_text("2 items left")


def test_the_indicator_on_a_phone_in_both_layouts(request):
    for layout in LAYOUTS:
        stack, contexts = request.getfixturevalue(layout)
        page = contexts.new_page(**PHONE)
        sign_up(page, unique_username("livephone"))
        expect_live(page)
        box = indicator(page).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] < 844, box


def test_log_out_ends_its_own_stream_only(dev):
    stack, contexts = dev
    leaving, staying, username = two_devices(contexts)
    third = contexts.new(**DESKTOP).new_page()
    log_in(third, username)
    third.goto("/#/")
    expect_live(third)

    ended = []
    leaving.on("requestfailed", lambda r: ended.append(r.url) if "/api/events/" in r.url else None)
    leaving.on("requestfinished", lambda r: ended.append(r.url) if "/api/events/" in r.url else None)
    log_out(leaving)
    expect(indicator(leaving)).to_have_count(0)
    deadline = time.monotonic() + 2
    while not ended and time.monotonic() < deadline:
        leaving.wait_for_timeout(50)
    assert ended, "the logged-out page's stream was not closed"

    create_in(third, "After one device left")
    expect(staying.get_by_test_id("todo-title")).to_have_text(["After one device left"], timeout=WITHIN_A_SECOND)
    expect_live(staying)
    # The device that left opens no new stream while logged out.
    opened = []
    leaving.on("request", lambda r: opened.append(r.url) if "/api/events/" in r.url else None)
    leaving.wait_for_timeout(1500)
    assert opened == []


def test_indicator_follows_the_api_going_away_and_coming_back(dev):
    stack, contexts = dev
    watcher, maker, _ = two_devices(contexts)
    add_todo(maker, "Before")
    expect_titles(watcher, ["Before"])

    stack.backend.stop()
    expect(indicator(watcher)).to_have_attribute("data-state", re.compile("reconnecting|offline"), timeout=5_000)
    expect(indicator(watcher)).to_have_attribute("data-state", "offline", timeout=15_000)
    expect(indicator(watcher)).to_have_text("Live updates: Offline")

    stack.backend.start()
    expect_live(watcher, timeout=15_000)
    expect_live(maker, timeout=15_000)
    create_in(maker, "After")
    expect(watcher.get_by_test_id("todo-title")).to_have_text(["Before", "After"], timeout=WITHIN_A_SECOND)


def test_changes_made_while_the_stream_was_down_appear_after_it_reconnects(dev):
    stack, contexts = dev
    watcher, maker, _ = two_devices(contexts)
    add_todo(maker, "Seen live")
    expect_titles(watcher, ["Seen live"])
    # The watcher's browser loses its network while the other device keeps working.
    watcher.context.set_offline(True)
    expect(indicator(watcher)).to_have_attribute("data-state", "offline", timeout=5_000)
    add_todo(maker, "Made meanwhile")
    item(maker, "Seen live").locator("input.toggle").click()
    expect(maker.get_by_test_id("todo-count")).to_have_text("1 item left")
    watcher.context.set_offline(False)
    expect_live(watcher, timeout=15_000)
    expect_titles(watcher, ["Seen live", "Made meanwhile"])
    expect(item(watcher, "Seen live")).to_have_class(re.compile(r"\bcompleted\b"))


def test_a_page_on_another_origin_cannot_open_a_stream_with_the_users_cookies(dev, attacker_site):
    """The attacker's page is same-site (localhost, another port), so the browser does send the
    SameSite=Lax session cookie with its EventSource: only the API's Origin check stops it."""
    stack, contexts = dev
    context = contexts.new(**DESKTOP)
    page = context.new_page()
    sign_up(page, unique_username("victim"))
    expect_live(page)
    add_todo(page, "Private")

    attacker_url = attacker_site.add("/steal.html", f"""<!doctype html><title>Win a prize</title><script>
      window.result = {{ errors: 0, messages: [], opened: false, state: null }};
      const source = new EventSource({(stack.api_url + '/api/events/')!r}, {{ withCredentials: true }});
      source.onopen = () => {{ window.result.opened = true; }};
      source.onmessage = (e) => window.result.messages.push(e.data);
      for (const type of ['todo.created', 'todo.updated', 'todo.deleted', 'todos.completed', 'todos.cleared', 'resync']) {{
        source.addEventListener(type, (e) => window.result.messages.push(type + ' ' + e.data));
      }}
      source.onerror = () => {{ window.result.errors += 1; window.result.state = source.readyState; }};
    </script>""").replace("http://127.0.0.1:", "http://localhost:")
    attacker = context.new_page()
    stack.backend.new_log_lines()
    attacker.goto(attacker_url)
    attacker.wait_for_function("window.result && window.result.errors > 0")
    # The victim changes something while the attacker's page is open: nothing leaks to it.
    add_todo(page, "Also private")
    attacker.wait_for_timeout(500)
    result = attacker.evaluate("window.result")
    assert result["opened"] is False and result["messages"] == [], result
    assert result["state"] == 2, result  # CLOSED: an HTTP error, so the browser does not even retry
    # The API refused it before any stream started (CORS alone would only have hidden the answer).
    refusals = [line for line in stack.backend.new_log_lines(until="http.path=/api/events/").splitlines()
                if "http.path=/api/events/" in line]
    assert refusals and all("http.status=403" in line for line in refusals), refusals
    expect_live(page)  # The user's own stream is untouched.


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_indicator_states_pass_axe(dev, screen):
    stack, contexts = dev
    page = contexts.new_page(**{"desktop": DESKTOP, "phone": PHONE}[screen])
    sign_up(page, unique_username("liveaxe"))
    add_todo(page, "Something")
    axe = Axe()
    found = []
    for state in ["live", "offline"]:
        if state == "offline":
            page.context.set_offline(True)
        expect(indicator(page)).to_have_attribute("data-state", state, timeout=15_000)
        expect(indicator(page)).to_be_visible()
        page.wait_for_timeout(250)
        results = axe.run(page, context="[data-testid=connection-status]")
        found += [f"{state}: {v['impact']} {v['id']}: {v['help']}" for v in results.response["violations"]]
    page.context.set_offline(False)
    assert not found, found


def test_two_instances_behind_nginx_on_one_postgresql(prod_two_instances):
    """Each device is served by its own API process; changes cross between them through
    PostgreSQL (LISTEN/NOTIFY), within a second, as on one instance."""
    stack, contexts = prod_two_instances
    one, other, _ = two_devices(contexts, prepare=stack.use_instance)
    latency = run_every_change(one, other)
    print(f"\ntwo instances: {latency}")
    # nginx logs a request when it ends: end the streams, then read who served whom.
    one.close()
    other.close()
    deadline = time.monotonic() + 5
    while len(streams := stack.instances_serving("/api/events/")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    writes = stack.instances_serving("/api/todos/")
    assert {("1", 1), ("2", 2)} <= streams and all(cookie == str(n) for cookie, n in streams), streams
    assert {("1", 1), ("2", 2)} <= writes and all(cookie == str(n) for cookie, n in writes), writes


# MARK: streams the server ends on purpose, and the re-read after the tab was hidden


def events_requests(page: Page) -> list[str]:
    """Every `/api/events/` request the page makes from now on."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/api/events/" in r.url else None)
    return seen


def test_a_tab_paused_by_the_stream_limit_says_why_stays_paused_and_resumes(dev):
    """Past STREAMS_PER_USER the server closes the user's oldest stream with `closed`
    `too_many_streams`: that tab stops (no reconnect that would close the next one in turn),
    says so with an explanation, and a person can resume it there."""
    stack, contexts = dev
    stack.backend.stop()
    stack.backend.env["STREAMS_PER_USER"] = "1"
    stack.backend.start()
    first = contexts.new(**DESKTOP).new_page()
    username = unique_username("livepause")
    sign_up(first, username)
    expect_live(first)
    add_todo(first, "Before")
    first_requests = events_requests(first)

    second = contexts.new(**DESKTOP).new_page()
    log_in(second, username)
    expect_live(second)
    expect(indicator(first)).to_have_attribute("data-state", "paused", timeout=WITHIN_A_SECOND)
    expect(indicator(first)).to_contain_text("Live updates: Paused in this tab")
    expect(indicator(first)).to_contain_text("more tabs and devices than the server keeps")
    resume = first.get_by_role("button", name="Resume live updates")
    expect(resume).to_be_visible()
    expect(resume).to_have_text("Resume")
    results = Axe().run(first, context=".connection")
    assert not results.response["violations"], [v["id"] for v in results.response["violations"]]

    create_in(second, "Made while paused")
    expect_titles(second, ["Before", "Made while paused"])
    first.wait_for_timeout(3000)  # Longer than `retry:` and the app's first retry delay.
    assert first_requests == [], "the paused tab reconnected by itself"
    expect(indicator(first)).to_have_attribute("data-state", "paused")
    expect_titles(first, ["Before"])  # Nothing arrives while paused: it says so, it does not pretend.

    resume.click()
    expect_live(first)
    expect_titles(first, ["Before", "Made while paused"])  # Read again on resuming.
    expect(first.get_by_role("button", name="Resume live updates")).to_have_count(0)
    # The other tab is now the oldest, and pauses in turn; the resumed one gets changes live.
    expect(indicator(second)).to_have_attribute("data-state", "paused", timeout=WITHIN_A_SECOND)
    item(second, "Before").locator("input.toggle").click()
    expect(item(first, "Before")).to_have_class(re.compile(r"\bcompleted\b"), timeout=WITHIN_A_SECOND)


def test_log_out_in_one_tab_logs_out_the_other_tab_without_reconnecting_its_stream(dev):
    """Two tabs of one browser share the session: logging out in one ends the other's stream
    with `closed` `session_ended`; that tab checks and shows the log-in form, and never
    reopens its stream into a 401."""
    stack, contexts = dev
    context = contexts.new(**DESKTOP)
    leaving = context.new_page()
    sign_up(leaving, unique_username("livetabs"))
    expect_live(leaving)
    other = context.new_page()
    other.goto("/#/")
    expect_live(other)
    other_requests = events_requests(other)
    stream_answers: list[int] = []
    other.on("response", lambda r: stream_answers.append(r.status) if "/api/events/" in r.url else None)

    started = time.monotonic()
    log_out(leaving)
    expect_logged_out_with_message(other)
    print(f"\nthe other tab showed the log-in form {1000 * (time.monotonic() - started):.0f} ms after the log-out")
    other.wait_for_timeout(2500)  # Past `retry:`: an EventSource left to itself would have reconnected.
    assert other_requests == [] and stream_answers == [], (other_requests, stream_answers)


def test_a_change_the_stream_missed_while_the_tab_was_hidden_shows_when_it_is_visible_again(dev):
    """The app re-reads the list when the tab is shown again after being hidden for a while
    (STALE_AFTER_HIDDEN_MS, 30 s): a stream can look open and still miss changes (a laptop
    asleep, a half-open connection behind a proxy). Here the change is written straight into
    the database, so no event is ever sent: only the re-read can show it. The tab's visibility
    is emulated (headless Chromium's pages are always visible) and its clock moved forward
    past the 30 s instead of waiting them."""
    stack, contexts = dev
    page = contexts.new(**DESKTOP).new_page()
    username = unique_username("livehidden")
    sign_up(page, username)
    expect_live(page)
    add_todo(page, "Seen live")

    def set_visibility(state: str) -> None:
        page.evaluate("""(state) => {
            Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
            Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' });
            document.dispatchEvent(new Event('visibilitychange'));
        }""", state)

    def insert_behind_the_servers_back(title: str) -> None:
        path = stack.backend.database_url.removeprefix("sqlite://")
        now = int(time.time() * 1000)
        with sqlite3.connect(path, timeout=5) as connection:
            connection.execute(
                "INSERT INTO todos (user_id, title, completed, sort_order, created_at, updated_at) "
                "SELECT id, ?, 0, 1000, ?, ? FROM users WHERE username = ?", (title, now, now, username))

    page.clock.install()
    set_visibility("hidden")
    insert_behind_the_servers_back("Missed by the stream")
    set_visibility("visible")  # A glance away: no re-read.
    page.wait_for_timeout(1000)
    expect_titles(page, ["Seen live"])
    expect_live(page)

    set_visibility("hidden")
    page.clock.fast_forward("00:31")
    set_visibility("visible")
    expect_titles(page, ["Seen live", "Missed by the stream"])
    expect_live(page)
