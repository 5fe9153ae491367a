"""HTTP service on a home with a real KB, a real ONNX embedder and a real index
(no classifier model): search, KB writes reaching search, reload atomicity."""
import shutil
import threading

import pytest

from foundation.artifacts import point_current, resolve_current
from server import create_app
from tests.conftest import auth, make_settings


@pytest.fixture(scope="module")
def app(search_home):
    return create_app(make_settings(search_home))


@pytest.fixture
def client(app):
    return app.test_client()


def test_search_returns_ranked_hits_with_highlights(client):
    r = client.post("/v1/search", headers=auth("agent"), json={"query": "小区路灯不亮了找谁", "k": 3})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert len(body["hits"]) == 3 and body["took_ms"] > 0
    top = body["hits"][0]
    assert top["id"].startswith("s-01-") and "路灯" in top["question"]
    assert isinstance(top["highlights"], dict)
    assert body["hits"][0]["score"] >= body["hits"][-1]["score"]


def test_get_search_is_the_post_search(client):
    """GET /v1/search?query=… answers exactly as the POST body would, and a bad
    parameter is a 400 naming it."""
    q = {"query": "小区路灯不亮了找谁", "k": 3}
    post = client.post("/v1/search", headers=auth("agent"), json=q).get_json()
    get = client.get("/v1/search", headers=auth("agent"), query_string=q)
    assert get.status_code == 200, get.get_data(as_text=True)
    assert [h["id"] for h in get.get_json()["hits"]] == [h["id"] for h in post["hits"]]
    bad = client.get("/v1/search", headers=auth("agent"), query_string={"query": "路灯", "k": "many"})
    assert bad.status_code == 400 and "k" in bad.get_data(as_text=True)
    assert client.get("/v1/search", headers=auth("agent")).status_code == 400   # no query
    assert client.get("/v1/search", query_string=q).status_code == 401


def test_search_filters_and_traditional_input(client):
    r = client.post("/v1/search", headers=auth("agent"),
                    json={"query": "居住證怎麼辦理", "k": 5, "department": "市公安局"})
    body = r.get_json()
    assert body["query"] == "居住证怎么办理"      # normalised (t2s)
    assert body["hits"] and all(h["department"] == ["市公安局"] for h in body["hits"])
    r = client.post("/v1/search", headers=auth("agent"),
                    json={"query": "公积金", "region": "东湖区", "k": 10})
    assert all(h["region"] in ("", "东湖区") for h in r.get_json()["hits"])


def test_readiness_is_partial_without_model(client):
    r = client.get("/readyz")
    assert r.status_code == 503
    comps = r.get_json()["components"]
    assert comps["search"]["loaded"] and comps["kb"]["loaded"] and not comps["classifier"]["loaded"]
    r = client.post("/v1/analyze", headers=auth("agent"), json={"text": "路灯坏了"})
    assert r.status_code == 503 and "classifier" in r.get_json()["detail"]


def test_kb_write_is_searchable_at_once(client):
    entry = {"id": "s-new", "question": "共享单车乱停放怎么投诉", "answer": "可向城管部门投诉。",
             "department": ["市城管局"], "category": ["市容"]}
    assert client.post("/v1/kb/entries", headers=auth("editor"), json=entry).status_code == 201
    hits = client.post("/v1/search", headers=auth("agent"),
                       json={"query": "共享单车乱停放", "k": 1}).get_json()["hits"]
    assert hits[0]["id"] == "s-new"
    r = client.delete("/v1/kb/entries/s-new", headers={**auth("editor"), "If-Match": '"1"'})
    assert r.status_code == 200
    hits = client.post("/v1/search", headers=auth("agent"),
                       json={"query": "共享单车乱停放", "k": 3}).get_json()["hits"]
    assert "s-new" not in [h["id"] for h in hits]


