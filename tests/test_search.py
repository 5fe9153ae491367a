"""Search over a small real KB: real SQLite store, USE-m3 embedder (numpy or
ONNX), jieba, FAISS and bm25s. One index is built per module to stay fast;
tests that change the KB or publish an index work on their own copy of it."""
from __future__ import annotations

import json
import threading
import time

import pytest

from foundation.artifacts import resolve_current
from foundation.settings import Settings

ROWS = [
    {"id": "jzz", "question": "怎么办理居住证", "similar_questions": ["居住证在哪里办", "外地人办居住证要什么材料"],
     "answer": "携带身份证和居住证明到社区警务室或派出所办理居住证。", "department": ["市公安局"],
     "category": ["户籍", "居住证"]},
    {"id": "sbk", "question": "社保卡丢了怎么补办", "similar_questions": ["社会保险卡补办流程"],
     "answer": "到人社局窗口或海州通补办社保卡。", "department": ["市人社局"], "category": ["社保"],
     "region": "临江区"},
    {"id": "gjj", "question": "住房公积金怎么提取", "answer": "登录公积金网上大厅申请提取。",
     "department": ["市公积金中心"], "category": ["公积金"], "valid_to": "2020-01-01"},
    {"id": "ld", "question": "小区路灯坏了找谁修", "similar_questions": ["路灯不亮了"],
     "answer": "市政路灯由城管局维修。", "department": ["市城管局"], "category": ["市政", "路灯"]},
    {"id": "bus", "question": "K302路公交车几点收班", "answer": "K302路末班车21:30从火车站发车。",
     "department": ["市交通局"], "category": ["交通", "公交"]},
    {"id": "bus2", "question": "公交车末班车几点", "answer": "各线路末班时间见海州通。",
     "department": ["市交通局"], "category": ["交通", "公交"]},
    {"id": "draft", "question": "燃气费怎么交", "answer": "草稿", "status": "draft",
     "department": ["市城管局"]},
]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from index.embedders import get_embedder
    from index.search import build_index
    from kb import KBStore

    home = tmp_path_factory.mktemp("search")
    settings = Settings.load(overrides={"home": home}, env={})
    with KBStore(settings.kb_path) as store:
        for row in ROWS:
            store.add(row)
        build_index(store, get_embedder(settings.embedder, settings), settings, progress=False)
    return home


@pytest.fixture(scope="module")
def settings(home):
    return Settings.load(overrides={"home": home}, env={})


@pytest.fixture
def service(settings):
    from index.search import SearchService

    return SearchService(settings)


@pytest.fixture
def own_settings(home, tmp_path):
    """A copy of the module's home for a test that writes to the KB or the index."""
    from tests.conftest import copy_home

    copy_home(home, tmp_path / "home")
    return Settings.load(overrides={"home": tmp_path / "home"}, env={})


@pytest.fixture
def own_service(own_settings):
    from index.search import SearchService

    return SearchService(own_settings)


def ids(hits):
    return [h.id for h in hits]


def test_paraphrase_finds_entry_through_similar_question(service):
    hits = service.search("社会保险卡掉了怎么办", k=3)
    assert hits[0].id == "sbk"
    assert hits[0].highlights["question"]           # 社保 via synonym expansion, or 补办
    assert hits[0].matched in ("question", "similar")


def test_hit_fields_and_highlights(service):
    h = service.search("居住证怎么办理", k=1)[0]
    assert h.id == "jzz" and h.department == ["市公安局"] and h.category == ["户籍", "居住证"]
    assert "居住证" in h.highlights["question"] and "居住证" in h.highlights["answer"]
    d = h.to_dict()
    assert set(d) >= {"id", "score", "question", "answer", "department", "highlights", "matched"}


def test_rare_code_matches_exactly(service):
    assert service.search("K302几点收车", k=2)[0].id == "bus"


def test_drafts_never_indexed_and_expired_filtered(service):
    assert "draft" not in ids(service.search("燃气费怎么交", k=10))
    assert "gjj" not in ids(service.search("公积金提取", k=10))          # expired today
    from index.search import SearchFilters

    assert ids(service.search("公积金提取", k=1, filters=SearchFilters(now="2019-06-01"))) == ["gjj"]


