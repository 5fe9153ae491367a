"""Parts of search that need no embedder: BM25 delta, fusion gate, filters, highlights."""
from __future__ import annotations

import json

import numpy as np
import pytest

from index.search.filters import EntryColumns
from index.search.fusion import FusionWeights, fused_scores
from index.search.highlight import highlights, matched_words
from index.search.lexical import LexicalIndex
from index.search.types import SearchFilters
from kb.entry import Entry

DOCS = [["居住证", "办理"], ["社保卡", "补办"], ["路灯", "维修"], ["公交", "末班车"],
        ["居住证", "签注"], ["噪音", "投诉"]]


def test_delta_rows_score_like_base_rows():
    full = LexicalIndex().fit(DOCS)
    part = LexicalIndex().fit(DOCS[:-1])
    part.add_rows(DOCS[-1:])
    q = part.query_ids(["噪音", "投诉"])
    s = part.scores(q)
    assert s.argmax() == len(DOCS) - 1 and s[:-1].max() == 0
    # Same term weights as a full build up to the IDF drift of one more document.
    f = full.scores(full.query_ids(["噪音", "投诉"]))
    assert s[-1] == pytest.approx(f[-1], rel=0.25)


def test_new_words_in_delta_are_searchable_and_base_unchanged():
    lex = LexicalIndex().fit(DOCS)
    before = lex.scores(lex.query_ids(["居住证"])).copy()
    lex.add_rows([["zx9981", "补贴"]])
    s = lex.scores(lex.query_ids(["zx9981"]))
    assert s.argmax() == len(DOCS) and s[-1] > 0
    assert np.allclose(lex.scores(lex.query_ids(["居住证"]))[:len(DOCS)], before)


def test_lexical_save_load_roundtrip(tmp_path):
    import shutil

    from index.search.lexical import DIR, FITTED, document_frequencies

    docs = DOCS + [["居住证", "居住证", "补办"], []]      # repeated term, empty row
    lex = LexicalIndex().fit(docs)
    lex.save(tmp_path)
    assert (tmp_path / DIR / FITTED).is_dir()           # the fitted base travels with it
    back = LexicalIndex.load(tmp_path)
    refit_dir = tmp_path / "refit"
    shutil.copytree(tmp_path / DIR, refit_dir / DIR)
    shutil.rmtree(refit_dir / DIR / FITTED)
    refit = LexicalIndex.load(refit_dir)                # an index saved without it: refit
    for q in (["社保卡", "补办"], ["居住证"], ["噪音", "维修", "居住证"]):
        expected = lex.scores(lex.query_ids(q))
        assert expected.max() > 0
        assert np.allclose(back.scores(back.query_ids(q)), expected)
        assert np.allclose(refit.scores(refit.query_ids(q)), expected)
    assert np.array_equal(back.idf, lex.idf) and back.avgdl == lex.avgdl
    slow = np.zeros(len(lex.vocab), np.int64)
    for t in lex.row_terms:
        slow[np.unique(t)] += 1
    assert np.array_equal(document_frequencies(lex.row_terms, len(lex.vocab)), slow)


def test_rare_boost_only_when_dense_not_confident():
    w = FusionWeights(overlap=0, chars=0, bm25=0, rare=0.2, rare_gate=0.8)
    # columns: dense, overlap, chars, bm25, bm25_rel, rare
    unsure = np.array([[0.6, 0, 0, 0, 0, 0.0], [0.55, 0, 0, 0, 0, 1.0]], np.float32)
    assert fused_scores(w, unsure).argmax() == 1
    sure = np.array([[0.9, 0, 0, 0, 0, 0.0], [0.85, 0, 0, 0, 0, 1.0]], np.float32)
    assert fused_scores(w, sure).argmax() == 0


def test_a_rare_term_is_one_few_rows_hold_whatever_the_kb_size():
    """``rare_df``: at most 19 rows. A fixed IDF (the former rare_idf 6.0) meant
    "at most 19 rows" on LCQMC's 8,003 but "at most 275" on the demo KB's 111k
    rows, where nearly every content word was rare."""
    from index.search.fusion import QueryTerms

    def index(n_rows):
        rows = [[f"w{i % 300}", "填充"] for i in range(n_rows - 45)]
        rows += [["手机", f"w{i}"] for i in range(40)] + [["独特", "编号"] for _ in range(5)]
        return LexicalIndex().fit(rows)

    big, small = index(20_000), index(2_000)
    rare_df = FusionWeights().rare_df
    for lex in (big, small):
        qt = QueryTerms(["手机", "独特", "未见过"], {}, lex.vocab, lex.idf)
        qt.mark_rare(lex.idf_at(rare_df))
        # 40 rows: not rare; 5 rows: rare; a word no row holds takes the largest IDF
        assert qt.rare == [False, True, True]
    assert big.idf[big.vocab["手机"]] >= 6.0 > small.idf[small.vocab["手机"]]   # what IDF alone said
    # 19 rows of 8,003 (LCQMC, where the weight was tuned): the former threshold
    assert abs(LexicalIndex().fit([["x"]] * 8003).idf_at(19) - 6.0) < 0.05


def test_weights_roundtrip_ignores_unknown_keys():
    w = FusionWeights(chars=0.25)
    assert FusionWeights.from_dict({**w.to_dict(), "future": 1}) == w


