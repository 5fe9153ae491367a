"""Demo KB generator: determinism, size, uniqueness, coverage, files, dictionary."""
from __future__ import annotations

import collections
import csv
import json

import pytest

from foundation.settings import Settings
from kb.demo import build_demo, generate
from kb.demo.departments import DEPARTMENTS
from kb.demo.generate import SERVICES
from kb.demo.work_orders import generate_work_orders


@pytest.fixture(scope="module")
def full():
    return generate(0)


def test_full_demo_size_unique_questions_and_department_coverage(full):
    entries = full.entries
    published = [e for e in entries if e["status"] == "published"]
    assert len(published) >= 23_000
    questions = [e["question"] for e in entries]
    assert len(set(questions)) == len(questions)
    assert len({e["id"] for e in entries}) == len(entries)
    names = {d.name for d in DEPARTMENTS.values()}
    used = collections.Counter(d for e in entries for d in e["department"])
    assert set(used) == names, f"departments without entries: {names - set(used)}"
    for e in entries[::97]:
        assert 1 <= len(e["category"]) <= 3
        assert len(e["similar_questions"]) >= 2
        assert e["question"] not in e["similar_questions"]
        assert e["region"] == "" or e["region"].endswith("区")
    # Validity: some expired, some future, most open-ended.
    vt = [e["valid_to"] for e in entries if e["valid_to"]]
    assert any(v < "2026-01-01" for v in vt)
    assert any((e["valid_from"] or "") > "2027-01-01" or (e["valid_from"] or "") >= "2027" for e in entries)
    assert sum(1 for e in entries if not e["valid_to"]) > 0.9 * len(entries)


def test_small_scale_is_deterministic_and_a_subset_of_full(full):
    a, b = generate(0, scale=0.02), generate(0, scale=0.02)
    assert a.entries == b.entries
    by_id = {e["id"]: e for e in full.entries}
    for e in a.entries:
        assert by_id[e["id"]] == e
    assert generate(1, scale=0.02).entries != a.entries   # the seed matters


def test_work_order_mix_and_labels():
    rows = generate_work_orders(list(SERVICES), seed=0, n=2000, min_per_dept=3)
    types = collections.Counter(r["type"] for r in rows)
    n = len(rows)
    assert abs(types["complaint"] / n - 0.55) < 0.05
    assert abs(types["consult"] / n - 0.25) < 0.05
    assert abs(types["fault"] / n - 0.20) < 0.05
    depts = collections.Counter(r["department"] for r in rows)
    assert set(depts) == {d.name for d in DEPARTMENTS.values()}
    assert min(depts.values()) >= 3
    assert rows == generate_work_orders(list(SERVICES), seed=0, n=2000, min_per_dept=3)


def test_build_small_demo_writes_files_and_imports(tmp_path):
    import kb
    from kb.taxonomy import load_taxonomy

    settings = Settings.load(overrides={"home": tmp_path / "home"}, env={})
    summary = build_demo(settings, seed=0, scale=0.02, progress=False)
    demo = settings.demo_dir
    tax = load_taxonomy(demo / "departments.json")
    assert len(tax) == summary["departments"] >= 45
    store = kb.KBStore(settings.kb_path, taxonomy=tax)
    assert store.count() == summary["entries"]
    assert store.count(status="published") == summary["published"]
    ids = {e.id for e in store.iter_entries(status="published")}
    for e in store.iter_entries():
        assert all(d in tax for d in e.department)
    with open(demo / "work_orders.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {"title", "detail", "type", "department"}
    assert {r["department"] for r in rows} <= set(tax.names)
    assert {r["department"] for r in rows} == set(tax.names)
    queries = [json.loads(line) for line in (demo / "search_queries.jsonl").read_text("utf-8").splitlines()]
    assert len(queries) == summary["queries"] > 0
    assert all(q["id"] in ids for q in queries)
    sims = {s for e in store.iter_entries() for s in [e.question, *e.similar_questions]}
    assert not any(q["query"] in sims for q in queries)
    store.close()
    files = {p.name: p.read_bytes() for p in demo.iterdir()}
    build_demo(settings, seed=0, scale=0.02, progress=False)
    assert files == {p.name: p.read_bytes() for p in demo.iterdir()}


def test_dictionary_files_load_in_tokenizer():
    from index.text.tokenizer import STOPWORDS, SYNONYMS, USER_DICT, Tokenizer

    lines = [l.split() for l in USER_DICT.read_text("utf-8").splitlines() if l.strip()]
    assert len(lines) >= 2000
    assert all(len(parts) == 3 and parts[1].isdigit() for parts in lines)
    assert len(SYNONYMS.read_text("utf-8").splitlines()) >= 200
    stop = set(STOPWORDS.read_text("utf-8").split())
    assert {"那个", "就是", "然后", "喂", "您好"} <= stop
    tok = Tokenizer()
    for word in ("积分落户", "一网通办", "公积金", "不动产登记", "城乡居民医保", "灵活就业"):
        assert word in tok.cut(f"我想问{word}怎么办"), word
    assert "社会保险" in tok.expand(["社保"])
    assert "那个" not in tok.terms("喂你好，那个就是我想问一下公积金")


def test_transit_orders_come_after_the_others_and_leave_them_unchanged(monkeypatch):
    import kb.demo.work_orders as wo

    services = list(SERVICES)
    with_transit = generate_work_orders(services, seed=0, n=400, min_per_dept=3)
    monkeypatch.setattr(wo, "TRANSIT_SHARE", 0.0)
    without = generate_work_orders(services, seed=0, n=400, min_per_dept=3)
    extra = with_transit[len(without):]
    assert with_transit[:len(without)] == without and len(extra) == round(400 * 0.06)
    operators = {DEPARTMENTS["gjjt"].name, DEPARTMENTS["dtjt"].name}
    assert {r["department"] for r in extra} <= operators
    assert collections.Counter(r["type"] for r in extra) == {"consult": 12, "complaint": 12}
    assert any("路" in r["title"] + r["detail"] for r in extra if r["type"] == "complaint")
