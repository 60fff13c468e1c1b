"""Development layout: http://localhost:<web> talking to http://localhost:<api>."""
from playwright.sync_api import expect

from flows import (add_todo, expect_diagnostics_ok, expect_titles, item, log_in, log_out, sign_up,
                   unique_username)


def test_diagnostics_says_ok_twice(dev, screenshot):
    stack, contexts = dev
    page = contexts.new_page()
    expect_diagnostics_ok(page)
    screenshot(page, "diagnostics")


def test_a_new_user_manages_todos_across_reloads_and_sessions(dev, screenshot):
    stack, contexts = dev
    page = contexts.new_page()
    page.goto("/#/")
    expect(page).to_have_url(f"{stack.app_url}/#/login")  # logged out: sent to log in
    screenshot(page, "login")
    username = unique_username("alice")
    page.goto("/#/signup")
    screenshot(page, "signup")
    sign_up(page, username)

    for title in ["Buy milk", "Write the report", "Call the plumber"]:
        add_todo(page, title)
    expect(page.get_by_test_id("todo-count")).to_have_text("3 items left")

    item(page, "Buy milk").locator("input.toggle").check()
    expect(item(page, "Buy milk")).to_have_class("completed")
    expect(page.get_by_test_id("todo-count")).to_have_text("2 items left")

    item(page, "Write the report").get_by_test_id("todo-title").dblclick()
    editor = page.locator("input.edit")
    editor.fill("Write the annual report")
    editor.press("Enter")
    expect_titles(page, ["Buy milk", "Write the annual report", "Call the plumber"])
    screenshot(page, "list")

    page.get_by_role("link", name="Active").click()
    expect(page).to_have_url(f"{stack.app_url}/#/active")
    expect_titles(page, ["Write the annual report", "Call the plumber"])
    page.reload()
    expect_titles(page, ["Write the annual report", "Call the plumber"])  # the filter survives a reload
    page.get_by_role("link", name="Completed").click()
    expect_titles(page, ["Buy milk"])
    screenshot(page, "list-completed")
    page.get_by_role("link", name="All").click()

    page.get_by_role("button", name="Clear completed").click()
    expect_titles(page, ["Write the annual report", "Call the plumber"])
    expect(page.get_by_role("button", name="Clear completed")).to_have_count(0)
    expect(page.get_by_test_id("todo-count")).to_have_text("2 items left")

    page.reload()
    expect_titles(page, ["Write the annual report", "Call the plumber"])

    log_out(page)
    page.goto("/#/")
    expect(page).to_have_url(f"{stack.app_url}/#/login")
    log_in(page, username)
    page.goto("/#/")
    expect_titles(page, ["Write the annual report", "Call the plumber"])


def test_a_second_user_sees_none_of_the_first_users_todos(dev):
    stack, contexts = dev
    first = contexts.new_page()
    sign_up(first, unique_username("first"))
    add_todo(first, "Private plans")

    second = contexts.new_page()  # a second browser: its own cookies
    sign_up(second, unique_username("second"))
    expect(second.get_by_test_id("todo-item")).to_have_count(0)
    add_todo(second, "Other things")
    second.reload()
    expect_titles(second, ["Other things"])
    first.reload()
    expect_titles(first, ["Private plans"])


def test_the_client_refreshes_a_rotated_token_and_retries_once(dev):
    stack, contexts = dev
    context = contexts.new()
    page = context.new_page()
    username = unique_username("rotate")
    sign_up(page, username)
    add_todo(page, "Before rotation")  # the page now holds a cached token

    other_tab = context.new_page()  # same browser, another tab: log out and back in
    other_tab.goto("/#/")
    expect(other_tab.get_by_test_id("current-user")).to_have_text(username)
    log_out(other_tab)
    log_in(other_tab, username)
    other_tab.close()

    requests = []
    # Requests, not responses: the retry is sent only after the 403 arrived, so their order
    # is the order of events. (Response events can be delivered out of order when another
    # handler, such as the failure log's, reads a body while handling one.)
    page.on("request", lambda r: requests.append(r) if r.method == "POST" and r.url.endswith("/api/todos/") else None)
    add_todo(page, "After rotation")
    page.wait_for_timeout(200)
    posts = [(r.response().status, r.response().text()) for r in requests]
    statuses = [status for status, _ in posts]
    assert statuses == [403, 201], posts
    assert '"reason":"token_incorrect"' in posts[0][1].replace(" ", ""), posts[0]
    page.reload()
    expect_titles(page, ["Before rotation", "After rotation"])


def test_an_attacker_page_on_a_third_origin_cannot_change_the_list(dev, attacker_site):
    stack, contexts = dev
    context = contexts.new()
    page = context.new_page()
    sign_up(page, unique_username("victim"))
    add_todo(page, "Keep me")

    target = stack.api_url + "/api/todos/"
    fetch_page = attacker_site.add("/fetch.html", f"""<!doctype html><title>win a prize</title>
<pre id="out">waiting</pre>
<script>
fetch({target!r}, {{method: 'POST', credentials: 'include', headers: {{'Content-Type': 'text/plain'}},
                   body: JSON.stringify({{title: 'pwned by fetch'}})}})
  .then(r => r.text().then(t => document.getElementById('out').textContent = 'status ' + r.status + ' ' + t))
  .catch(e => document.getElementById('out').textContent = 'blocked ' + e);
</script>""")
    form_page = attacker_site.add("/form.html", f"""<!doctype html><title>win a prize</title>
<form id="f" method="POST" action={target!r} enctype="text/plain">
<input name='{{"title": "pwned by form", "x": "' value='"}}'></form>
<script>document.getElementById('f').submit();</script>""")

    attack = context.new_page()
    attack.goto(fetch_page)
    expect(attack.locator("#out")).not_to_have_text("waiting")
    assert attack.locator("#out").inner_text().startswith("blocked"), attack.locator("#out").inner_text()

    attack.goto(form_page)
    attack.wait_for_url(target)  # the form posted and the browser shows the API's answer
    assert '"csrf_failed"' in attack.content()
    attack.close()

    log = stack.backend.logs()
    assert log.count("csrf.reason=origin_untrusted") >= 2, log[-3000:]
    page.reload()
    expect_titles(page, ["Keep me"])
