"""``st:<dir>``: any local sentence-transformers model directory, offline.

Backends, picked from what the directory holds:
- a ``StaticEmbedding`` model → numpy (index.embedders.static.StaticModel);
- ``onnx/model.onnx`` next to ``tokenizer.json`` → onnxruntime + tokenizers,
  with the directory's Pooling/Normalize configuration;
- otherwise the sentence-transformers torch model. That is the only path that
  imports torch, and only when such a model is configured explicitly.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from foundation.errors import ArtifactError
from index.embedders.base import l2_normalize
from index.embedders.static import StaticModel, static_module_dir
from index.embedders.use import resolve_threads
from index.text import Normalizer

log = logging.getLogger(__name__)

ONNX_FILE = Path("onnx") / "model.onnx"


def _read_json(path: Path) -> dict | list:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


class _OnnxTransformer:
    """Transformer encoder exported to ONNX (inputs input_ids/attention_mask[/token_type_ids],
    first output token embeddings), pooled as the directory's Pooling config says."""

    def __init__(self, model_dir: Path, threads: int, max_length: int):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        # Spinning worker threads starve the FAISS/BM25 work that follows each
        # query on a 2-core machine; sleeping costs little for batch work.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_dir / ONNX_FILE), opts,
                                            providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding()
        pooling_dir = next((model_dir / m["path"] for m in _read_json(model_dir / "modules.json")
                            if m.get("type", "").endswith("Pooling")), model_dir / "1_Pooling")
        cfg = _read_json(pooling_dir / "config.json")
        self.pooling = "cls" if cfg.get("pooling_mode_cls_token") else "mean"

    def encode(self, texts: Sequence[str], batch: int = 32) -> np.ndarray:
        outs = []
        for i in range(0, len(texts), batch):
            encs = self.tokenizer.encode_batch(list(texts[i:i + batch]))
            feed = {"input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64)}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.array([e.type_ids for e in encs], dtype=np.int64)
            hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
            if self.pooling == "cls":
                outs.append(hidden[:, 0])
            else:
                m = feed["attention_mask"][..., None].astype(np.float32)
                outs.append((hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None))
        return np.concatenate(outs) if outs else np.empty((0, 0), np.float32)


class _TorchST:
    def __init__(self, model_dir: Path, threads: int):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=32, convert_to_numpy=True,
                                 show_progress_bar=False)


class STEmbedder:
    def __init__(self, model_dir: Path, threads: int = 0, normalizer: Normalizer | None = None,
                 name: str | None = None, max_length: int = 256):
        self.model_dir = Path(model_dir).expanduser().resolve()
        self.name = name or f"st:{self.model_dir}"
        if not (self.model_dir / "modules.json").is_file():
            raise ArtifactError(
                f"{self.model_dir} is not a sentence-transformers model directory "
                "(expected modules.json in it)")
        self.normalizer = normalizer or Normalizer()
        threads = resolve_threads(threads)
        static = static_module_dir(self.model_dir)
        if static is not None:
            self._model, self.backend = StaticModel(static), "static"
        elif (self.model_dir / ONNX_FILE).is_file() and (self.model_dir / "tokenizer.json").is_file():
            self._model, self.backend = _OnnxTransformer(self.model_dir, threads, max_length), "onnx"
        else:
            log.info("loading %s with sentence-transformers (torch)", self.model_dir)
            self._model, self.backend = _TorchST(self.model_dir, threads), "torch"
        self.dim = int(self.embed(["维度"]).shape[1])

    @classmethod
    def from_settings(cls, settings, name: str) -> "STEmbedder":
        _, _, path = name.partition(":")
        if not path:
            raise ArtifactError(f"embedder name {name!r} needs a directory: st:<model dir>")
        model_dir = Path(path).expanduser()
        if not model_dir.is_absolute() and not model_dir.exists():
            model_dir = settings.embedders_root / path
        return cls(model_dir, threads=settings.embed_threads, name=name)

    @property
    def identity(self) -> str:
        # Config files plus weight file names and sizes: cheap, and changes when the model does.
        h = hashlib.sha256()
        for p in sorted(self.model_dir.rglob("*")):
            if p.is_file() and p.suffix in (".json", ".txt"):
                h.update(p.name.encode() + p.read_bytes())
            elif p.is_file():
                h.update(f"{p.name}:{p.stat().st_size}".encode())
        return f"st:{self.model_dir.name}/{h.hexdigest()[:12]}/{self.normalizer.identity}"

    def embed(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not a single string")
        if not len(texts):
            return np.empty((0, getattr(self, "dim", 0)), dtype=np.float32)
        vecs = self._model.encode([self.normalizer(t) for t in texts])
        return l2_normalize(vecs).reshape(len(texts), -1)