def test_region_department_category_filters(service):
    from index.search import SearchFilters

    assert "sbk" not in ids(service.search("社保卡补办", k=10, filters=SearchFilters(region="东湖区")))
    assert ids(service.search("社保卡补办", k=1, filters=SearchFilters(region="临江区"))) == ["sbk"]
    got = ids(service.search("怎么办", k=10, filters=SearchFilters(department="市交通局")))
    assert got and set(got) <= {"bus", "bus2"}
    got = ids(service.search("坏了", k=10, filters=SearchFilters(category="路灯")))
    assert got == ["ld"]
    assert service.search("坏了", k=10, filters=SearchFilters(category="没有这个类")) == []


def test_modes_and_bad_input(service):
    from foundation.errors import EmptyText, InvalidInput

    for mode in ("dense", "lexical", "fused"):
        assert service.search("路灯不亮", k=2, mode=mode)[0].id == "ld"
    with pytest.raises(EmptyText):
        service.search("   ", k=3)
    with pytest.raises(InvalidInput):
        service.search("路灯", k=0)
    with pytest.raises(InvalidInput):
        service.search("路灯", k=3, mode="magic")


def test_incremental_add_edit_retire(own_settings, own_service):
    from kb import KBStore

    with KBStore(own_settings.kb_path) as store:
        store.add({"id": "noise", "question": "晚上工地施工噪音扰民怎么投诉",
                   "answer": "夜间施工噪音可拨打12345投诉。", "department": ["市生态环境局"]})
        # How fast a sync is (target 1 s) is bench/bench_search.py's to measure, not a test's.
        own_service.sync(store)
        assert own_service.search("半夜工地太吵了", k=1)[0].id == "noise"

        e = store.get("noise")
        store.update("noise", {"question": "养狗扰民怎么投诉", "similar_questions": ["邻居狗叫"]},
                     base_revision=e.revision)
        own_service.sync(store)
        assert own_service.search("邻居家的狗一直叫", k=1)[0].id == "noise"
        assert own_service.get("noise").question == "养狗扰民怎么投诉"

        store.retire("noise", base_revision=store.get("noise").revision)
        info = own_service.sync(store)
        assert info["removed"] == 1
        assert "noise" not in ids(own_service.search("邻居家的狗一直叫", k=10))
        assert own_service.sync(store)["changes"] == 0


def test_new_words_after_build_are_lexically_searchable(own_settings, own_service):
    from kb import KBStore

    with KBStore(own_settings.kb_path) as store:
        store.add({"id": "new-code", "question": "ZX9981号专项补贴怎么申请", "answer": "线上申请。"})
        own_service.sync(store)
        assert own_service.search("zx9981", k=1, mode="lexical")[0].id == "new-code"
        store.retire("new-code", base_revision=store.get("new-code").revision)
        own_service.sync(store)


def test_concurrent_search_and_sync(own_settings, own_service):
    from kb import KBStore

    errors, interpreter_races = [], []

    def searcher():
        for _ in range(20):
            try:
                own_service.search("路灯坏了", k=3)
            except SystemError as exc:  # pragma: no cover - reported below
                # CPython 3.11.7's AST state is shared between threads: a traceback
                # formatted in another thread (3.11 parses the source line for its
                # carets) can make this one raise "AST constructor recursion depth
                # mismatch" (python/cpython#106905, pytest-dev/pytest#10763). Seen
                # once in CI; not a search error, so the call is simply counted.
                is_race = "AST constructor recursion depth mismatch" in str(exc)
                (interpreter_races if is_race else errors).append(exc)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    with KBStore(own_settings.kb_path) as store:
        for i in range(3):
            store.add({"id": f"c{i}", "question": f"第{i}号测试问题路灯", "answer": "测试"})
            own_service.sync(store)
        for i in range(3):
            store.retire(f"c{i}", base_revision=store.get(f"c{i}").revision)
        own_service.sync(store)
    for t in threads:
        t.join()
    assert not errors
    assert len(interpreter_races) <= 1, interpreter_races
    assert not {"c0", "c1", "c2"} & set(ids(own_service.search("测试问题路灯", k=10)))


