"""Fixtures and helpers of the agent widget's browser tests
(``test_widget_e2e.py``, ``test_widget_dispatch_e2e.py``): Debian's Chromium
(headless, driven by Playwright, never a downloaded browser) against the real
Flask app on loopback, on a home with the small demo KB, the real default
embedder, a real index and a classifier trained on the demo work orders through
the path ``hotline serve`` uses. Registered from ``tests/conftest.py``; the
home, server and browser are built once per session for both modules.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import KEYS, make_settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "widget"
WIDTH = 360

# Each widget test module sets ``pytestmark = MARKS``.
MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's Chromium at /usr/bin/chromium "
                              "(`make system-deps` or `apt-get install chromium`)"),
]

WATER = "您好，我家从昨天早上开始停水了，水龙头一滴水都没有，也没看到停水通知，什么时候能恢复供水？"
WATER_DEPT = "海州市水务集团有限公司"
VAGUE = "你好，我想反映一个情况，就是那个事情一直没人管"
LAMP_DEPT = "海州市城市管理综合执法局"
NOISE = "楼上邻居天天半夜装修，电钻声音吵得全家睡不着觉，物业也不管"
LAMP = "我们小区门口那条路的路灯坏了一个多礼拜，晚上黑漆漆的，老人出门很危险，我电话13812345678"


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def widget_home(search_home, tmp_path_factory):
    """Demo KB (scale 0.02) + taxonomy + work orders, the default embedder (its
    export is copied from ``search_home`` so a session builds it once), a real
    index, and the demo classifier built by ``training.prepare.ensure_models``."""
    import shutil

    import kb
    from index.embedders import get_embedder
    from index.search import build_index
    from kb.demo import build_demo
    from training.embedders import ensure
    from training.prepare import ensure_models

    home = tmp_path_factory.mktemp("widget") / "home"
    settings = make_settings(home)
    shutil.copytree(make_settings(search_home).embedders_root, settings.embedders_root)
    timings = {}   # wall/CPU seconds per step, saved beside the screenshots for docs/widget.md

    def step(name, fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        timings[name] = {"wall_s": round(time.perf_counter() - w, 1),
                         "cpu_s": round(time.process_time() - c, 1)}
        return out

    step("demo_kb", lambda: build_demo(settings, scale=0.02, progress=False))
    step("embedder", lambda: ensure(settings.embedder, settings))
    step("index", lambda: build_index(kb.open_store(settings),
                                      get_embedder(settings.embedder, settings), settings,
                                      progress=False))
    assert step("classifier", lambda: ensure_models(settings)), "ensure_models built no classifier"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "setup_timings.json").write_text(json.dumps(timings, indent=1))
    return home


@pytest.fixture(scope="session")
def server(widget_home):
    """The real app on 127.0.0.1, a free port, in a thread."""
    from werkzeug.serving import make_server

    from server import create_app

    app = create_app(make_settings(widget_home))
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, name="widget-e2e-server", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{srv.server_port}"
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    ext = app.extensions["hotline"]
    try:
        yield type("Server", (), {"url": base, "app": app, "feedback": ext["feedback"],
                                  "taxonomy": ext["engine"].snapshot.taxonomy})
    finally:
        srv.shutdown()
        thread.join(5)


@pytest.fixture(scope="session")
def browser():
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def signed_out_page(browser, server):
    """A fresh context (no session cookie) at sidebar width, the widget loaded;
    fails the test on any uncaught script error."""
    ctx = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="zh-CN")
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.analyze_calls = []
    pg.on("request", lambda r: pg.analyze_calls.append(r) if r.url.endswith("/v1/analyze") else None)
    pg.set_default_timeout(20_000)
    pg.goto(server.url + "/widget")
    pg.locator("#signin").wait_for(state="visible")
    yield pg
    ctx.close()
    assert not errors, f"uncaught errors in the widget: {errors}"


def sign_in(pg, key: str = KEYS["agent"]) -> None:
    pg.fill("#signin-key", key)
    with pg.expect_response(lambda r: r.url.endswith("/v1/session")) as resp:
        pg.click("#signin-submit")
    assert resp.value.status == 201, resp.value.text()
    pg.locator("#app").wait_for(state="visible")


@pytest.fixture
def page(signed_out_page):
    """The widget with an agent signed in (their own session cookie)."""
    sign_in(signed_out_page)
    return signed_out_page


def api_status(pg, path: str) -> int:
    """What the page's own same-origin fetch gets (the session cookie, if any)."""
    return pg.evaluate("p => fetch(p, {credentials: 'same-origin'}).then(r => r.status)", path)


def shot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def type_text(pg, text: str, delay_ms: int = 15, replace: bool = False) -> dict:
    """Type like an agent (appending to the note, or over it) and return the
    analyze response for the whole note, once it is on screen."""
    if replace:
        pg.fill("#text", "")
    full = (pg.input_value("#text") + text).strip()
    with pg.expect_response(lambda r: r.url.endswith("/v1/analyze") and r.request.post_data
                            and json.loads(r.request.post_data)["text"] == full) as resp:
        pg.locator("#text").press_sequentially(text, delay=delay_ms)
    body = resp.value.json()
    assert resp.value.ok, body
    pg.wait_for_function("id => document.querySelector('#answers li')?.dataset.id === id",
                         arg=body["answers"][0]["id"])
    return body


def settle(pg, ms: int = 300) -> None:
    pg.evaluate(f"() => new Promise(r => setTimeout(r, {ms}))")
