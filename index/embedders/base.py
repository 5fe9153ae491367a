"""The Embedder protocol: one concept, one protocol; one small module per backend."""
from __future__ import annotations

from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from hotline.errors import HotlineError

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
