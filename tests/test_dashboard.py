"""The analysts' dashboard's endpoints: incident aggregates (GET /v1/incidents/stats,
pure counting in incidents/stats.py) and the reclassification change reports of the
home (GET /v1/reports/changes[/{id}]), with their roles; and the page is served."""
from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from tests.conftest import KEYS, auth, make_settings, problem

WATER_1 = "幸福小区停水了，一滴水都没有，什么时候来水"
WATER_2 = "我住幸福小区5栋，从早上到现在一直没水"
WATER_OLD = "金海花园停水了，水龙头不出水"
LAMP = "人民路的路灯坏了，晚上很黑"
WATER_DEPT, LAMP_DEPT = "市水务集团", "市城管局"


def _iso(hours_ago: float) -> str:
    t = time.time() - hours_ago * 3600
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="seconds")


def _order(client, text, region, dept, hours_ago, **extra):
    r = client.post("/v1/incidents/orders", headers=auth("agent"),
                    json={"text": text, "region": region, "department": dept,
                          "time": _iso(hours_ago), **extra})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def recorded(kb_client):
    """This week: two water calls at 幸福小区 (one incident, 海州区), a lamp call in
    连云区; the week before: one water call and two lamp calls."""
    # in time order, as calls come (an older call recorded late may join a newer incident)
    _order(kb_client, LAMP + "，好几天了", "连云区", LAMP_DEPT, 10 * 24)
    _order(kb_client, LAMP, "连云区", LAMP_DEPT, 9 * 24)
    _order(kb_client, WATER_OLD, "海州区", WATER_DEPT, 8 * 24)
    _order(kb_client, LAMP, "连云区", LAMP_DEPT, 30)
    first = _order(kb_client, WATER_1, "海州区", WATER_DEPT, 2, note="已派单抢修")
    second = _order(kb_client, WATER_2, "海州区", WATER_DEPT, 1)
    assert second["incident"]["id"] == first["incident"]["id"]
    return kb_client


def test_stats_counts_districts_trend_and_rising(recorded):
    r = recorded.get("/v1/incidents/stats?days=7&tz=480", headers=auth("agent"))
    assert r.status_code == 200, r.get_json()
    s = r.get_json()
    assert s["totals"] == {"reports": 3, "reports_previous": 3, "open_incidents": 2,
                           "open_reports": 3}
    assert len(s["per_hour"]) == 7 * 24 and len(s["per_day"]) == 7
    assert sum(b["reports"] for b in s["per_hour"]) == sum(b["reports"] for b in s["per_day"]) == 3
    assert s["per_hour"][-1]["start"].endswith("+08:00")
    assert [(d["region"], d["open_incidents"], d["open_reports"], d["multi_report"], d["reports"])
            for d in s["districts"]] == [("海州区", 1, 2, 1, 2), ("连云区", 1, 1, 0, 1)]
    assert [(x["key"], x["this"], x["last"]) for x in s["rising"]["department"]] == \
        [(WATER_DEPT, 2, 1)]
    assert [(x["key"], x["label"], x["this"], x["last"]) for x in s["rising"]["problem"]] == \
        [("water_outage", "停水", 2, 1)]


def test_stats_roles_and_arguments(recorded, kb_home, monkeypatch):
    problem(recorded.get("/v1/incidents/stats"), 401, "unauthorized")
    problem(recorded.get("/v1/incidents/stats", headers={"Authorization": "Bearer nope-nope-nope"}),
            401, "unauthorized")
    for role in ("agent", "editor", "admin"):   # agent: what GET /v1/incidents needs
        assert recorded.get("/v1/incidents/stats", headers=auth(role)).status_code == 200
    problem(recorded.get("/v1/incidents/stats?days=0", headers=auth("agent")), 400, "invalid_input")
    problem(recorded.get("/v1/incidents/stats?days=32", headers=auth("agent")), 400,
            "invalid_input")
    problem(recorded.get("/v1/incidents/stats?tz=abc", headers=auth("agent")), 400, "wrong_type")
    problem(recorded.get("/v1/incidents/stats?tz=900", headers=auth("agent")), 400,
            "invalid_input")
    # agent is the lowest role, so no key is under-privileged today; the check is the
    # incident list's: with the dashboard role raised, an agent gets 403
    from hotline.http import dashboard
    from server import create_app

    monkeypatch.setattr(dashboard, "DASHBOARD_ROLE", "editor")
    client = create_app(make_settings(kb_home)).test_client()
    for path in ("/v1/incidents/stats", "/v1/reports/changes", "/v1/reports/changes/x"):
        problem(client.get(path, headers=auth("agent")), 403, "forbidden")
    assert client.get("/v1/incidents/stats", headers=auth("editor")).status_code == 200


