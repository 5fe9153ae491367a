"""Places (index/text/places.py) and the place fusion feature: a small real
index (USE-m3, jieba, bm25s) of entries that differ only in the place they are
about — provinces in a policy KB, districts (the ``region`` column) in a city's."""
from __future__ import annotations

from dataclasses import replace

import pytest

from index.text import normalize
from index.text.places import GAZETTEER, LEVELS, PlaceLexicon, get_places

POLICY = {
    "shaanxi": "陕西省对小微企业有哪些扶持政策？",
    "shanxi": "山西省对小微企业有哪些扶持政策？",
    "hubei": "湖北省对小微企业有哪些扶持政策？",
    "wuhan": "武汉市对小微企业有哪些扶持政策？",
    "national": "国家对小微企业有哪些扶持政策？",
}
# The same question for two districts, told apart only by the region column.
DISTRICTS = [("heat-donghu", "东湖区"), ("heat-linjiang", "临江区")]


@pytest.fixture(scope="module")
def state():
    from index.search import build_state
    from index.text import get_tokenizer
    from kb.entry import Entry

    entries = [Entry(id=i, question=q) for i, q in POLICY.items()]
    entries += [Entry(id=i, question="小区暖气不热找谁处理？", region=r) for i, r in DISTRICTS]
    return build_state(entries, _embedder(), get_tokenizer())


def _embedder():
    from foundation.settings import Settings
    from index.embedders import get_embedder

    settings = Settings.load(env={})
    return get_embedder(settings.embedder, settings)


def _candidates(state, query):
    from index.text import get_tokenizer

    tok = get_tokenizer()
    text = normalize(query)
    qvec = _embedder().embed([text], kind="query")[0]
    _, rows, feats = state.candidates(qvec, text, tok.terms(text), tok.synonyms, 7)
    return rows, feats


def _column(state, query, col: int) -> dict[str, float]:
    """{entry id: feature ``col``} of the query's candidate rows."""
    rows, feats = _candidates(state, query)
    return {state.entries[state.row_entry[r]].id: float(f) for r, f in zip(rows, feats[:, col])}


def _search(state, query, weights=None) -> tuple[dict[str, float], dict[str, float]]:
    """({entry id: fused score} best first, {entry id: place conflict})."""
    rows, feats = _candidates(state, query)
    scores = {state.entries[e].id: s for e, s, _ in
              state.rank(rows, feats, 7, "fused", weights or state.weights)}
    return scores, _column(state, query, 7)


def _ranking(state, query, weights=None):
    scores, conflict = _search(state, query, weights)
    return list(scores), conflict