def test_reload_swaps_while_requests_run(app):
    """Search requests run in threads while an admin reloads twice; every
    request succeeds and the engine ends on a new snapshot."""
    engine = app.extensions["hotline"]["engine"]
    before = engine.snapshot
    errors, done = [], []
    stop = threading.Event()

    def worker():
        c = app.test_client()
        while not stop.is_set():
            r = c.post("/v1/search", headers=auth("agent"), json={"query": "医保报销", "k": 3})
            (done if r.status_code == 200 else errors).append(r.status_code)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    admin = app.test_client()
    settings = engine.settings
    reloaded = []
    try:
        for i in range(2):
            # Publish the index again (a copy under a new name), as a rebuild would.
            current = resolve_current(settings.index_root)
            shutil.copytree(current, settings.index_root / f"republished-{i}")
            point_current(settings.index_root, f"republished-{i}")
            r = admin.post("/v1/admin/reload", headers=auth("admin"))
            assert r.status_code == 200
            reloaded.append(r.get_json()["reloaded"])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors and len(done) >= 3
    assert all("search" in names and "kb" not in names for names in reloaded)
    assert engine.snapshot is not before and engine.snapshot.search is not before.search
    # A replaced service keeps serving the directory it was loaded from.
    assert before.search.directory != engine.snapshot.search.directory
    # Nothing published since: the next reload keeps every loaded object (this
    # home has no model, so only the classifier is tried again).
    same = engine.snapshot
    r = admin.post("/v1/admin/reload", headers=auth("admin")).get_json()
    assert r["reloaded"] == ["classifier"] and r["changed"] == []
    assert engine.snapshot.search is same.search and engine.snapshot.store is same.store


def _copy_home(src, dst, with_index=True):
    from tests.conftest import copy_home

    return copy_home(src, dst, leave_out=() if with_index else ("index",))


def test_failed_reload_keeps_serving_the_old_index(search_home, tmp_path):
    home = _copy_home(search_home, tmp_path / "home")
    app = create_app(make_settings(home))
    client = app.test_client()
    (home / "index" / "broken").mkdir()
    (home / "index" / "current").write_text("broken\n")
    r = client.post("/v1/admin/reload", headers=auth("admin"))
    comp = r.get_json()["components"]["search"]
    assert r.status_code == 200 and comp["loaded"] and "reload failed" in comp["problem"]
    r = client.post("/v1/search", headers=auth("agent"), json={"query": "停水", "k": 1})
    assert r.status_code == 200 and r.get_json()["hits"]


def test_index_built_after_start_is_picked_up_without_reload(search_home, tmp_path):
    from hotline.runtime import Engine
    from index.embedders import get_embedder
    from index.search import build_index
    from kb import KBStore

    home = _copy_home(search_home, tmp_path / "home", with_index=False)
    settings = make_settings(home)
    app = create_app(settings, engine=Engine(settings, follow_seconds=0))
    client = app.test_client()
    assert not client.get("/readyz").get_json()["components"]["search"]["loaded"]
    with KBStore(settings.kb_path) as store:
        build_index(store, get_embedder(settings.embedder, settings), settings, progress=False)
    assert client.get("/readyz").get_json()["components"]["search"]["loaded"]
    assert client.post("/v1/search", headers=auth("agent"), json={"query": "停水"}).status_code == 200


def test_index_built_after_start_is_loaded_without_any_request(search_home, tmp_path):
    import time

    from hotline.runtime import Engine
    from index.embedders import get_embedder
    from index.search import build_index
    from kb import KBStore

    home = _copy_home(search_home, tmp_path / "home", with_index=False)
    settings = make_settings(home)
    engine = Engine(settings, follow_seconds=0.2)
    assert engine._snapshot.search is None
    with KBStore(settings.kb_path) as store:
        build_index(store, get_embedder(settings.embedder, settings), settings, progress=False)
    deadline = time.monotonic() + 30
    while engine._snapshot.search is None and time.monotonic() < deadline:
        time.sleep(0.1)                      # no request touches the engine meanwhile
    assert engine._snapshot.search is not None


def test_no_request_waits_on_a_bulk_import(search_home, tmp_path):
    """Entries imported by another process (a CLI import) are applied to the
    index by the engine's follower, never by the request that notices them:
    requests keep answering from the loaded index until the catch-up is done."""
    from hotline.runtime import Engine
    from kb import KBStore

    home = _copy_home(search_home, tmp_path / "home")
    settings = make_settings(home)
    engine = Engine(settings, follow_seconds=0)
    client = create_app(settings, engine=engine).test_client()
    seq = engine.snapshot.search.status()["seq"]
    with KBStore(settings.kb_path) as store:
        for i in range(150):
            store.add({"id": f"bulk-{i}", "question": f"第{i}号批量导入的共享单车停放问题",
                       "answer": "批量导入。", "department": ["市交通运输局"]})
    r = client.post("/v1/search", headers=auth("agent"), json={"query": "共享单车停放", "k": 5})
    assert r.status_code == 200
    assert not any(h["id"].startswith("bulk-") for h in r.get_json()["hits"])
    assert engine.snapshot.search.status()["seq"] == seq          # the request applied nothing
    done = engine.follow_once()
    assert done["sync"]["added"] == 150
    r = client.post("/v1/search", headers=auth("agent"), json={"query": "共享单车停放", "k": 5})
    assert any(h["id"].startswith("bulk-") for h in r.get_json()["hits"])
