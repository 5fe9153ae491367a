"""The agent widget end to end: Debian's Chromium (headless, driven by Playwright,
never a downloaded browser) against the real Flask app on loopback, on a home
with the small demo KB, the real default embedder, a real index and a classifier
trained on the demo work orders through the path ``hotline serve`` uses.

Screenshots (normal, needs review, error) go to ``test-artifacts/widget/``. The
fixtures live in ``tests/widget_support.py``; urgency, lead and co-handling are in
``test_widget_dispatch_e2e.py``.
"""
from __future__ import annotations

import hashlib
import json
import re

from tests.conftest import KEYS
from tests.widget_support import (LAMP, LAMP_DEPT, MARKS, NOISE, VAGUE, WATER, WATER_DEPT, WIDTH,
                                  api_status, settle, shot, sign_in, type_text)

pytestmark = MARKS


# ---------------------------------------------------------------- tests
def test_typing_shows_department_answers_and_highlights(page, server):
    # Assets load from /widget (no trailing slash): the stylesheet applied.
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(245, 247, 250)"
    assert page.evaluate("document.activeElement.id") == "text"
    body = type_text(page, WATER)
    # Debounced: one call per pause, not one per keystroke.
    assert 1 <= len(page.analyze_calls) <= 3, len(page.analyze_calls)

    assert (body["type"]["label"], body["department"]["label"]) == ("fault", WATER_DEPT)
    assert not body["needs_review"] and page.locator("#review").is_hidden()
    assert page.input_value("#department") == WATER_DEPT
    assert page.input_value("#type") == body["type"]["label"]
    assert re.search(r"\d+ 个工作日", page.inner_text("#deadline"))
    assert page.locator("#top3 button").count() == len(body["department"]["top3"])

    answers = page.locator("#answers > li")
    assert answers.count() == len(body["answers"]) >= 3
    first = body["answers"][0]
    assert WATER_DEPT in first["department"]
    # a rank, never the fused score as a percentage (it read 119 %)
    metas = [answers.nth(i).locator(".meta").first.inner_text() for i in range(answers.count())]
    assert all(f"第 {i + 1} 位" in m and "%" not in m for i, m in enumerate(metas)), metas
    marks = page.locator("#answers mark").all_inner_texts()
    assert "停水" in marks, marks
    words = set(first["highlights"]["question"]) | set(first["highlights"]["answer"])
    assert words and words <= set(marks)
    if body["similar_cases"]:
        assert page.locator("#cases > li").count() == len(body["similar_cases"])
    assert page.locator("#why-card").is_visible()

    # Nothing overflows the 360 px column.
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    shot(page, "normal")

    # Expand, then copy the first answer with Alt+1: it lands on the clipboard
    # and the answer is marked as the one used.
    body0 = answers.nth(0).locator(".a")
    collapsed_h = body0.bounding_box()["height"]
    expand = answers.nth(0).locator("button[aria-controls]")
    assert (expand.inner_text(), expand.get_attribute("aria-expanded")) == ("展开", "false")
    expand.click()
    assert (expand.inner_text(), expand.get_attribute("aria-expanded")) == ("收起", "true")
    assert body0.bounding_box()["height"] >= collapsed_h
    page.keyboard.press("Alt+1")
    page.wait_for_function("() => document.querySelector('#answers > li').classList.contains('chosen')")
    assert page.evaluate("navigator.clipboard.readText()") == first["answer"]
    assert "已复制第 1 条答案" in page.inner_text("#status")