# ------------------------------------------------------------------ gazetteer
def test_the_shipped_gazetteer_is_consistent():
    lex = get_places()
    lines = [ln.rstrip("\n").split("\t") for ln in GAZETTEER.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    provinces = {name for name, _, level in lines if level == "province"}
    assert len(provinces) == 34
    assert all(level in LEVELS for _, _, level in lines)
    assert all(parent in provinces for _, parent, _ in lines if parent)
    assert all(len(name) >= 2 for name in lex.parents)
    assert "湖北" in lex.closure({"武汉"}) and lex.closure({"湖北"}) == {"湖北"}


def test_the_longest_name_at_a_position_wins():
    lex = get_places()
    assert lex.places("上海南站附近") == {"上海"}            # not 海南
    assert lex.places("陕西省企业审批") == {"陕西"}          # not 山西
    assert lex.places(normalize("廣州市不動產登記")) == {"广州"}
    assert lex.places("小区停水了什么时候恢复") == frozenset()


def test_a_place_agrees_with_where_it_lies_and_what_lies_in_it():
    lex = get_places()
    p = lex.places
    assert not lex.conflicts(p("湖南热线"), p("长沙市热线电话"))     # the city is in the province
    assert not lex.conflicts(p("长沙热线"), p("湖南省热线电话"))     # the province covers the city
    assert lex.conflicts(p("陕西审批"), p("山西省审批"))
    assert lex.conflicts(p("武汉小区封闭"), p("苏州市小区封闭"))
    assert not lex.conflicts(frozenset(), p("苏州市小区封闭"))      # the query names none
    assert not lex.conflicts(p("武汉小区封闭"), frozenset())        # a national entry


def test_a_kb_adds_its_regions_as_places():
    lex = get_places().with_regions(["临江区", "东湖区", "", "x"])
    assert lex.places("临江区暖气不热") == {"临江区"}
    assert lex.conflicts(lex.places("临江区暖气不热"), lex.places("东湖区"))
    assert get_places().places("临江区暖气不热") == frozenset()     # the shipped one is untouched
    assert get_places().with_regions(["北京"]) is get_places()      # nothing new


def test_a_region_is_also_named_without_its_suffix():
    lex = get_places().with_regions(["临江区", "东湖区", "荷塘镇", "红星街道", "高新区", "南区"])
    assert lex.places("我们临江这里停水了") == {"临江区"}
    assert lex.places("荷塘那边") == {"荷塘镇"} and lex.places("红星这边") == {"红星街道"}
    assert lex.places("高新") == {"高新区"}
    assert lex.places("南边") == frozenset()                        # 南区's stem is one character
    # a stem two regions share names neither
    both = get_places().with_regions(["东湖区", "东湖县"])
    assert both.places("东湖那边") == frozenset() and both.places("东湖县") == {"东湖县"}
    # a stem that is a gazetteer place keeps meaning that place
    wuhan = get_places().with_regions(["武汉市"])
    assert wuhan.places("武汉") == wuhan.places("武汉市江汉区") == {"武汉"}
    assert not wuhan.conflicts(wuhan.places("武汉市"), wuhan.places("湖北省"))


@pytest.mark.parametrize("line, message", [("湖南\t\tstate", "LEVEL one of"),
                                           ("沪\t\tprovince", "one-character"),
                                           ("no tabs", "NAME<TAB>PARENT<TAB>LEVEL")])
def test_bad_gazetteer_lines_are_named(line, message):
    with pytest.raises(ValueError, match=message) as err:
        PlaceLexicon.parse(["湖北\t\tprovince", line])
    assert "line 2" in str(err.value)


# ------------------------------------------------------------------ ranking
def test_the_entry_of_the_named_place_ranks_first(state):
    assert state.weights.place > 0
    ranked, conflict = _ranking(state, "山西那边小微企业有啥扶持")
    assert ranked[0] == "shanxi", ranked
    assert conflict["shaanxi"] == conflict["hubei"] == conflict["wuhan"] == 1.0
    assert conflict["shanxi"] == conflict["national"] == 0.0


def test_a_city_query_keeps_its_province_and_the_national_entry(state):
    ranked, conflict = _ranking(state, "武汉的小微企业有什么扶持")
    assert ranked[0] == "wuhan", ranked
    assert conflict["hubei"] == conflict["national"] == 0.0
    assert conflict["shanxi"] == 1.0
    assert ranked.index("hubei") < ranked.index("shanxi")


def test_a_district_told_only_by_the_region_column(state):
    ranked, conflict = _ranking(state, "临江区小区暖气不热")
    assert conflict == {**conflict, "heat-donghu": 1.0, "heat-linjiang": 0.0}
    assert ranked.index("heat-linjiang") < ranked.index("heat-donghu")
    # what the feature fixes: without it the two districts score the same
    scores, _ = _search(state, "临江区小区暖气不热", replace(state.weights, place=0.0))
    assert scores["heat-donghu"] == scores["heat-linjiang"]
    scores, _ = _search(state, "临江区小区暖气不热")
    assert scores["heat-linjiang"] - scores["heat-donghu"] == pytest.approx(state.weights.place)


def test_a_query_naming_no_place_prefers_the_entry_naming_none(state):
    _, conflict = _ranking(state, "小微企业有哪些扶持政策")
    assert set(conflict.values()) == {0.0}
    unasked = _unasked(state, "小微企业有哪些扶持政策")
    assert unasked["national"] == 0.0
    assert unasked["shanxi"] == unasked["wuhan"] == unasked["heat-donghu"] == 1.0
    assert state.weights.unasked_place > 0
    scores, _ = _search(state, "小微企业有哪些扶持政策")
    plain, _ = _search(state, "小微企业有哪些扶持政策", replace(state.weights, unasked_place=0.0))
    assert plain["shanxi"] - scores["shanxi"] == pytest.approx(state.weights.unasked_place)
    assert plain["national"] == scores["national"]
    # a query that names a place never gets this column
    assert set(_unasked(state, "山西那边小微企业有啥扶持").values()) == {0.0}


def _unasked(state, query) -> dict[str, float]:
    return _column(state, query, 8)


def test_a_region_added_later_becomes_a_place(state):
    from index.search import build_state
    from index.search.state import prepare
    from index.text import get_tokenizer
    from kb.entry import Entry

    s = build_state([Entry(id="a", question="小区暖气不热找谁处理？", region="东湖区")],
                    _embedder(), get_tokenizer())
    assert s.places.places("白鹭区暖气不热") == frozenset()
    s.apply(prepare([Entry(id="b", question="小区暖气不热找谁处理？", region="白鹭区")],
                    _embedder(), get_tokenizer(), include_answers=False))
    assert s.places.places("白鹭区暖气不热") == {"白鹭区"}
    ranked, conflict = _ranking(s, "白鹭区暖气不热")
    assert ranked[0] == "b" and conflict["a"] == 1.0


def test_an_index_saved_before_the_feature_takes_the_encoder_default(state, tmp_path):
    import json

    from index.search.build import load_state, save_state
    from index.search.fusion import FusionWeights

    emb = _embedder()
    save_state(state, tmp_path, embedder=emb.name, embedder_identity=emb.identity)
    saved = json.loads((tmp_path / "fusion.json").read_text(encoding="utf-8"))
    del saved["place"]
    (tmp_path / "fusion.json").write_text(json.dumps(saved), encoding="utf-8")
    loaded, _ = load_state(tmp_path, emb)
    assert loaded.weights.place == FusionWeights.for_embedder(emb.name).place > 0
    ranked, conflict = _ranking(loaded, "山西那边小微企业有啥扶持")
    assert ranked[0] == "shanxi" and conflict == _ranking(state, "山西那边小微企业有啥扶持")[1]


def test_a_saved_index_keeps_its_entries_places(state, tmp_path):
    import json

    from index.search.build import ENTRY_PLACES, PLACE_SETS, load_state, save_state

    import numpy as np

    emb = _embedder()
    (tmp_path / "kept").mkdir()
    (tmp_path / "other").mkdir()
    save_state(state, tmp_path / "kept", embedder=emb.name, embedder_identity=emb.identity)
    loaded, _ = load_state(tmp_path / "kept", emb)
    # Known on load: no entry is parsed for its places on the first search.
    assert (loaded._entry_place_set >= 0).all() and len(loaded._entry_place_set) == 7
    everyone = list(range(7))
    assert loaded.entry_places(everyone) == state.entry_places(everyone)
    assert loaded.entry_places([0])[0][0] == {"陕西"}
    assert loaded.entry_places([6])[0][0] == {"临江区"}            # from the region column
    # Found with another lexicon (another gazetteer, other regions): found again.
    save_state(state, tmp_path / "other", embedder=emb.name, embedder_identity=emb.identity)
    sets = json.loads((tmp_path / "other" / PLACE_SETS).read_text(encoding="utf-8"))
    sets["lexicon"] = "places/0000000000000000"
    sets["sets"] = [[]] * len(sets["sets"])
    (tmp_path / "other" / PLACE_SETS).write_text(json.dumps(sets), encoding="utf-8")
    other, _ = load_state(tmp_path / "other", emb)
    assert (other._entry_place_set < 0).all()
    assert other.entry_places(everyone) == state.entry_places(everyone)
    assert _ranking(other, "山西那边小微企业有啥扶持") == _ranking(state, "山西那边小微企业有啥扶持")
    # Numbers that name no saved set are refused, not indexed out of range.
    assert not other.restore_places({"lexicon": loaded.places.identity, "sets": [[], ["陕西"]]},
                                    np.full(7, 5))
    assert (tmp_path / "kept" / ENTRY_PLACES).is_file()


def test_the_lexicon_identity_follows_its_names():
    base = get_places()
    assert base.identity == PlaceLexicon.load().identity
    assert base.with_regions(["临江区"]).identity not in (base.identity,
                                                       base.with_regions(["东湖区"]).identity)
