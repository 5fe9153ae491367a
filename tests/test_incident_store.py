"""The incident store (incidents/store.py) over SQLAlchemy Core, and the online
index that follows its change feed (incidents/online.py).

Runs on SQLite files and on a fresh database of the session's real PostgreSQL
(tests/pg.py)."""
from __future__ import annotations


import pytest

from foundation.errors import Conflict, InvalidInput, NotFound
from incidents.online import IncidentDesk, text_hash
from incidents.store import IncidentStore, metadata

NOW = 500_000.0   # hours since 1970: a fixed "now" (2027-01-14)
WATER_1 = "幸福小区停水了，一滴水都没有，什么时候来水"
WATER_2 = "我住幸福小区5栋，从早上到现在一直没水"
WATER_3 = "幸福小区东门这边也停水了，请问什么时候恢复供水"
LIFT = "幸福小区3栋电梯坏了，老人被困在里面"


@pytest.fixture(params=["sqlite", "pg"])
def url(request, tmp_path):
    """The store on a SQLite file and on a fresh database of the session's real
    PostgreSQL (tests/pg.py; skipped only where initdb is not installed)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'incidents.sqlite3'}"
    return request.getfixturevalue("pg_url")


def desk_at(url, hours=NOW):
    clock = {"now": hours}
    desk = IncidentDesk.open(url, clock=lambda: clock["now"])
    return desk, clock


def fields(text, region="海州区", **kw):
    return {"text": text, "region": region, **kw}


def test_record_link_move_unlink_merge_close_with_audit(url):
    desk, _ = desk_at(url)
    store = desk.store
    a = desk.record(fields(WATER_1, type="投诉", department="水务集团", note="已报抢修"), "api:agent:a1")
    assert not a["linked"] and a["incident"]["size"] == 1
    iid = a["incident"]["id"]
    b = desk.record(fields(WATER_2), "api:agent:a2")
    assert b["linked"] and b["incident"]["id"] == iid and b["incident"]["size"] == 2
    inc = store.incident(iid)
    assert inc["department"] == "水务集团" and inc["note"] == "已报抢修"
    assert inc["note_order_id"] == a["order_id"] and inc["last_order_id"] == b["order_id"]
    assert inc["first_seen"] == NOW and inc["closes_at"] == NOW + 48   # outage: 48 h
    # a new order forced into its own incident, then linked by the agent
    c = desk.record(fields(WATER_3), "api:agent:a1", new=True)
    assert c["incident"]["id"] != iid and c["incident"]["size"] == 1
    moved = desk.link(iid, "api:agent:a1", order_id=c["order_id"])
    assert moved["incident"]["size"] == 3
    assert store.incident(c["incident"]["id"])["size"] == 0
    # unlink: its own incident again, and remembered as "not the same"
    out = desk.unlink(iid, c["order_id"], "api:agent:a1")
    assert out["incident"]["size"] == 2 and out["new_incident"]["size"] == 1
    assert any(m["order_id"] == c["order_id"] for m in store.marks_of([iid]))
    with pytest.raises(InvalidInput):
        desk.unlink(iid, c["order_id"], "api:agent:a1")   # not in it any more
    # merge the separate one back; merging again or into a closed incident conflicts
    other = out["new_incident"]["id"]
    merged = desk.merge(iid, other, "api:editor:e1")
    assert merged["incident"]["size"] == 3
    assert store.incident(other)["status"] == "merged"
    with pytest.raises(Conflict):
        desk.merge(iid, other, "api:editor:e1")
    desk.close(iid, "api:editor:e1")
    with pytest.raises(Conflict):
        desk.link(iid, "api:agent:a1", fields=fields(WATER_2))
    with pytest.raises(NotFound):
        desk.get(999_999)
    actions = [(r["action"], r["actor"]) for r in reversed(store.audit_log(iid))]
    assert actions == [("record", "api:agent:a1"), ("link", "api:agent:a2"),
                       ("move", "api:agent:a1"), ("unlink", "api:agent:a1"),
                       ("merge", "api:editor:e1"), ("close", "api:editor:e1")]


def test_texts_are_stored_masked(url):
    desk, _ = desk_at(url)
    out = desk.record(fields("幸福小区停水了，我电话13812345678，一滴水都没有"), "t")
    assert "13812345678" not in out["incident"]["examples"][0]["text"]


def test_listing_open_by_region_and_window(url):
    desk, clock = desk_at(url)
    desk.record(fields(WATER_1), "t")
    desk.record(fields("金海花园停电了，整栋楼都没电", region="连云区"), "t")
    assert {i["region"] for i in desk.list("open")} == {"海州区", "连云区"}
    assert [i["region"] for i in desk.list("open", region="连云区")] == ["连云区"]
    clock["now"] = NOW + 49       # past the outage windows
    assert desk.list("open") == []
    assert len(desk.list(None)) == 2
    assert all(i["status"] == "closed" for i in desk.list(None))


def test_a_second_process_follows_the_change_feed(url):
    """Two desks on one store (two workers): what one writes, the other decides on."""
    a, _ = desk_at(url)
    b, _ = desk_at(url)
    first = a.record(fields(WATER_1), "t")
    a.record(fields(WATER_2), "t")
    match = b.match(WATER_3, "海州区")
    assert match and match["id"] == first["incident"]["id"] and match["size"] == 2
    b.index.catch_up()   # re-reads recent audit ids (commit-order lag): applied once only
    assert len(b.index._live[first["incident"]["id"]].members) == 2
    a.not_same(first["incident"]["id"], "t", text=WATER_3)
    assert b.match(WATER_3, "海州区") is None
    a.close(first["incident"]["id"], "t")
    assert b.match("幸福小区5栋也停水了，一直没水", "海州区") is None


def test_a_restarted_process_loads_open_incidents_and_marks(url):
    a, _ = desk_at(url)
    iid = a.record(fields(WATER_1), "t")["incident"]["id"]
    a.record(fields(WATER_2), "t")
    a.store.mark(iid, "t", text_hash=text_hash(WATER_3))
    b, _ = desk_at(url)          # a fresh process: the index is built from the store
    assert len(b.index) == 1
    assert b.match(WATER_3, "海州区") is None
    assert b.match("幸福小区5栋也停水了，一直没水", "海州区")["id"] == iid


def test_store_accepts_an_engine(tmp_path):
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    store = IncidentStore(engine)
    assert store.last_change() == 0 and store.incidents() == []


def test_decisions_read_the_feed_at_most_every_refresh_s(url):
    a, _ = desk_at(url)
    b = IncidentDesk.open(url, clock=lambda: NOW, refresh_s=3600)
    first = a.record(fields(WATER_1), "t")
    a.record(fields(WATER_2), "t")
    assert b.match(WATER_3, "海州区") is None          # b read the feed when it opened
    # recording reads it first whatever refresh_s says: the order joins a's incident
    out = b.record(fields(WATER_3), "t")
    assert out["linked"] and out["incident"]["id"] == first["incident"]["id"]
