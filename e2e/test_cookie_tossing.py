"""Cookie tossing in a real Chromium: a cookie planted beside ours at `Path=/api` (as a
sibling subdomain or a man-in-the-middle on plain HTTP can) is never picked, the person is
told what to do instead of the client looping, and the server's expiry of the planted copy
lets a reload work again."""
from playwright.sync_api import expect

from flows import add_todo, expect_titles, sign_up, unique_username


def plant(context, stack, name, value):
    host = stack.api_url.split("://")[1].split(":")[0]
    context.add_cookies([{"name": name, "value": value, "domain": host, "path": "/api", "httpOnly": True}])


def paths_of(context, name):
    return sorted(cookie["path"] for cookie in context.cookies() if cookie["name"] == name)


def test_a_planted_csrf_cookie_is_refused_explained_and_gone_after_a_reload(dev):
    stack, contexts = dev
    context = contexts.new()
    page = context.new_page()
    sign_up(page, unique_username("tossed"))
    add_todo(page, "Before the plant")  # the page holds a token for its secret now

    plant(context, stack, "csrftoken", "j" * 32)
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/api/todos/") else None)
    field = page.locator("input.new-todo")
    field.fill("While planted")
    field.press("Enter")
    expect(page.get_by_test_id("error-message")).to_contain_text("more than one security cookie")
    page.wait_for_timeout(300)
    assert [r.response().status for r in posts] == [403], "refused once, never retried"
    assert '"cookie_duplicated"' in posts[0].response().text()
    assert paths_of(context, "csrftoken") == ["/"], "the refusal expired the planted copy"

    page.reload()
    expect_titles(page, ["Before the plant"])  # the refused todo was rolled back, nothing written
    add_todo(page, "After the reload")
    expect_titles(page, ["Before the plant", "After the reload"])


def test_a_planted_session_is_never_used_and_the_victims_own_session_comes_back(dev):
    stack, contexts = dev
    attacker = contexts.new_page()
    sign_up(attacker, unique_username("attacker"))
    attacker_session = next(c["value"] for c in attacker.context.cookies() if c["name"] == "sessionid")

    context = contexts.new()
    page = context.new_page()
    victim = unique_username("victim")
    sign_up(page, victim)
    # Leave the app first: its live-updates stream would otherwise reconnect with the planted
    # cookie before the page load this test watches, and that answer expires the planted copy.
    page.goto("about:blank")
    plant(context, stack, "sessionid", attacker_session)
    page.goto("/#/")
    page.wait_for_load_state("networkidle")
    # Neither session was used: the app shows no one logged in (never the attacker), and
    # that answer expired the planted copy.
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    assert paths_of(context, "sessionid") == ["/"]
    page.goto("/#/")
    page.reload()
    expect(page.get_by_test_id("current-user")).to_have_text(victim)  # the victim's own session, intact
    add_todo(page, "Mine")
    assert paths_of(context, "sessionid") == ["/"]
    attacker.reload()
    expect(attacker.get_by_test_id("todo-item")).to_have_count(0)
