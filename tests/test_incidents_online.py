"""Online incident linking: the decision (the batch linker's, over the store's open
incidents) and the /v1/incidents endpoints with roles and audit."""
from __future__ import annotations

import pytest

from incidents.online import IncidentDesk
from tests.conftest import auth, problem

NOW = 500_000.0
REGION = "海州区"
WATER_1 = "幸福小区停水了，一滴水都没有，什么时候来水"
WATER_2 = "我住幸福小区5栋，从早上到现在一直没水"
WATER_3 = "幸福小区东门这边也停水了，请问什么时候恢复供水"


@pytest.fixture
def desk(tmp_path):
    clock = {"now": NOW}
    d = IncidentDesk.open(f"sqlite:///{tmp_path / 'i.sqlite3'}", clock=lambda: clock["now"])
    d.test_clock = clock
    first = d.record({"text": WATER_1, "region": REGION}, "t")
    d.record({"text": WATER_2, "region": REGION}, "t")
    d.incident_id = first["incident"]["id"]
    return d


def test_same_place_same_problem_links(desk):
    m = desk.match(WATER_3, REGION)
    assert m["id"] == desk.incident_id and m["size"] == 2 and m["confidence"] >= 0.5


def test_one_problem_said_differently_links(desk):
    """The issue's example: 自来水黄浊有异味 / 水龙头出来的水是锈色的 at one address."""
    first = desk.record({"text": "金海花园3栋自来水黄浊有异味", "region": REGION}, "t")
    m = desk.match("金海花园水龙头出来的水是锈色的", REGION)
    assert m and m["id"] == first["incident"]["id"]


def test_another_place_is_another_incident(desk):
    assert desk.match("金海花园停水了，到现在还没来水", REGION) is None
    assert desk.match("人民路停水了，一滴水都没有", REGION) is None


def test_same_place_another_problem_is_another_incident(desk):
    assert desk.match("幸福小区3栋电梯坏了，老人被困在里面", REGION) is None
    assert desk.match("幸福小区门口路灯坏了，晚上很黑", REGION) is None


def test_another_region_is_another_incident(desk):
    assert desk.match(WATER_3, "连云区") is None


def test_outside_the_window_is_a_new_incident(desk):
    assert desk.match(WATER_3, REGION, time_h=NOW + 3)["id"] == desk.incident_id
    # inside the window a late call is scored (the gap lowers it) ...
    assert desk.index.decide(desk.prepare(WATER_3, REGION, NOW + 47))[1] > 0
    # ... past it (outage: 48 h from the first report) it is not a candidate at all
    assert desk.index.decide(desk.prepare(WATER_3, REGION, NOW + 49)) == (None, 0.0)


def test_not_the_same_mark_is_remembered(desk):
    desk.not_same(desk.incident_id, "t", text=WATER_3)
    assert desk.match(WATER_3, REGION) is None
    # the mark is on that call, not on the incident: another caller still links
    assert desk.match("幸福小区8栋也停水了，一直没水", REGION)["id"] == desk.incident_id
    # and recording that text opens an incident of its own
    out = desk.record({"text": WATER_3, "region": REGION}, "t")
    assert not out["linked"] and out["incident"]["id"] != desk.incident_id


# ---------------------------------------------------------------- endpoints
def _record(client, text, role="agent", **kw):
    return client.post("/v1/incidents/orders", headers=auth(role),
                       json={"text": text, "region": REGION, **kw})


