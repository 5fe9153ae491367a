"""The analysts' dashboard end to end: Debian's Chromium (headless, Playwright; the
widget test's browser fixture) against the real app on loopback, on a home with a
small KB and nothing else (the incident endpoints need no model). Orders are
recorded through POST /v1/incidents/orders; the page must show them in the open
incident table and the district grid, whose tiles filter the table. Screenshots at 1280
and 360 px go to the test's tmp dir; at 360 px nothing may scroll sideways.
"""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from tests.conftest import KB_ROWS, KEYS, auth, make_settings
from tests.test_dashboard import _change_report
from tests.widget_support import CHROMIUM  # its `browser` fixture is registered from conftest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's Chromium at /usr/bin/chromium "
                              "(`make system-deps` or `apt-get install chromium`)"),
]

CALLS = [  # (text, region, department, hours ago)
    ("幸福小区停水了，一滴水都没有，什么时候来水", "海州区", "市水务集团", 3),
    ("我住幸福小区5栋，从早上到现在一直没水", "海州区", "市水务集团", 2),
    ("幸福小区东门这边也停水了，请问什么时候恢复供水", "海州区", "市水务集团", 1),
    ("人民路的路灯坏了，晚上很黑", "连云区", "市城管局", 5),
]


def _iso(hours_ago: float) -> str:
    return dt.datetime.fromtimestamp(time.time() - hours_ago * 3600,
                                     dt.timezone.utc).isoformat(timespec="seconds")


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory):
    from werkzeug.serving import make_server

    from kb import KBStore
    from server import create_app

    home = tmp_path_factory.mktemp("dashboard") / "home"
    home.mkdir()
    with KBStore(home / "kb.sqlite3") as store:
        for row in KB_ROWS:
            store.add(row)
    _change_report(home / "reports" / "reclass-2026-12",
                   [("市水务集团", "市城管局")] * 4 + [("市城管局", "市城管局")] * 6)
    app = create_app(make_settings(home))
    client = app.test_client()
    ids = []
    for text, region, dept, ago in CALLS:
        r = client.post("/v1/incidents/orders", headers=auth("agent"),
                        json={"text": text, "region": region, "department": dept,
                              "time": _iso(ago), "note": "已派单" if ago == 1 else None})
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["incident"]["id"])
    assert ids[0] == ids[1] == ids[2] != ids[3]
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, name="dashboard-e2e", daemon=True)
    thread.start()
    try:
        yield type("Server", (), {"url": f"http://127.0.0.1:{srv.server_port}", "ids": ids})
    finally:
        srv.shutdown()
        thread.join(5)


def _open(browser, dash_server, width):  # noqa: F811
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN",
                              timezone_id="Asia/Shanghai")
    pg = ctx.new_page()
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.outside = []   # anything fetched from another origin (fonts, CDN): nothing may be
    pg.on("request", lambda r: pg.outside.append(r.url)
          if not r.url.startswith(dash_server.url) and not r.url.startswith("data:") else None)
    pg.set_default_timeout(20_000)
    pg.goto(dash_server.url + "/dashboard")
    pg.locator("#signin").wait_for(state="visible")
    pg.fill("#signin-key", KEYS["agent"])
    with pg.expect_response(lambda r: r.url.endswith("/v1/session")) as resp:
        pg.click("#signin-submit")
    assert resp.value.status == 201
    assert pg.input_value("#signin-key") == ""
    pg.locator("#app").wait_for(state="visible")
    pg.wait_for_function("() => document.querySelectorAll('#open-rows tr').length >= 2"
                         " && document.querySelectorAll('#districts li').length >= 2"
                         " && document.querySelector('#trend svg')"
                         " && !document.querySelector('#change').hidden")
    return ctx, pg