def test_correct_department_and_accept_stores_feedback(page, server):
    before = server.feedback.count()
    body = type_text(page, LAMP)
    predicted = body["department"]["label"]
    # 承办部门 suggests the lead (docs/dispatch.md: its issue scores mix the
    # department list in, so it may differ from the head's department). Street
    # lamps are the city management bureau's; if that is already suggested, the
    # agent re-routes to another of the model's choices instead.
    suggested = (body["departments"]["lead"] or {}).get("name") or predicted
    assert page.input_value("#department") == suggested
    target = LAMP_DEPT if suggested != LAMP_DEPT else next(
        d["label"] for d in body["department"]["top3"] if d["label"] != suggested)

    # An unknown department is refused in place; nothing is posted.
    page.fill("#department", "不存在的部门")
    page.keyboard.press("Control+Enter")
    assert "不在部门列表中" in page.inner_text("#dept-error")
    assert page.get_attribute("#department", "aria-invalid") == "true"
    assert server.feedback.count() == before

    page.fill("#department", target)
    assert page.get_attribute("#department", "aria-invalid") is None
    assert "已改派" in page.inner_text("#dept-conf")
    page.locator("#answers > li").nth(1).get_by_role("button", name="第 2 条答案有帮助").click()
    assert page.locator("#answers > li").nth(1).get_attribute("class") == "chosen"
    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as resp:
        page.keyboard.press("Control+Enter")
    assert resp.value.status == 201
    page.wait_for_function("() => document.querySelector('#saved').textContent.includes('已保存')")
    assert "已更正部门" in page.inner_text("#saved")

    rows = list(server.feedback.rows())
    assert len(rows) == before + 1
    row = rows[-1]
    assert row["request_id"] == body["request_id"]
    assert (row["predicted_type"], row["predicted_department"]) == (body["type"]["label"], predicted)
    assert (row["final_type"], row["final_department"]) == (body["type"]["label"], target)
    assert row["chosen_answer_id"] == body["answers"][1]["id"]
    assert "13812345678" not in row["text"] and "路灯" in row["text"]  # stored PII-masked
    # The session is bound to the key the agent signed in with: its id, not the key.
    assert row["key_id"] == hashlib.sha256(KEYS["agent"].encode()).hexdigest()[:12]


def test_late_response_to_older_text_is_ignored(page, server):
    held = []

    def hold_first(route):
        if not held:
            held.append(route)      # answered by hand below, after the newer one
        else:
            route.continue_()

    page.route("**/v1/analyze", hold_first)
    with page.expect_request("**/v1/analyze"):
        page.fill("#text", WATER)
    second = type_text(page, NOISE, replace=True)
    shown = page.locator("#answers > li").first.get_attribute("data-id")
    dept = page.input_value("#department")

    late = held[0].fetch()
    late_body = late.json()
    assert (late_body["answers"][0]["id"], late_body["department"]["label"]) != (shown, dept), \
        "precondition: the two texts must give different results"
    with page.expect_response(lambda r: r.request == held[0].request):
        held[0].fulfill(response=late)
    settle(page)
    assert page.locator("#answers > li").first.get_attribute("data-id") == shown
    assert page.input_value("#department") == dept == second["department"]["label"]
    assert page.locator("#status").inner_text().startswith("已更新")


def test_failure_is_calm_then_recovers(page, server):
    failures = []

    def fail(route):
        failures.append(route.request.url)
        if len(failures) == 1:
            route.abort("connectionreset")
        else:   # then the server says it is still preparing, come back in 30 s
            route.fulfill(status=503, content_type="application/problem+json",
                          headers={"Retry-After": "30"},
                          body=json.dumps({"type": "urn:hotline:error:not_ready", "title": "Service "
                                           "Unavailable", "status": 503, "code": "not_ready",
                                           "detail": "the service is not ready"}))

    page.route("**/v1/analyze", fail)
    page.fill("#text", WATER)
    notice = page.locator("#notice")
    notice.wait_for(state="visible")
    assert "calm" in notice.get_attribute("class")
    assert notice.get_attribute("role") == "status"         # polite, not an alarm
    assert "秒后自动重试" in notice.inner_text()
    shot(page, "error")
    # The automatic retry (1 s later) hits the 503.
    page.wait_for_function("() => document.querySelector('#notice').textContent.includes('正在准备')")
    assert len(failures) == 2
    assert "30 秒后自动重试" in notice.inner_text()   # Retry-After honoured, so only the button retries now
    page.unroute("**/v1/analyze")
    page.get_by_role("button", name="立即重试").click()
    page.locator("#answers > li").first.wait_for()
    assert notice.is_hidden()
    assert page.input_value("#department") == WATER_DEPT


def test_needs_review_state(page, server):
    """A call with no subject: the real model cannot know the department, the
    server flags it and the widget says so plainly."""
    body = type_text(page, VAGUE)
    assert body["needs_review"] and "department" in body["review_reasons"], body["department"]
    review = page.locator("#review")
    assert review.is_visible()
    assert "需人工复核" in review.inner_text() and "承办部门" in review.inner_text()
    assert "needs-review" in page.get_attribute("#routing", "class")
    assert "low" in page.get_attribute("#dept-conf", "class")
    assert "需人工复核" in page.inner_text("#status")
    shot(page, "needs-review")
    # A confident call clears the state.
    type_text(page, WATER, replace=True)
    assert review.is_hidden() and "needs-review" not in page.get_attribute("#routing", "class")


