"""The agent widget's urgency line and lead / co-handling departments end to end
(widget/dispatch.js; docs/widget.md), in Debian's Chromium against the real app
(fixtures: ``tests/widget_support.py``). Screenshots: dispatch.png, urgent.png.
"""
from __future__ import annotations

import json

from tests.widget_support import LAMP_DEPT, MARKS, WATER_DEPT, WIDTH, settle, shot, type_text

pytestmark = MARKS

COMPOUND = "家里停水两天了，还有楼下饭店油烟太大"
HEALTH_DEPT = "海州市卫生健康委员会"
GAS = "楼道里煤气味很重，好像漏气了"


def co_chips(pg) -> list[str]:
    return pg.eval_on_selector_all("#co li.co-chip", "ls => ls.map(l => l.dataset.name)")


def test_compound_call_shows_lead_and_co_and_the_agent_edits_them(page, server):
    body = type_text(page, COMPOUND)
    deps = body["departments"]
    assert deps["lead"]["name"] == WATER_DEPT and [c["name"] for c in deps["co"]] == [LAMP_DEPT]
    assert page.input_value("#lead") == WATER_DEPT
    # 承办部门 suggests the lead, whatever the whole text's department; not a correction.
    assert page.input_value("#department") == WATER_DEPT
    assert "已改派" not in page.inner_text("#dept-conf")
    assert co_chips(page) == [LAMP_DEPT]
    assert "%" in page.inner_text("#co")               # the co-handler's confidence
    # The urgency line with its reason words (停水 is 较急).
    assert page.inner_text("#urgency-level") == body["urgency"]["level"] == "较急"
    assert "停水" in page.inner_text("#urgency-why")

    # Remove the suggested co-handler, add another one.
    page.click(f"#co li[data-name='{LAMP_DEPT}'] button")
    assert co_chips(page) == [] and "无协办部门" in page.inner_text("#co")
    page.fill("#co-add", HEALTH_DEPT)
    page.press("#co-add", "Enter")
    assert co_chips(page) == [HEALTH_DEPT] and "坐席添加" in page.inner_text("#co")
    # An unknown name is refused with a message.
    page.fill("#co-add", "不存在的部门")
    page.click("#co-add-btn")
    assert page.locator("#co-error").is_visible() and co_chips(page) == [HEALTH_DEPT]

    # Another lead: the 承办部门 field follows (the order goes to the lead).
    page.select_option("#lead", LAMP_DEPT)
    assert page.input_value("#department") == LAMP_DEPT
    assert "已改主办" in page.inner_text("#lead-conf")

    # The agent keeps typing: re-analysis keeps their edits.
    later = type_text(page, "，天天熏得不行")
    settle(page)
    assert page.input_value("#lead") == LAMP_DEPT and co_chips(page) == [HEALTH_DEPT]
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    shot(page, "dispatch")

    # Accepting says which co-handlers went with the order, and stores the agent's
    # lead and co-handlers beside the suggested ones.
    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as resp:
        page.click("#accept")
    assert resp.value.status == 201
    page.wait_for_function("() => document.querySelector('#saved').textContent.includes('协办')")
    assert HEALTH_DEPT in page.inner_text("#saved")
    [row] = [r for r in server.feedback.rows() if r["id"] == resp.value.json()["id"]]
    assert row["final_department"] == LAMP_DEPT and row["final_co_departments"] == [HEALTH_DEPT]
    sent = json.loads(resp.value.request.post_data)
    assert sent["co_departments"] == [HEALTH_DEPT] and sent["department"] == LAMP_DEPT
    # the suggestion on screen when the agent accepted
    assert row["predicted_lead_department"] == later["departments"]["lead"]["name"]
    assert row["predicted_co_departments"] == [c["name"] for c in later["departments"]["co"]]


def test_single_issue_call_has_no_co_handler(page, server):
    body = type_text(page, "您好，我家从昨天早上开始停水了，水龙头一滴水都没有，也没看到停水通知")
    assert body["departments"]["co"] == [] and co_chips(page) == []
    assert "无协办部门" in page.inner_text("#co")


def test_urgent_call_shows_urgent_with_its_reason(page, server):
    body = type_text(page, GAS)
    assert body["urgency"]["level"] == "紧急"
    assert page.inner_text("#urgency-level") == "紧急"
    why = page.inner_text("#urgency-why")
    assert "煤气味" in why and "漏气" in why
    assert "urgent" in page.get_attribute("#urgency", "class")
    assert "模型判断" not in why          # rules found it
    shot(page, "urgent")


def test_learned_urgency_says_it_is_the_model(page, server):
    """A hazard no rule names, raised by the learned signal: its words and a
    note that the model judged it, with its probability."""
    body = type_text(page, "孩子把一颗纽扣电池吞下去了")
    learned = [r for r in body["urgency"]["reasons"] if r["rule"] == "learned"]
    assert body["urgency"]["level"] == "紧急" and learned
    why = page.inner_text("#urgency-why")
    assert learned[0]["text"] in why and "模型判断" in why and "%" in why