def test_buckets_count_days_in_the_hotline_zone():
    from incidents.stats import buckets

    now = dt.datetime(2026, 12, 6, 17, 30, tzinfo=dt.timezone.utc).timestamp() / 3600
    at = [now - 0.25]   # 17:15 UTC = 01:15 on the 7th in China
    china = buckets(at, now, 2, 480)
    assert [d["day"] for d in china["per_day"]] == ["2026-12-06", "2026-12-07"]
    assert [d["reports"] for d in china["per_day"]] == [0, 1]
    utc = buckets(at, now, 2, 0)
    assert [(d["day"], d["reports"]) for d in utc["per_day"]] == [("2026-12-05", 0),
                                                                 ("2026-12-06", 1)]
    assert china["per_hour"][-1] == {"start": "2026-12-07T01:00+08:00", "reports": 1}


# ---------------------------------------------------------------- change reports
def _change_report(directory, pairs):
    """A change report as `hotline reclassify --compare-col` writes report.json."""
    from hotline.batch.compare import ChangeTracker

    t = ChangeTracker("old_dept", head="department")
    items = [(old, ("投诉", 0.9, new, 0.8, False, "[]"), (i, f"text {i}"))
             for i, (old, new) in enumerate(pairs)]
    t.add(items)
    directory.mkdir(parents=True)
    (directory / "report.json").write_text(json.dumps(t.figures(), ensure_ascii=False))


def test_change_reports_listed_by_id_only(kb_client, kb_home):
    problem(kb_client.get("/v1/reports/changes"), 401, "unauthorized")
    assert kb_client.get("/v1/reports/changes", headers=auth("agent")).get_json() == {"items": []}
    reports = kb_home / "reports"
    _change_report(reports / "older", [("水务", "水务")] * 3 + [("水务", "城管")])
    _change_report(reports / "reclass-2026-12", [("水务", "城管")] * 2 + [("城管", "城管")] * 2
                   + [("交通", "城管")])
    import os
    os.utime(reports / "older" / "report.json", (time.time() - 3600,) * 2)
    (reports / "gov-eval").mkdir()   # another kind of report: not listed
    (reports / "gov-eval" / "report.json").write_text('{"accuracy": 0.9}')
    (reports / "broken").mkdir()
    (reports / "broken" / "report.json").write_text("{not json")

    items = kb_client.get("/v1/reports/changes", headers=auth("agent")).get_json()["items"]
    assert [i["id"] for i in items] == ["reclass-2026-12", "older"]
    assert (items[0]["rows_compared"], items[0]["changed"], items[0]["head"]) == (5, 3, "department")
    r = kb_client.get("/v1/reports/changes/reclass-2026-12", headers=auth("agent"))
    body = r.get_json()
    assert body["transitions"][0] == {"old": "水务", "new": "城管", "rows": 2}
    assert body["transitions_total"] == 2
    assert body["shifts"][0]["label"] == "城管" and body["shifts"][0]["delta"] == 3
    # never a path: only ids that are listed
    problem(kb_client.get("/v1/reports/changes/gov-eval", headers=auth("agent")), 404, "not_found")
    problem(kb_client.get("/v1/reports/changes/nope", headers=auth("agent")), 404, "not_found")
    for bad in ("..", ".hidden", "%2e%2e", "..%2Fkb.sqlite3", "%2Fetc%2Fpasswd"):
        assert kb_client.get(f"/v1/reports/changes/{bad}",
                             headers=auth("agent")).status_code in (400, 404), bad


def test_dashboard_page_is_served_offline(kb_client):
    for path in ("/dashboard", "/dashboard/"):
        r = kb_client.get(path)
        assert r.status_code == 200 and b"/dashboard/dashboard.js" in r.data
    page = kb_client.get("/dashboard").data.decode()
    for asset in ("dashboard.js", "dashboard.css"):
        text = kb_client.get(f"/dashboard/{asset}").data.decode()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text and "@import" not in text and "@font-face" not in text
    assert "https://" not in page and "http://" not in page
    assert kb_client.get("/dashboard/../server.py").status_code == 404


def test_answers_match_the_openapi_document(recorded, kb_home):
    """The stats and change-report answers validate against their published schemas."""
    import jsonschema

    _change_report(kb_home / "reports" / "r1", [("水务", "城管"), ("城管", "城管")])
    doc = recorded.get("/openapi.json").get_json()

    def check(path, name):
        body = recorded.get(path, headers=auth("agent")).get_json()
        schema = {**doc["components"]["schemas"][name],
                  "components": doc["components"]}
        jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)

    check("/v1/incidents/stats", "IncidentStats")
    check("/v1/reports/changes", "ChangeReportList")
    check("/v1/reports/changes/r1", "ChangeReport")
    ops = doc["paths"]
    assert ops["/v1/incidents/stats"]["get"]["description"].startswith("Requires role `agent`")
    assert {"401", "403"} <= set(ops["/v1/reports/changes/{report_id}"]["get"]["responses"])