def test_embedder_mismatch_is_refused(settings):
    from index.search import EmbedderMismatch, SearchService

    class Other:
        name, dim, identity = "other", 512, "other-model/v9"

    with pytest.raises(EmbedderMismatch, match="other-model/v9"):
        SearchService(settings, embedder=Other())


def test_failed_build_leaves_old_index_serving(own_settings, own_service):
    from index.search import BuildFailed, build_index
    from kb import KBStore

    class Broken:
        name, dim, identity = "use", 512, own_service.embedder.identity

        def embed(self, texts, kind="query"):
            raise RuntimeError("embedder exploded")

    before = resolve_current(own_settings.index_root)
    with KBStore(own_settings.kb_path) as store, pytest.raises(BuildFailed, match="exploded"):
        build_index(store, Broken(), own_settings, progress=False)
    assert resolve_current(own_settings.index_root) == before
    leftovers = [p for p in own_settings.index_root.iterdir() if p.name.startswith(".")
                 and p.name != ".current"]
    assert not [p for p in leftovers if p.is_dir()]
    assert own_service.search("路灯坏了", k=1)[0].id == "ld"


def test_engine_swaps_to_a_new_build_while_the_old_one_serves(own_settings):
    """Following ``current`` is the runtime's job: a service serves the directory
    it was loaded from, and the engine loads a newer build beside it."""
    from hotline.runtime import Engine
    from index.search import build_index
    from kb import KBStore

    engine = Engine(own_settings, follow_seconds=0)
    before = engine.snapshot.search
    old = before.directory
    with KBStore(own_settings.kb_path) as store:
        new = build_index(store, before.embedder, own_settings, progress=False)
    assert before.search("路灯坏了", k=1)[0].id == "ld"     # the old one still serves
    done = engine.follow_once()
    assert done["reloaded"] == ["search"]
    after = engine.snapshot.search
    assert after is not before and after.directory == new != old == before.directory
    assert after.search("路灯坏了", k=1)[0].id == "ld"
    assert engine.follow_once()["reloaded"] == []        # nothing more to do


def test_engine_follower_thread_picks_up_a_new_build(own_settings):
    from hotline.runtime import Engine
    from index.search import build_index
    from kb import KBStore

    engine = Engine(own_settings, follow_seconds=0.1)
    before = engine.snapshot.search
    with KBStore(own_settings.kb_path) as store:
        new = build_index(store, before.embedder, own_settings, progress=False)
    deadline = time.monotonic() + 60
    while engine.snapshot.search.directory != new and time.monotonic() < deadline:
        assert engine.snapshot.search.search("路灯坏了", k=1)[0].id == "ld"
        time.sleep(0.05)
    assert engine.snapshot.search.directory == new


