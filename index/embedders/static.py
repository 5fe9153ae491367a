"""``static``: the fast tier — a sentence-transformers ``StaticEmbedding`` model
distilled from the default encoder by ``training.distil_static``.

Served without torch: the tokenizer is a Rust ``tokenizers`` model (a unigram
word vocabulary, i.e. jieba-style max-probability segmentation) and the model is
a mean of per-token rows, so numpy is all it takes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from foundation.artifacts import read_manifest
from foundation.errors import ArtifactError
from index.embedders.base import l2_normalize
from index.text import Normalizer

KIND = "embedder"
FORMAT_VERSION = 1
STATIC_TYPES = ("StaticEmbedding",)


def static_module_dir(model_dir: Path) -> Path | None:
    """The StaticEmbedding module's folder inside a sentence-transformers dir, else None."""
    modules = Path(model_dir) / "modules.json"
    if not modules.is_file():
        return None
    for mod in json.loads(modules.read_text(encoding="utf-8")):
        if mod.get("type", "").rsplit(".", 1)[-1] in STATIC_TYPES:
            return Path(model_dir) / mod.get("path", "")
    return None


class StaticModel:
    """A saved StaticEmbedding module (``model.safetensors`` + ``tokenizer.json``) in numpy."""

    def __init__(self, module_dir: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        module_dir = Path(module_dir)
        for f in ("model.safetensors", "tokenizer.json"):
            if not (module_dir / f).is_file():
                raise ArtifactError(f"{module_dir} lacks {f}; expected a StaticEmbedding module")
        weights = load_file(str(module_dir / "model.safetensors"))
        key = "embedding.weight" if "embedding.weight" in weights else "embeddings"
        if key not in weights:
            raise ArtifactError(f"{module_dir}/model.safetensors has {sorted(weights)}, "
                                "expected 'embedding.weight'")
        self.weights = np.ascontiguousarray(weights[key], dtype=np.float32)
        self.tokenizer = Tokenizer.from_file(str(module_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.dim = int(self.weights.shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Mean of token rows (unnormalised), like ``StaticEmbedding.forward``:
        one sparse (texts x vocabulary) averaging matrix times the table, which
        never materialises a row per token (78k vs 25k sentences/s here)."""
        import itertools

        import scipy.sparse as sp

        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]
        lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64,
                           count=int(lens.sum()))
        indptr = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        share = np.repeat((1.0 / np.maximum(lens, 1)).astype(np.float32), lens)
        averaging = sp.csr_matrix((share, flat, indptr), shape=(len(ids), len(self.weights)))
        return np.asarray(averaging @ self.weights, dtype=np.float32)


class StaticEmbedder:
    dim: int

    def __init__(self, model_dir: Path, normalizer: Normalizer | None = None, name: str = "static"):
        self.name = name
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise ArtifactError(
                f"static embedder {self.model_dir} does not exist; build it with "
                "`python -m training.distil_static` (or `make run`)")
        self.manifest = read_manifest(self.model_dir, KIND, FORMAT_VERSION)
        module = static_module_dir(self.model_dir)
        if module is None:
            raise ArtifactError(f"{self.model_dir} is not a StaticEmbedding sentence-transformers model")
        self.model = StaticModel(module)
        self.dim = self.model.dim
        self.normalizer = normalizer or Normalizer()
        if self.manifest.get("normalizer", self.normalizer.identity) != self.normalizer.identity:
            raise ArtifactError(
                f"{self.model_dir} was trained on text normalised as {self.manifest['normalizer']!r}, "
                f"this software normalises as {self.normalizer.identity!r}; rebuild it")

    @classmethod
    def from_settings(cls, settings, name: str = "static") -> "StaticEmbedder":
        return cls(settings.embedders_root / "static", name=name)

    @property
    def identity(self) -> str:
        return (f"static/{self.manifest.get('model_hash', '?')}/dim{self.dim}/"
                f"{self.normalizer.identity}")

    def embed(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not a single string")
        return l2_normalize(self.model.encode(self.normalizer.many(texts)))
