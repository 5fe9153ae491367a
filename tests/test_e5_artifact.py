"""e5 artifact end to end (slow: conversion + int8 export + parity ≈ 2 min):
built through ``training.embedders.ensure`` into a temporary home, then served
by ``E5Embedder`` the way the product loads it."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from foundation.errors import ArtifactError
from foundation.settings import Settings


def test_missing_artifact_names_the_build_command(tmp_path):
    from index.embedders.e5 import E5Embedder

    with pytest.raises(ArtifactError, match="training.e5_build"):
        E5Embedder(tmp_path / "e5")


@pytest.fixture(scope="module")
def e5_home(tmp_path_factory):
    from training.embedders import ensure

    home = tmp_path_factory.mktemp("e5home")
    settings = Settings.load(overrides={"home": home}, env={})
    ensure("e5", settings)
    return settings


@pytest.mark.slow
def test_artifact_manifest_parity_and_modes(e5_home):
    d = e5_home.embedders_root / "e5"
    m = json.loads((d / "manifest.json").read_text())
    assert m["name"] == "e5" and m["dim"] == 384
    assert m["parity"]["onnx_int8_vs_torch"]["mean_cos"] >= 0.995
    assert m["parity"]["onnx_int8_vs_torch_padded_batches"]["mean_cos"] >= 0.995
    assert m["parity"]["torch_vs_numpy_e5c_forward"]["mean_cos"] >= 0.9999
    cfg = json.loads((d / "st" / "config.json").read_text())
    assert cfg["transformers_version"] and cfg["architectures"] == ["BertModel"]
    for path in d.rglob("*"):
        assert (path.stat().st_mode & 0o777) == (0o755 if path.is_dir() else 0o644), path


@pytest.mark.slow
def test_int8_weights_are_unsigned_so_vectors_do_not_depend_on_the_cpu(e5_home):
    """Signed int8 weights saturate in onnxruntime's AVX2 kernel (not on VNNI), so
    an index built on one kind of CPU drifted from queries embedded on another.
    Every quantised MatMul must take uint8 weights."""
    import onnx

    d = e5_home.embedders_root / "e5"
    m = json.loads((d / "manifest.json").read_text())
    assert m["onnx"]["int8_weight_type"] == "QUInt8"
    graph = onnx.load(str(d / "model_int8.onnx")).graph
    weights = {t.name: t for t in graph.initializer}
    products = [n for n in graph.node if n.op_type == "MatMulInteger"]
    assert len(products) >= 12 * 6, "every layer's 6 projections are quantised"
    for node in products:
        w = weights[node.input[1]]
        assert w.data_type == onnx.TensorProto.UINT8, (node.name, w.data_type)
    # Unsigned weights hold parity on any CPU (signed ones gave a padded-batch
    # min cos of 0.9922 on an AVX2-only EPYC; unsigned 0.9952 there).
    assert m["parity"]["onnx_int8_vs_torch_padded_batches"]["min_cos"] >= 0.994


@pytest.mark.slow
def test_embedder_serves_the_artifact(e5_home):
    from index.embedders import clear_cache, get_embedder

    clear_cache()
    e = get_embedder("e5", e5_home)
    texts = ["我家楼下的路灯坏了三天了", "我家樓下的路燈壞了三天了", "公积金提取需要哪些材料", "路灯不亮找谁"]
    v = e.embed(texts)
    assert v.shape == (4, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > 0.999  # t2s happens before tokenisation
    assert v[0] @ v[3] > v[0] @ v[2]
    singles = np.stack([e.embed([t])[0] for t in texts])
    # Dynamic int8 quantises activations with one scale per tensor, so batch
    # composition moves vectors slightly (measured ≈0.9975), never more than parity allows.
    assert np.min((singles * v).sum(1)) > 0.995
    assert np.allclose(e.embed(texts, kind="doc"), v, atol=1e-6)  # symmetric by default
    assert float((e.embed(texts, kind="passage") * v).sum(1).min()) < 0.999
    assert e.embed([]).shape == (0, 384)


@pytest.mark.slow
def test_serving_does_not_import_torch(e5_home):
    code = ("import sys; from foundation.settings import Settings; from index.embedders import get_embedder;"
            f"e = get_embedder('e5', Settings.load(overrides={{'home': {str(e5_home.home)!r}}}, env={{}}));"
            "e.embed(['测试']); assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_conversion_is_deterministic(tmp_path):
    from foundation.artifacts import file_hash
    from training.e5_convert import convert

    convert(tmp_path / "a")
    convert(tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files
    for f in files:
        assert file_hash(tmp_path / "a" / f) == file_hash(tmp_path / "b" / f), f
