"""The Embedder protocol: one concept, one protocol; one small module per backend."""
from __future__ import annotations

from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from foundation.errors import HotlineError

Kind = Literal["query", "doc"]


class EmbedderError(HotlineError):
    code = "embedder_error"


class UnknownEmbedder(EmbedderError):
    code = "unknown_embedder"


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    @property
    def identity(self) -> str:
        """Stable identity written into index manifests (model + version + normaliser)."""

    def embed(self, texts: Sequence[str], kind: Kind = "query") -> np.ndarray:
        """float32 [len(texts), dim], rows L2-normalised, in input order.
        Implementations normalise raw text themselves."""


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def length_batches(seqs, max_batch: int, token_budget: int):
    """Yield (row indices, padded int64 ids, lengths) for token sequences grouped
    by sorted length, so padding (wasted matmul work) stays small. Each batch
    holds at most ``max_batch`` rows and ``token_budget`` padded tokens."""
    lens = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    order = np.argsort(lens, kind="stable")
    i = 0
    while i < len(order):
        # Sorted by length, so the batch's longest is its last member.
        j = i + 1
        while j < len(order) and j - i < max_batch and (j - i + 1) * lens[order[j]] <= token_budget:
            j += 1
        rows = order[i:j]
        ids = np.zeros((len(rows), int(lens[rows[-1]])), dtype=np.int64)
        for r, k in enumerate(rows):
            ids[r, :lens[k]] = seqs[k]
        yield rows, ids, lens[rows]
        i = j
