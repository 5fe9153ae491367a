"""Dense row index: FAISS ``IndexIDMap2`` over inner product (vectors are
L2-normalised, so inner product is cosine).

``kind``: ``flat`` (exact), ``hnsw`` (approximate, ~0.1 ms a query at 100k rows)
or ``auto`` — flat up to ``FLAT_MAX_ROWS`` rows, HNSW beyond. Exact flat search
costs ~0.2 ms per 1,000 rows of 512-d on one core here, so past ~10k rows it
alone would spend the whole 3 ms query budget.

HNSW cannot delete: removed rows become tombstones that the caller masks out
(``alive``); a full rebuild compacts them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from index.search.errors import SearchError

KINDS = ("auto", "flat", "hnsw")
FLAT_MAX_ROWS = 10_000
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 96
FILE = "dense.faiss"
BULK_ROWS = 10_000


_configured = False


def _faiss():
    import faiss

    global _configured
    if not _configured:
        # One query at a time: OpenMP fan-out only adds overhead, and on a busy
        # 2-core machine it made a flat search 20x slower (36 ms vs 1.7 ms).
        faiss.omp_set_num_threads(1)
        _configured = True
    return faiss


_bits_cache: tuple = (None, None)


def _bits(mask: np.ndarray) -> np.ndarray:
    """Packed bitmap of a (cached, unchanging) mask array; reused while the
    same mask object comes back, which is every query with the same filters."""
    global _bits_cache
    if _bits_cache[0] is not mask:
        _bits_cache = (mask, np.packbits(mask, bitorder="little"))
    return _bits_cache[1]


class DenseIndex:
    def __init__(self, dim: int, kind: str = "auto", expected_rows: int = 0):
        if kind not in KINDS:
            raise SearchError(f"unknown dense index kind {kind!r}; expected one of {KINDS}")
        if kind == "auto":
            kind = "flat" if expected_rows <= FLAT_MAX_ROWS else "hnsw"
        self.dim = int(dim)
        self.kind = kind
        faiss = _faiss()
        if kind == "flat":
            inner = faiss.IndexFlatIP(self.dim)
        else:
            inner = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = HNSW_EF_SEARCH
        self.index = faiss.IndexIDMap2(inner)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def add(self, row_ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(row_ids):
            return
        faiss = _faiss()
        # A full build's HNSW insertions parallelise well (9.0 -> 4.4 s for 111k
        # rows on 2 cores); queries go back to one thread afterwards.
        bulk = len(row_ids) >= BULK_ROWS and self.kind == "hnsw"
        if bulk:
            faiss.omp_set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        try:
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                    np.asarray(row_ids, dtype=np.int64))
        finally:
            if bulk:
                faiss.omp_set_num_threads(1)

    def remove(self, row_ids) -> None:
        # Flat removes for real; HNSW keeps tombstones the caller masks out.
        if self.kind == "flat" and len(row_ids):
            self.index.remove_ids(np.asarray(row_ids, dtype=np.int64))

    def vectors(self, row_ids: np.ndarray) -> np.ndarray:
        if not len(row_ids):
            return np.empty((0, self.dim), np.float32)
        return self.index.reconstruct_batch(np.asarray(row_ids, np.int64))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None):
        """Top ``k`` row ids and scores for one query vector; ``allowed`` is a
        boolean mask over row ids (None = all rows allowed)."""
        faiss = _faiss()
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        k = max(1, min(int(k), self.ntotal))
        if self.ntotal == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        params = None
        if allowed is not None:
            bits = _bits(allowed)
            sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
            params = (faiss.SearchParametersHNSW(sel=sel, efSearch=max(HNSW_EF_SEARCH, k))
                      if self.kind == "hnsw" else faiss.SearchParameters(sel=sel))
            scores, ids = self.index.search(q, k, params=params)
        else:
            scores, ids = self.index.search(q, k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def save(self, directory: Path) -> None:
        _faiss().write_index(self.index, str(Path(directory) / FILE))

    @classmethod
    def load(cls, directory: Path, dim: int, kind: str) -> "DenseIndex":
        faiss = _faiss()
        obj = cls.__new__(cls)
        obj.dim, obj.kind = int(dim), kind
        obj.index = faiss.read_index(str(Path(directory) / FILE))
        if obj.index.d != obj.dim:
            raise SearchError(f"{directory}/{FILE} has dimension {obj.index.d}, expected {dim}")
        if kind == "hnsw":
            faiss.downcast_index(obj.index.index).hnsw.efSearch = HNSW_EF_SEARCH
        return obj
