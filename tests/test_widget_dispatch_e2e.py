"""The widget's urgency line and lead / co-handling departments, end to end:
Debian's Chromium (Playwright) against the real app on the demo home of
tests/test_widget_e2e.py (its fixtures: small demo KB, real index, the demo
classifier trained as `hotline serve` does). Screenshot: test-artifacts/widget/dispatch.png."""
from __future__ import annotations

from tests.test_widget_e2e import (  # noqa: F401 - fixtures
    WIDTH, browser, page, pytestmark, server, settle, shot, signed_out_page, type_text,
    widget_home)

COMPOUND = "家里停水两天了，还有楼下饭店油烟太大"
WATER = "海州市水务集团有限公司"
CG = "海州市城市管理综合执法局"
HEALTH = "海州市卫生健康委员会"
GAS = "楼道里煤气味很重，好像漏气了"


def chips(pg) -> list[str]:
    return pg.eval_on_selector_all("#co li.co-chip", "ls => ls.map(l => l.dataset.name)")


def test_compound_call_shows_lead_and_co_and_the_agent_edits_them(page, server):
    body = type_text(page, COMPOUND)
    deps = body["departments"]
    assert deps["lead"]["name"] == WATER and [c["name"] for c in deps["co"]] == [CG]
    assert page.input_value("#lead") == WATER
    assert chips(page) == [CG]
    assert "%" in page.inner_text("#co")               # the co-handler's confidence
    # The urgency line with its reason words (停水 is 较急).
    assert page.inner_text("#urgency-level") == body["urgency"]["level"] == "较急"
    assert "停水" in page.inner_text("#urgency-why")

    # Remove the suggested co-handler, add another one.
    page.click(f"#co li[data-name='{CG}'] button")
    assert chips(page) == [] and "无协办部门" in page.inner_text("#co")
    page.fill("#co-add", HEALTH)
    page.press("#co-add", "Enter")
    assert chips(page) == [HEALTH] and "坐席添加" in page.inner_text("#co")
    # An unknown name is refused with a message.
    page.fill("#co-add", "不存在的部门")
    page.click("#co-add-btn")
    assert page.locator("#co-error").is_visible() and chips(page) == [HEALTH]

    # Another lead: the 承办部门 field follows (the order goes to the lead).
    page.select_option("#lead", CG)
    assert page.input_value("#department") == CG
    assert "已改主办" in page.inner_text("#lead-conf")

    # The agent keeps typing: re-analysis keeps their edits.
    type_text(page, "，天天熏得不行")
    settle(page)
    assert page.input_value("#lead") == CG and chips(page) == [HEALTH]
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    shot(page, "dispatch")

    # Accepting says which co-handlers went with the order.
    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as resp:
        page.click("#accept")
    assert resp.value.status == 201
    page.wait_for_function("() => document.querySelector('#saved').textContent.includes('协办')")
    assert HEALTH in page.inner_text("#saved")


def test_single_issue_call_has_no_co_handler(page, server):
    body = type_text(page, "您好，我家从昨天早上开始停水了，水龙头一滴水都没有，也没看到停水通知")
    assert body["departments"]["co"] == [] and chips(page) == []
    assert "无协办部门" in page.inner_text("#co")


def test_urgent_call_shows_urgent_with_its_reason(page, server):
    body = type_text(page, GAS)
    assert body["urgency"]["level"] == "紧急"
    assert page.inner_text("#urgency-level") == "紧急"
    why = page.inner_text("#urgency-why")
    assert "煤气味" in why and "漏气" in why
    assert "urgent" in page.get_attribute("#urgency", "class")
    shot(page, "urgent")