def _check_content(pg, dash_server):
    rows = pg.locator("#open-rows tr")
    assert rows.count() == 2
    first = rows.nth(0)   # sorted by size: the three-call water outage first
    assert first.get_attribute("data-id") == str(dash_server.ids[0])
    assert first.locator("td.size").inner_text().startswith("3")
    assert first.locator("td.region").inner_text() == "海州区"
    assert first.locator("td.dept").inner_text() == "市水务集团"
    assert first.locator("td.note").inner_text() == "已派单"
    assert rows.nth(1).locator("td.region").inner_text() == "连云区"
    districts = pg.locator("#districts li")
    assert districts.nth(0).get_attribute("data-region") == "海州区"
    assert "busiest" in districts.nth(0).get_attribute("class")
    first_tile = districts.nth(0).inner_text()
    assert "1 起未结" in first_tile and "3 条来电" in first_tile and "最多" in first_tile
    assert districts.nth(1).get_attribute("data-region") == "连云区"
    assert "1 起未结" in districts.nth(1).inner_text()
    assert "1 条来电" in districts.nth(1).inner_text()
    # heat: calls in open incidents against the busiest district (3 of 3, 1 of 3), and
    # the tiles are painted with it
    assert [districts.nth(i).get_attribute("data-heat") for i in range(2)] == ["4", "2"]
    colours = pg.eval_on_selector_all(
        "#districts .tile", "els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert colours == ["rgb(185, 60, 10)", "rgb(250, 197, 151)"], colours


def _check_filter(pg):
    """A tile filters the open incidents to its district; the same tile, or 显示全部区域,
    shows all again."""
    tile = pg.locator("#districts li[data-region='连云区'] .tile")
    with pg.expect_response(lambda r: "region=%E8%BF%9E%E4%BA%91%E5%8C%BA" in r.url):
        tile.click()
    pg.wait_for_function("() => document.querySelectorAll('#open-rows tr').length === 1")
    assert pg.locator("#open-rows td.region").inner_text() == "连云区"
    assert pg.is_visible("#open-filter") and pg.inner_text("#open-filter-name") == "连云区"
    assert tile.get_attribute("aria-pressed") == "true"
    assert pg.get_attribute("#districts li[data-region='海州区'] .tile", "aria-pressed") == "false"
    tile.click()   # again: all districts
    pg.wait_for_function("() => document.querySelectorAll('#open-rows tr').length === 2")
    assert not pg.is_visible("#open-filter") and tile.get_attribute("aria-pressed") == "false"
    pg.click("#districts li[data-region='海州区'] .tile")
    pg.wait_for_function("() => document.querySelectorAll('#open-rows tr').length === 1"
                         " && document.querySelector('#open-rows td.region').textContent === '海州区'")
    pg.click("#open-filter-clear")
    pg.wait_for_function("() => document.querySelectorAll('#open-rows tr').length === 2")
    assert pg.locator("#trend rect").count() == 7
    assert "4 条来电" in pg.inner_text("#totals")
    assert "reclass-2026-12" in pg.inner_text("#change-summary")
    assert "市水务集团 → 市城管局：4 行" in pg.inner_text("#change-moves")


def test_dashboard_at_1280_and_360(browser, dash_server, tmp_path):  # noqa: F811
    ctx, pg = _open(browser, dash_server, 1280)
    try:
        _check_content(pg, dash_server)
        # click → the incident's reports
        with pg.expect_response(lambda r: r.url.endswith(f"/v1/incidents/{dash_server.ids[0]}")):
            pg.locator("#open-rows tr").nth(0).click()
        pg.locator("#detail").wait_for(state="visible")
        assert pg.locator("#detail-orders li").count() == 3
        assert "幸福小区东门" in pg.inner_text("#detail-orders")
        pg.click("#by-hour")
        assert pg.locator("#trend rect").count() == 7 * 24
        pg.click("#by-day")
        _check_filter(pg)
        pg.screenshot(path=str(tmp_path / "dashboard-1280.png"), full_page=True)
        assert pg.evaluate("document.documentElement.scrollWidth") <= 1280 + 1
        assert not pg.errors and not pg.outside, (pg.errors, pg.outside)
    finally:
        ctx.close()

    ctx, pg = _open(browser, dash_server, 360)
    try:
        _check_content(pg, dash_server)
        # the tiles wrap: two a row at 360 px, nothing sideways
        tops = pg.eval_on_selector_all("#districts li",
                                       "els => els.map(e => e.getBoundingClientRect().top)")
        assert tops[0] == tops[1]
        _check_filter(pg)
        pg.click("#districts li[data-region='海州区'] .tile")   # filtered in the screenshot
        pg.wait_for_function("() => document.querySelectorAll('#open-rows tr').length === 1")
        pg.locator("#open-rows tr").nth(0).click()
        pg.locator("#detail").wait_for(state="visible")
        assert pg.evaluate("document.documentElement.scrollWidth") <= 360 + 1
        pg.screenshot(path=str(tmp_path / "dashboard-360.png"), full_page=True)
        assert not pg.errors and not pg.outside, (pg.errors, pg.outside)
    finally:
        ctx.close()


def test_dashboard_refreshes_and_signs_out(browser, dash_server):  # noqa: F811
    ctx, pg = _open(browser, dash_server, 1280)
    try:
        # a new call elsewhere appears within one refresh (~10 s), without reloading
        from urllib.request import Request, urlopen
        import json

        req = Request(dash_server.url + "/v1/incidents/orders", method="POST",
                      data=json.dumps({"text": "金海花园电梯坏了，有人被困", "region": "临江区",
                                       "department": "市市场监管局"}).encode(),
                      headers={"Authorization": f"Bearer {KEYS['agent']}",
                               "Content-Type": "application/json"})
        with urlopen(req) as resp:
            assert resp.status == 201
        pg.wait_for_function("() => document.querySelectorAll('#open-rows tr').length === 3",
                             timeout=25_000)   # one 10 s refresh, on a busy machine
        # the aggregates follow when the open incidents change (else every third round)
        pg.locator("#districts li[data-region='临江区']").wait_for(timeout=10_000)
        pg.click("#sign-out")
        pg.locator("#signin").wait_for(state="visible")
        status = pg.evaluate("() => fetch('/v1/incidents/stats', {credentials: 'same-origin'})"
                             ".then(r => r.status)")
        assert status == 401
        assert not pg.errors, pg.errors
    finally:
        ctx.close()