def test_cli_search_queries_jsonl(settings, tmp_path, capsys):
    from hotline.cli.main import main

    qfile = tmp_path / "q.txt"
    qfile.write_text("路灯不亮了\n社保卡丢了\n" + "长" * 5000 + "\n", encoding="utf-8")
    assert main(["--home", str(settings.home), "search", "--queries", str(qfile),
                 "--k", "3", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["query"] for x in lines][:2] == ["路灯不亮了", "社保卡丢了"]
    assert lines[0]["hits"][0]["id"] == "ld" and set(lines[0]["hits"][0]) == {"id", "score"}
    assert len(lines[0]["hits"]) == 3
    assert lines[2]["hits"] == [] and "error" in lines[2]
    assert main(["--home", str(settings.home), "index", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["embedder"] == settings.embedder and status["current"]


def test_engine_refuses_to_swap_to_index_of_another_embedder(own_settings):
    import shutil

    from foundation.artifacts import point_current, read_manifest, write_json_atomic
    from hotline.runtime import Engine

    engine = Engine(own_settings, follow_seconds=0)
    src = resolve_current(own_settings.index_root)
    other = own_settings.index_root / "idx-other-embedder"
    shutil.copytree(src, other)
    m = read_manifest(other)
    m["embedder_identity"] = "some-other-model/v1"
    write_json_atomic(other / "manifest.json", m)
    point_current(own_settings.index_root, other.name)
    engine.follow_once()
    snap = engine.snapshot
    assert "some-other-model/v1" in snap.warnings["search"]
    assert snap.search.directory == src and snap.search.search("路灯坏了", k=1)[0].id == "ld"
    assert engine.follow_once()["reloaded"] == []       # not retried until the pointer moves
    point_current(own_settings.index_root, src.name)
    assert engine.follow_once()["reloaded"] == ["search"]
    assert "search" not in engine.snapshot.warnings


def test_saved_grams_columns_and_fitted_bm25_load_like_a_recompute(settings, service, tmp_path):
    import shutil

    from index.search import SearchService
    from index.search.build import CHARS_DIR, ENTRY_COLUMNS, TERMS_DIR
    from index.search.lexical import DIR, FITTED
    from index.search.types import SearchFilters

    current = resolve_current(settings.index_root)
    for part in (CHARS_DIR, TERMS_DIR):
        assert (current / part / "indptr.npy").is_file()
    assert (current / DIR / FITTED).is_dir()
    assert (current / ENTRY_COLUMNS).is_file()
    old = tmp_path / "old-format"
    shutil.copytree(current, old)
    shutil.rmtree(old / CHARS_DIR)
    shutil.rmtree(old / TERMS_DIR)
    shutil.rmtree(old / DIR / FITTED)
    (old / ENTRY_COLUMNS).unlink()
    recomputed = SearchService(settings, index_dir=old)
    fresh = SearchService(settings, index_dir=current)
    assert not fresh._state.entries._parsed      # a load parses no entry; a hit parses its own
    assert fresh._state.cols.to_dict() == recomputed._state.cols.to_dict()
    for q in ("居住证在哪办", "K302末班车", "路灯不亮", "社保卡补办"):
        a = [(h.id, round(h.score, 6), h.highlights) for h in fresh.search(q, k=5)]
        b = [(h.id, round(h.score, 6), h.highlights) for h in recomputed.search(q, k=5)]
        assert a == b and a
    district = SearchFilters(region="临江区")
    assert ([h.id for h in fresh.search("路灯不亮", k=5, filters=district)]
            == [h.id for h in recomputed.search("路灯不亮", k=5, filters=district)])


def test_a_background_index_load_is_paced_and_warmed(settings, monkeypatch):
    from foundation import gcpacing
    from hotline.runtime import Engine

    slept = []
    monkeypatch.setattr(gcpacing, "_sleep", slept.append)
    engine = Engine(settings, follow_seconds=0)
    assert slept == []                                   # start-up loads: no pauses
    engine._swap(["search"], paced=True)                 # what the follower does on a publish
    assert len(slept) >= 5 and all(0 <= s <= gcpacing.MAX_PAUSE for s in slept)  # between steps
    state = engine.snapshot.search._state
    assert state._sums is not None and state._mask_cache   # the first search pays nothing extra


def test_prepare_segments_beside_the_embedding_like_inline(service):
    import numpy as np

    from index.search.state import prepare

    entries = list(service._state.entries)[:6]
    threaded = prepare(entries, service.embedder, service.tokenizer, False, batch_size=4)
    inline = prepare(entries, service.embedder, service.tokenizer, False)
    assert len(threaded.rows) > 4                      # more than one batch: the threaded path
    assert threaded.terms == inline.terms and any(threaded.terms)
    assert np.allclose(threaded.vectors, inline.vectors, atol=1e-4)


@pytest.mark.slow
def test_cli_index_build_exports_the_embedder_first(tmp_path, capsys):
    """A fresh home with only a KB: `hotline index build` exports the embedder
    (ONNX) before embedding, instead of the slow numpy fallback."""
    from foundation.artifacts import read_manifest
    from hotline.cli.main import main
    from kb import KBStore

    settings = Settings.load(overrides={"home": tmp_path}, env={})
    with KBStore(settings.kb_path) as store:
        for row in ROWS:
            store.add(row)
    assert main(["--home", str(tmp_path), "index", "build"]) == 0
    assert read_manifest(settings.embedders_root / "use")["backend"] == "onnxruntime"
    assert "built " in capsys.readouterr().out