def test_a_proposal_is_sent_to_review_as_such(page, server):
    """A proposal is none of the request types: the demo model learned it as a
    review-only label, and the widget names it instead of a weak type confidence."""
    body = type_text(page, "建议在我们小区门口增设一个公交站，方便老人出行")
    assert body["needs_review"] and "type:other" in body["review_reasons"], body["review_reasons"]
    assert body["type"]["label"] in ("consult", "complaint", "fault")
    review = page.locator("#review")
    assert review.is_visible() and "内容更像建议、感谢或意见" in review.inner_text()
    # The agent can confirm it: the label the server never answers is offered here only.
    assert page.locator("#type option[value=other]").inner_text() == "其他（建议、感谢）"
    type_text(page, WATER, replace=True)
    assert page.locator("#type option[value=other]").count() == 0


def test_sign_in_sign_out_and_expired_session(signed_out_page, server):
    """The page grants nothing: the agent signs in with their key; a wrong key is
    refused in place; the key never stays in the page; drafts stay editor-only;
    signing out clears the screen; a session that ends mid-call asks to sign in
    again and keeps the agent's notes."""
    pg = signed_out_page
    assert pg.locator("#app").is_hidden() and pg.evaluate("document.activeElement.id") == "signin-key"
    assert "未登录" in pg.inner_text("#status")
    assert api_status(pg, "/v1/kb/entries?status=draft&limit=500") == 401
    assert pg.context.cookies() == []
    assert pg.evaluate("document.documentElement.scrollWidth") <= WIDTH
    # Submitting nothing, then a wrong key: refused in place, nothing signed in.
    pg.click("#signin-submit")
    assert "请输入密钥" in pg.inner_text("#signin-error")
    pg.fill("#signin-key", "not-a-key")
    with pg.expect_response(lambda r: r.url.endswith("/v1/session")) as resp:
        pg.keyboard.press("Enter")
    assert resp.value.status == 401
    pg.wait_for_function("() => document.querySelector('#signin-error').textContent.includes('密钥无效')")
    assert pg.get_attribute("#signin-key", "aria-invalid") == "true"
    assert pg.locator("#app").is_hidden() and pg.input_value("#signin-key") == ""
    shot(pg, "sign-in")

    sign_in(pg)
    assert pg.evaluate("document.activeElement.id") == "text"
    assert "已登录 · 坐席" in pg.inner_text("#status")
    assert KEYS["agent"] not in pg.content()
    [cookie] = pg.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        "hotline_session", True, "Strict", "/v1")
    assert api_status(pg, "/v1/kb/entries?limit=5") == 200
    assert api_status(pg, "/v1/kb/entries?status=draft&limit=500") == 403   # editors only

    # The session ends mid-call (expired, or the key revoked): sign in again, notes kept.
    pg.context.clear_cookies()
    with pg.expect_response(lambda r: r.url.endswith("/v1/analyze")) as resp:
        pg.locator("#text").press_sequentially(WATER[:12], delay=5)
    assert resp.value.status == 401
    pg.locator("#signin").wait_for(state="visible")
    assert "登录已失效" in pg.inner_text("#signin-error")
    sign_in(pg)
    assert pg.input_value("#text") == WATER[:12]
    pg.locator("#answers > li").first.wait_for()        # re-analysed after signing in

    # Signing out clears the screen and the cookie.
    with pg.expect_response(lambda r: r.url.endswith("/v1/session")) as resp:
        pg.click("#sign-out")
    assert resp.value.status == 204
    pg.locator("#signin").wait_for(state="visible")
    assert pg.context.cookies() == [] and api_status(pg, "/v1/kb/entries") == 401
    assert pg.input_value("#text") == "" and pg.locator("#routing").is_hidden()


