"""Question aspects (index/text/aspects.py) and the aspect fusion feature:
a small real index (USE-m3, jieba, bm25s) of entries that differ only in what
they ask about a service."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from index.text import normalize
from index.text.aspects import AspectLexicon, get_aspects

# Pairs of one service that differ only in aspect, plus other services.
QUESTIONS = {
    "sbk-apply-mat": "社会保障卡申领需要准备哪些材料？",
    "sbk-swap-mat": "社会保障卡补换需要准备哪些材料？",
    "sbk-apply-how": "社会保障卡申领怎么办理？",
    "sbk-swap-how": "社会保障卡补换怎么办理？",
    "jzz-time": "居住证办理多长时间能办好？",
    "jzz-where": "居住证在哪里办理？",
    "jzz-online": "居住证可以在网上办理吗？",
    "jzz-mat": "居住证需要准备哪些材料？",
    "gjj-how": "公积金提取怎么办理？",
    "gjj-fee": "公积金提取收费吗？收费标准是多少？",
    "gjj-reject": "公积金提取申请被退回或审核不通过怎么办？",
}
# query -> the entry it asks for
QUERIES = {
    "社保卡丢了要带什么证件": "sbk-swap-mat",
    "居住证办下来要等多久": "jzz-time",
    "居住证网上能办吗": "jzz-online",
    "提取公积金给我打回来了咋整": "gjj-reject",
}


@pytest.fixture(scope="module")
def state():
    from foundation.settings import Settings
    from index.embedders import get_embedder
    from index.search import build_state
    from index.text import get_tokenizer
    from kb.entry import Entry

    settings = Settings.load(env={})
    entries = [Entry(id=i, question=q) for i, q in QUESTIONS.items()]
    return build_state(entries, get_embedder(settings.embedder, settings), get_tokenizer())


def _ranking(state, query, weights):
    from index.text import get_tokenizer

    tok = get_tokenizer()
    text = normalize(query)
    qvec = _embedder().embed([text], kind="query")[0]
    _, rows, feats = state.candidates(qvec, text, tok.terms(text), tok.synonyms, 5)
    return rows, feats, [(state.entries[e].id, s) for e, s, _ in
                         state.rank(rows, feats, 5, "fused", weights)]


def _embedder():
    from foundation.settings import Settings
    from index.embedders import get_embedder

    settings = Settings.load(env={})
    return get_embedder(settings.embedder, settings)


# ------------------------------------------------------------------ extractor
def test_aspects_of_the_issue_example():
    lex = get_aspects()
    assert lex.aspects(normalize("請問一下社保卡掉了要怎麼補辦，要帶什麼證件")) == {"reissue", "materials"}
    assert lex.aspects("社会保障卡申领需要准备哪些材料？") == {"apply", "materials"}
    assert lex.aspects("居住证在哪里办理？") == {"where"}
    assert lex.aspects("居住证多长时间能办好？") == {"duration"}
    assert lex.aspects("今天天气不错") == frozenset()


def test_a_specific_cue_consumes_the_generic_one_inside_it():
    # "审核不通过怎么办" is the rejected aspect, not also the generic process cue 怎么办
    lex = get_aspects()
    assert lex.aspects("公积金提取申请被退回或审核不通过怎么办？") == {"rejected"}
    assert lex.aspects("公积金提取怎么办？") == {"process"}
    # a complaint left unanswered is urge, not the progress of an application
    assert lex.aspects("反映噪音半个月还没动静") == {"urge"}
    assert lex.aspects("申请交上去了一直没动静") == {"progress"}


def test_cue_order_and_masks():
    lex = AspectLexicon(["# comment", "", "a\tx(y)?z", "b\tq", "a\tw"])
    assert lex.names == ["a", "b"]
    assert lex.mask("xyz q") == 0b11 and lex.mask("w") == 0b01 and lex.mask("nothing") == 0
    assert lex.aspects("XZ") == {"a"}   # matched case-insensitively (text is lower-cased)


@pytest.mark.parametrize("line, message", [("no tab here", "ASPECT<TAB>REGEX"),
                                           ("a\t(unclosed", "bad regex")])
def test_bad_lexicon_lines_are_named(line, message):
    with pytest.raises(ValueError, match=message) as err:
        AspectLexicon(["ok\tx", line])
    assert "line 2" in str(err.value)


# ------------------------------------------------------------------ ranking
@pytest.mark.parametrize("query, gold", QUERIES.items())
def test_the_asked_aspect_ranks_first(state, query, gold):
    _, _, ranked = _ranking(state, query, state.weights)
    assert state.weights.aspect > 0
    assert ranked[0][0] == gold, ranked


def test_the_issue_example_ranks_both_replacement_entries_above_first_application(state):
    # Issue 23: the caller lost the card and asks how to replace it and what to bring;
    # both 补换 entries answer that, neither 申领 entry does.
    query = "請問一下社保卡掉了要怎麼補辦，要帶什麼證件"

    def apply_above_swap(weights):
        ids = [i for i, _ in _ranking(state, query, weights)[2]]
        return max(ids.index("sbk-swap-how"), ids.index("sbk-swap-mat")) > \
            min(ids.index("sbk-apply-how"), ids.index("sbk-apply-mat"))

    assert not apply_above_swap(state.weights)
    assert apply_above_swap(replace(state.weights, aspect=0.0))   # what the feature fixes


@pytest.mark.parametrize("query", [*QUERIES, "社保卡", "居住证怎么办理"])
def test_zero_weight_reproduces_the_old_scores_exactly(state, query):
    rows, feats, ranked = _ranking(state, query, replace(state.weights, aspect=0.0))
    w = state.weights
    # the fusion as it was before the aspect columns existed
    old = feats[:, 0] + w.overlap * feats[:, 1] + w.chars * feats[:, 2] + w.bm25 * feats[:, 4]
    if feats[:, 0].max() < w.rare_gate:
        old = old + w.rare * feats[:, 5]
    order = np.argsort(-old, kind="stable")
    expected, seen = [], set()
    for i in order.tolist():
        e = int(state.row_entry[rows[i]])
        if e not in seen:
            seen.add(e)
            expected.append((state.entries[e].id, float(old[i])))
    assert ranked == expected[:len(ranked)]


def test_features_are_zero_for_a_query_without_aspects(state):
    _, feats, _ = _ranking(state, "社保卡", state.weights)
    assert not feats[:, 6].any()
    rows, feats, _ = _ranking(state, "社保卡丢了要带什么证件", state.weights)   # reissue, materials
    mismatch = {state.entries[state.row_entry[r]].id: f for r, f in zip(rows, feats[:, 6])}
    assert mismatch["sbk-swap-mat"] == 0.0           # asks exactly that
    assert mismatch["sbk-apply-mat"] == 0.5          # 申领: misses reissue, has apply
    assert mismatch["sbk-apply-how"] == 1.0          # misses both, asks something else


def test_built_masks_are_saved_and_an_index_without_them_computes_them(state, tmp_path):
    from index.search.build import ENTRY_ASPECTS, load_state, save_state

    emb = _embedder()
    lex = get_aspects()
    expected = [lex.mask(normalize(q)) for q in QUESTIONS.values()]
    assert state._entry_aspects.tolist() == expected          # from prepare(), not lazily
    save_state(state, tmp_path, embedder=emb.name, embedder_identity=emb.identity)
    loaded, manifest = load_state(tmp_path, emb)
    assert manifest["aspect_lexicon"] == lex.identity
    assert loaded._entry_aspects.tolist() == expected
    # an index saved before the masks were (or with other cues): computed on first sight
    (tmp_path / ENTRY_ASPECTS).unlink()
    lazy, _ = load_state(tmp_path, emb)
    assert not (lazy._entry_aspects >= 0).any()
    for query in QUERIES:
        assert _ranking(lazy, query, lazy.weights)[2] == _ranking(loaded, query, loaded.weights)[2]
    assert lazy._entry_aspects[lazy._entry_aspects >= 0].tolist() == \
        [m for m, known in zip(expected, lazy._entry_aspects >= 0) if known]