def test_endpoints_roles_and_audit(kb_client):
    r = _record(kb_client, WATER_1, note="已派单抢修")
    assert r.status_code == 201, r.get_json()
    iid = r.get_json()["incident"]["id"]
    r = _record(kb_client, WATER_2)
    body = r.get_json()
    assert body["linked"] and body["incident"]["id"] == iid and body["incident"]["size"] == 2
    assert body["incident"]["note"] == "已派单抢修"
    # link a new order by its text; the incident grows
    r = kb_client.post(f"/v1/incidents/{iid}/link", headers=auth("agent"),
                       json={"text": WATER_3, "region": REGION, "note": "同一爆管"})
    assert r.status_code == 200 and r.get_json()["incident"]["size"] == 3
    third = r.get_json()["order_id"]
    detail = kb_client.get(f"/v1/incidents/{iid}", headers=auth("agent")).get_json()
    assert [o["id"] for o in detail["orders"]][-1] == third
    assert detail["note"] == "同一爆管" and detail["last_order"]["id"] == third
    # listing
    listed = kb_client.get(f"/v1/incidents?status=open&region={REGION}",
                           headers=auth("agent")).get_json()
    assert [i["id"] for i in listed["items"]] == [iid]
    assert kb_client.get("/v1/incidents?region=连云区", headers=auth("agent")).get_json()["items"] == []
    # unlink, then it is not proposed again
    r = kb_client.post(f"/v1/incidents/{iid}/unlink", headers=auth("agent"),
                       json={"order_id": third})
    assert r.status_code == 200 and r.get_json()["incident"]["size"] == 2
    other = r.get_json()["new_incident"]["id"]
    # not-same by text
    r = kb_client.post(f"/v1/incidents/{iid}/not-same", headers=auth("agent"),
                       json={"text": "幸福小区也停水了"})
    assert r.status_code == 200
    # merge and close need an editor
    problem(kb_client.post(f"/v1/incidents/{iid}/merge", headers=auth("agent"),
                           json={"other": other}), 403, "forbidden")
    problem(kb_client.post(f"/v1/incidents/{iid}/close", headers=auth("agent")), 403, "forbidden")
    problem(kb_client.get(f"/v1/incidents/{iid}/audit", headers=auth("agent")), 403, "forbidden")
    r = kb_client.post(f"/v1/incidents/{iid}/merge", headers=auth("editor"), json={"other": other})
    assert r.status_code == 200 and r.get_json()["incident"]["size"] == 3
    problem(kb_client.post(f"/v1/incidents/{iid}/merge", headers=auth("editor"),
                           json={"other": other}), 409, "conflict")
    r = kb_client.post(f"/v1/incidents/{iid}/close", headers=auth("editor"))
    assert r.get_json()["incident"]["status"] == "closed"
    problem(kb_client.post(f"/v1/incidents/{iid}/link", headers=auth("agent"),
                           json={"text": WATER_2}), 409, "conflict")
    # the audit log: who, what, in order
    items = kb_client.get(f"/v1/incidents/{iid}/audit", headers=auth("editor")).get_json()["items"]
    actions = [(i["action"], i["actor"].split(":")[1]) for i in reversed(items)]
    assert actions == [("record", "agent"), ("link", "agent"), ("link", "agent"),
                       ("unlink", "agent"), ("mark", "agent"), ("merge", "editor"),
                       ("close", "editor")]
    assert all(i["actor"].startswith("api:") and i["at"] > 0 for i in items)


def test_endpoint_errors(kb_client):
    problem(kb_client.get("/v1/incidents"), 401, "unauthorized")
    problem(kb_client.post("/v1/incidents/orders", headers=auth("agent"), json={"region": "x"}),
            400, "invalid_input")
    problem(_record(kb_client, WATER_1, time="not a time"), 400, "bad_time")
    problem(kb_client.get("/v1/incidents/42", headers=auth("agent")), 404, "not_found")
    problem(kb_client.post("/v1/incidents/42/link", headers=auth("agent"), json={"order_id": 7}),
            404, "not_found")
    problem(kb_client.post("/v1/incidents/42/link", headers=auth("agent"), json={"note": "x"}),
            400, "invalid_input")
    problem(kb_client.get("/v1/incidents?status=gone", headers=auth("agent")), 400,
            "invalid_input")
    problem(kb_client.get("/v1/incidents/99999999999999999999", headers=auth("agent")), 404,
            "not_found")


def test_analyze_returns_the_incident_and_records_nothing(served_app):
    client = served_app.test_client()
    before = client.get("/v1/incidents?status=all&limit=500", headers=auth("agent")).get_json()
    r = client.post("/v1/analyze", headers=auth("agent"), json={"text": "翠湖花园突然停电了，整栋楼都没电"})
    assert r.status_code == 200 and r.get_json()["incident"] is None
    for text in ("翠湖花园停电了，整栋楼都没电", "我家在翠湖花园2栋，从中午开始停电"):
        assert client.post("/v1/incidents/orders", headers=auth("agent"),
                           json={"text": text}).status_code == 201
    r = client.post("/v1/analyze", headers=auth("agent"), json={"text": "翠湖花园突然停电了，整栋楼都没电"})
    inc = r.get_json()["incident"]
    assert inc["size"] == 2 and inc["confidence"] >= 0.5 and len(inc["examples"]) == 2
    after = client.get("/v1/incidents?status=all&limit=500", headers=auth("agent")).get_json()
    assert sum(i["size"] for i in after["items"]) == sum(i["size"] for i in before["items"]) + 2


def test_online_replay_groups_dev_csv_as_the_batch_linker(tmp_path):
    """One mechanism: recording dev.csv's reports one by one, in time order, through
    the desk (store, change feed, index) groups them exactly as `hotline incidents`."""
    from pathlib import Path

    from incidents import IncidentLinker
    from incidents.dataset import read_labelled

    _, reports, _ = read_labelled(Path(__file__).resolve().parents[1]
                                  / "training/data/incidents/dev.csv")
    reports = reports[:200]
    batch = IncidentLinker.load().link(reports)
    clock = {"now": 0.0}
    desk = IncidentDesk.open(f"sqlite:///{tmp_path / 'replay.sqlite3'}",
                             clock=lambda: clock["now"])
    online = [None] * len(reports)
    for i in sorted(range(len(reports)), key=lambda k: reports[k].time):
        r = reports[i]
        clock["now"] = r.time
        online[i] = desk.record({"text": r.text, "region": r.region}, "replay")["incident"]["id"]
    assert _partition(online) == _partition(batch)


def _partition(labels):
    groups = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    return sorted(groups.values())