def test_filter_masks():
    cols = EntryColumns()
    cols.extend([Entry(id="a", question="q", region="", department=["甲"], category=["户籍", "居住证"]),
                 Entry(id="b", question="q", region="临江区", department=["乙"]),
                 Entry(id="c", question="q", valid_from="2030-01-01"),
                 Entry(id="d", question="q", valid_to="2020-01-01")])
    cols = EntryColumns.from_dict(json.loads(json.dumps(cols.to_dict())))   # as saved and loaded
    assert cols.departments[2] is cols.departments[3]     # equal sets shared, not one per entry
    m = cols.mask(SearchFilters(now="2025-06-01"))
    assert m.tolist() == [True, True, False, False]
    assert cols.mask(SearchFilters(now="2025-06-01", region="东湖区")).tolist() == [True, False, False, False]
    assert cols.mask(SearchFilters(now="2031-01-01")).tolist() == [True, True, True, False]
    assert cols.mask(SearchFilters(now="2019-01-01", department="乙")).tolist() == [False, True, False, False]
    assert cols.mask(SearchFilters(now="2025-06-01", category="居住证")).tolist() == [True, False, False, False]


def test_entry_list_parses_saved_lines_on_first_read(tmp_path):
    from index.search.entrylist import EntryList

    saved = [Entry(id=f"e{i}", question=f"问题{i}", answer="答\n案", department=["甲"]) for i in range(3)]
    path = tmp_path / "entries.jsonl"
    path.write_text("".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in saved),
                    encoding="utf-8")
    entries = EntryList.load(path)
    assert len(entries) == 3 and not entries._parsed
    assert entries[1].to_dict() == saved[1].to_dict() and list(entries._parsed) == [1]
    assert entries[1].question == "问题1" and entries[1].department == ["甲"]
    added = Entry(id="new", question="新")
    entries.extend([added])
    assert len(entries) == 4 and entries[3] is added and entries[-1] is added
    assert [e.to_dict() for e in entries] == [e.to_dict() for e in saved + [added]]
    assert len(EntryList.load(_write(tmp_path / "empty.jsonl", ""))) == 0
    unterminated = EntryList.load(_write(tmp_path / "last.jsonl", path.read_text(encoding="utf-8").rstrip()))
    assert [e.to_dict() for e in unterminated] == [e.to_dict() for e in saved]


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_highlights_longest_first_in_order():
    assert matched_words("居住证签注在哪里办理居住证", ["居住证", "居住", "办理", "证"]) == ["居住证", "办理"]
    h = highlights("社保卡丢了", "到人社局補辦社保卡", ["社保卡", "补办"])
    assert h == {"question": ["社保卡"], "answer": ["补办", "社保卡"]}      # traditional normalised
    assert matched_words("", ["x"]) == [] and matched_words("abc", []) == []


def test_dot_rows_equals_sparse_row_slice_product():
    import numpy as np

    from index.search.rowsparse import RowSparse

    rs = RowSparse()
    rs.add([["a", "b"], [], ["b", "c", "d"], ["a"]])
    rs.matrix()
    rs.add([["e", "a"]])                # a delta row after the base was built
    vec = np.arange(1, len(rs.vocab) + 1, dtype=np.float32)
    rows = np.array([4, 1, 2, 2, 0], np.int64)
    np.testing.assert_allclose(rs.dot_rows(rows, vec), rs.matrix()[rows] @ vec)
    assert rs.dot_rows(np.array([1], np.int64), vec).tolist() == [0.0]


def test_rowsparse_base_from_flat_ids_and_save_load_match_row_by_row(tmp_path):
    from index.search.rowsparse import RowSparse

    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 50, size=rng.integers(0, 12)) for _ in range(200)]  # duplicates, empties
    slow = RowSparse(vocab={str(i): i for i in range(50)})
    slow.add_ids(rows)
    fast = RowSparse(vocab={str(i): i for i in range(50)})
    lens = np.array([len(r) for r in rows])
    fast.set_base(np.concatenate(rows), lens)
    assert len(fast) == len(slow) == 200
    a, b = fast.matrix(), slow.matrix()
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    fast.save(tmp_path / "rs")
    back = RowSparse.load(tmp_path / "rs")
    assert back.vocab == fast.vocab and (back.matrix() != a).nnz == 0
    back.add([["7", "new"]])                           # rows after a load go to the delta
    assert len(back) == 201 and back.matrix()[200].nnz == 2
    with pytest.raises(ValueError):
        back.set_base(np.zeros(1, np.int64), np.ones(1, np.int64))


def test_dense_rescore_variants_keep_raw_cosine_and_demote_a_hub():
    from training.experiments.dense_rescore import dense_variants

    rng = np.random.default_rng(0)
    kb = rng.normal(size=(40, 16)).astype(np.float32)
    kb[0] = kb[1:].mean(axis=0)           # a hub: close to every other row
    kb /= np.linalg.norm(kb, axis=1, keepdims=True)
    target = kb[5] + 1.1 * kb[0]          # a little nearer the hub than the row it paraphrases
    qv = (target / np.linalg.norm(target))[None, :]
    texts = [f"第{i}条问题" for i in range(40)]
    out = dense_variants(kb, qv, texts, ["第5条问题"])
    assert all(s.shape == (1, 40) for s in out.values())
    assert np.allclose(out["raw"], qv @ kb.T)
    assert out["raw"].argmax() == 0
    assert out["csls k=5 b=0.3"].argmax() == 5


def test_fusion_defaults_follow_the_encoder():
    """Lexical terms add to a cosine: e5's cosines cluster high, so its index starts
    from its own tuned weights; other encoders (and st:<dir>) keep the defaults."""
    from index.search.fusion import EMBEDDER_WEIGHTS, FusionWeights

    assert FusionWeights.for_embedder("use") == FusionWeights()
    assert FusionWeights.for_embedder("st:/models/x") == FusionWeights()
    e5 = FusionWeights.for_embedder("e5")
    assert e5 != FusionWeights()
    assert all(getattr(e5, k) == v for k, v in EMBEDDER_WEIGHTS["e5"].items())