def test_keyboard_and_labels(page, server):
    type_text(page, WATER)
    # Every control has an accessible name.
    unnamed = page.evaluate("""() => [...document.querySelectorAll('button, input, select, textarea')]
        .filter(e => e.offsetParent !== null)
        .filter(e => !(e.getAttribute('aria-label') || e.labels?.length || e.textContent.trim()))
        .map(e => e.outerHTML.slice(0, 80))""")
    assert unnamed == []
    # Alt+K comes back to the note from anywhere; Esc clears it, Ctrl+Z restores it.
    page.locator("#answers button").first.focus()
    page.keyboard.press("Alt+K")
    assert page.evaluate("document.activeElement.id") == "text"
    page.keyboard.press("Escape")
    assert page.input_value("#text") == ""
    page.locator("#routing").wait_for(state="hidden")
    page.keyboard.press("Control+Z")
    assert page.input_value("#text") == WATER
    page.locator("#routing").wait_for(state="visible")
    # Esc in another field does not throw the note away.
    page.focus("#department")
    page.keyboard.press("Escape")
    assert page.input_value("#text") == WATER


# ---------------------------------------------------------------- incidents (docs/incidents.md)
POWER_1 = "枫林小区停电了，整栋楼都没电，冰箱里的东西都要坏了"
POWER_2 = "我家住枫林小区8栋，从中午开始停电到现在"
POWER_3 = "枫林小区又停电了，整栋楼都没电，什么时候来电"
LIFT_1 = "松柏花园2栋电梯坏了，老人被困在里面出不来"
LIFT_2 = "松柏花园的电梯又坏了，有人被困"


def test_incident_banner_and_link(page, server):
    """Two orders recorded, a third call at the same place with the same problem:
    the banner says so, the agent links, the incident has 3 orders."""
    client = server.app.test_client()
    headers = {"Authorization": f"Bearer {KEYS['agent']}"}
    first = client.post("/v1/incidents/orders", headers=headers,
                        json={"text": POWER_1, "note": "已通知供电公司抢修"})
    assert first.status_code == 201, first.get_json()
    second = client.post("/v1/incidents/orders", headers=headers, json={"text": POWER_2})
    iid = first.get_json()["incident"]["id"]
    assert second.get_json()["incident"]["id"] == iid

    body = type_text(page, POWER_3)
    assert body["incident"] and body["incident"]["id"] == iid and body["incident"]["size"] == 2
    page.locator("#incident-card").wait_for(state="visible")
    summary = page.inner_text("#incident-summary")
    assert re.fullmatch(r"已有 2 位来电反映此问题（首次 (\d+月\d+日 )?\d\d:\d\d）", summary), summary
    assert "已通知供电公司抢修" in page.inner_text("#incident-note")
    last = second.get_json()["order_id"]
    assert f"关联工单 #{last}" in page.inner_text("#incident-order")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    shot(page, "incident")

    with page.expect_response(lambda r: r.url.endswith(f"/v1/incidents/{iid}/link")) as resp:
        page.click("#incident-link")
    assert resp.value.status == 200, resp.value.text()
    page.wait_for_function("() => document.querySelector('#incident-summary')"
                           ".textContent.startsWith('✓ 已关联：共 3 位来电')")
    assert page.locator("#incident-link").is_hidden()
    detail = client.get(f"/v1/incidents/{iid}", headers=headers).get_json()
    assert detail["size"] == 3 and detail["orders"][-1]["text"] == body["text"]
    assert detail["orders"][-1]["by"].startswith("api:agent:")
    shot(page, "incident_linked")


def test_incident_not_the_same(page, server):
    client = server.app.test_client()
    headers = {"Authorization": f"Bearer {KEYS['agent']}"}
    iid = client.post("/v1/incidents/orders", headers=headers,
                      json={"text": LIFT_1}).get_json()["incident"]["id"]
    body = type_text(page, LIFT_2)
    assert body["incident"] and body["incident"]["id"] == iid
    page.locator("#incident-card").wait_for(state="visible")
    with page.expect_response(lambda r: r.url.endswith(f"/v1/incidents/{iid}/not-same")) as resp:
        page.click("#incident-not-same")
    assert resp.value.status == 200
    page.locator("#incident-card").wait_for(state="hidden")
    # remembered: the same call is not proposed for that incident again, nothing recorded
    again = client.post("/v1/analyze", headers=headers, json={"text": LIFT_2}).get_json()
    assert again["incident"] is None
    assert client.get(f"/v1/incidents/{iid}", headers=headers).get_json()["size"] == 1
