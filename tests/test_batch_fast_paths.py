"""The batch fast paths compute exactly what the per-text paths compute:
normaliser (Normalizer.many), title split, hashed n-gram counts; and the
small-batch gathers (``rows_dot``) what scipy's sparse products compute."""
import collections
import unicodedata

import numpy as np
import pytest
import scipy.sparse as sp

from hypothesis import given, settings as hsettings, strategies as st

from classifier.features import (GATHER_ROWS, N_FEATURES, Idf, TextFeatures, char_ngrams,
                                 hash_counts, ngram_columns, rows_dot, split_title, split_titles)
from index.text import Normalizer
from index.text.nfkc import nfkc_many

normalizer = Normalizer()
# Characters that exercise every branch: full-width forms, multi-character
# NFKC (㈠ ㎡ ℃), combining marks and jamo (need real composition), a
# character outside the BMP, controls, zero-width, surrogates, t2s phrases.
TRICKY = ["Ａ\u0301", "㈠", "㎡", "℃", "\U0001D400", "\x01", "\u200b", "\ud800", "ｶﾞ",
          "\u1100\u1161", "\u3000", "乾隆", "著作", "髮", "發", "\n", "\t", " ", "臺北", "，！？"]
texty = st.lists(st.one_of(st.text(max_size=30), st.sampled_from(TRICKY)), max_size=6).map("".join)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(texty, max_size=8))
def test_many_equals_one_by_one(texts):
    assert normalizer.many(texts) == [normalizer(t) for t in texts]
    clean = [t.encode("utf-8", "ignore").decode() for t in texts if "\x00" not in t]
    assert nfkc_many(clean) == [unicodedata.normalize("NFKC", t) for t in clean]


def test_many_on_real_looking_messages():
    texts = ["关于咨询公积金提取\n请问Ｅ５县的住房公积金（个人）怎么提取？电话：１３８",
             "臺北市停電了\n\n\t怎麼辦\u200b", "", "   ", "a\x00b", "㈠ 30㎡ 37℃"]
    assert normalizer.many(texts) == [normalizer(t) for t in texts]
    assert split_titles(texts + [None, 12]) == [split_title(t) for t in texts + [None, 12]]
    assert normalizer.many([]) == []


def _reference_counts(texts):
    """Per text, per n-gram: the single-text hashing path, counted in Python."""
    out = {}
    for d, t in enumerate(texts):
        cols = ngram_columns(t)
        grams = char_ngrams(t.lower().replace("\x00", " "))
        for g, c in zip(grams, cols.tolist()):
            if "\x00" in g:
                continue
            out[(d, c)] = out.get((d, c), 0) + 1
    return out


@hsettings(max_examples=100, deadline=None)
@given(st.lists(texty.map(lambda t: t.encode("utf-8", "ignore").decode()), min_size=1,
                max_size=6))
def test_hash_counts_match_the_single_text_path(texts):
    # (hash_counts sees normalised text: no surrogates)
    x = hash_counts(texts)
    assert x.shape == (len(texts), N_FEATURES)
    got = {}
    for d in range(len(texts)):
        row = x[d]
        cols = row.indices.tolist()
        assert cols == sorted(set(cols))  # canonical: sorted, no duplicates
        got.update({(d, c): int(v) for c, v in zip(cols, row.data.tolist())})
    assert got == _reference_counts(texts)


def test_hash_counts_beyond_the_32_bit_key_batch():
    texts = ["停电了怎么办", "公积金", "投诉噪音扰民"] * 400  # 1,200 docs: 64-bit keys
    x = hash_counts(texts)
    small = hash_counts(texts[:3])
    for d in (0, 1, 2, 1197, 1198, 1199):
        assert (x[d] != small[d % 3]).nnz == 0
    assert collections.Counter(x.getnnz(axis=1).tolist()) == collections.Counter(
        small.getnnz(axis=1).tolist() * 400)


@pytest.mark.parametrize("n", [1, 2, 7, GATHER_ROWS + 1])
def test_rows_dot_equals_the_sparse_product(n):
    texts = ["楼下烧烤店油烟很大", "", "！！", "请问公积金怎么提取\n需要哪些材料", "路灯坏了",
             "噪音扰民"] * 12
    idf = Idf(1).fit(hash_counts(["公积金提取 路灯 油烟 烧烤 材料", "噪音扰民 楼下"]))
    parts = TextFeatures(texts[:n]).tfidf(idf)
    x = sp.csr_matrix(parts, shape=(n, idf.width))
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((idf.width, 5)).astype(np.float32)
    sparse = sp.random(idf.width, 9, density=0.3, format="csr", random_state=1)
    for weights, want in ((dense, x @ dense), (sparse, (x @ sparse).toarray())):
        got = rows_dot(parts, weights, idf.width)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if n >= 3:   # texts without a known n-gram score nothing
        assert not rows_dot(parts, dense, idf.width)[1:3].any()


def test_predict_columns_equal_the_prediction_objects(served_home):
    import csv
    import json

    from classifier import load_bundle
    from hotline.batch.runner import resolve_model
    from classifier.bundle import ClassifierBundle, load_departments_file, prediction_columns
    from tests.conftest import make_settings

    settings = make_settings(served_home)
    model_dir = resolve_model(settings, None)
    with open(settings.demo_dir / "work_orders.csv", encoding="utf-8") as fh:
        texts = [f"{r['title']}\n{r['detail']}" for r in csv.DictReader(fh)][:300]
    texts += ['引号"与\\反斜杠\n标题', "x", "Ａ\u0301 ㈠㎡℃"]
    bundle = load_bundle(model_dir)
    want = [tuple(prediction_columns(p)) for p in bundle.predict_batch(texts)]
    assert bundle.predict_columns(texts) == want
    assert {json.loads(w[5])[0]["label"] for w in want} >= {want[0][2]}
    # Cold start (taxonomy only): ties everywhere, no type head.
    cold = ClassifierBundle({}, departments=load_departments_file(model_dir / "taxonomy.json"))
    assert cold.predict_columns(texts) == [tuple(prediction_columns(p))
                                          for p in cold.predict_batch(texts)]
    assert bundle.predict_columns([]) == []
