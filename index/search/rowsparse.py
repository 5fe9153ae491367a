"""Rows as sparse binary vectors over a growing vocabulary (terms or character
grams), so per-query overlap features are a few sparse products instead of a
Python loop over candidate rows. Rows added after the base matrix was built
live in a small delta matrix until the next full build."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def distinct_pairs(flat: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, id) of every distinct id of each row, rows ascending and ids
    ascending within a row, for rows given as concatenated ids and lengths:
    one sort over packed 64-bit keys instead of an ``np.unique`` per row."""
    lens = np.asarray(lens, np.int64)
    row = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
    key = np.unique((row << 32) | np.asarray(flat, np.int64))
    return key >> 32, key & 0xFFFFFFFF


class RowSparse:
    def __init__(self, vocab: dict | None = None):
        # A shared vocab (the lexical index's) keeps term ids aligned with BM25's.
        self.vocab: dict[str, int] = {} if vocab is None else vocab
        self._base = None           # csr over rows [0, n_base)
        self._n_base = 0
        self._delta: list[np.ndarray] = []   # rows added since, sorted unique ids
        self._full = None

    def __len__(self) -> int:
        return self._n_base + len(self._delta)

    def ids(self, items, grow: bool = True) -> np.ndarray:
        if grow:
            return np.array(sorted({self.vocab.setdefault(t, len(self.vocab)) for t in items}),
                            np.int64)
        return np.array(sorted({self.vocab[t] for t in items if t in self.vocab}), np.int64)

    def add(self, rows_items) -> None:
        self._delta.extend(self.ids(items) for items in rows_items)
        self._full = None

    def add_ids(self, rows_ids) -> None:
        self._delta.extend(np.unique(np.asarray(r, np.int64)) for r in rows_ids)
        self._full = None

    def set_base(self, flat: np.ndarray, lens: np.ndarray) -> None:
        """Rows given as concatenated ids and row lengths (duplicates allowed),
        as the base of an empty matrix: one sort instead of a Python call per
        row (loading 111k rows: ~2.5 s -> ~0.1 s)."""
        if len(self):
            raise ValueError("set_base needs an empty RowSparse")
        n = len(lens)
        rows, indices = distinct_pairs(flat, lens)
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        self._base = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr),
                                   shape=(n, len(self.vocab)))
        self._n_base, self._full = n, None

    def _csr(self, rows, width):
        indptr = np.zeros(len(rows) + 1, np.int64)
        np.cumsum([len(r) for r in rows], out=indptr[1:])
        indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        return sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr),
                             shape=(len(rows), width))

    def matrix(self) -> sp.csr_matrix:
        """All rows as a CSR matrix; the base part is built once (from every
        row added before the first call)."""
        if self._full is None or self._full.shape[1] != len(self.vocab):
            width = len(self.vocab)
            if self._base is None:
                self._base, self._n_base, self._delta = self._csr(self._delta, width), \
                    len(self._delta), []
            base = self._base
            if base.shape[1] != width:
                base = sp.csr_matrix((base.data, base.indices, base.indptr),
                                     shape=(base.shape[0], width))
            self._full = (sp.vstack([base, self._csr(self._delta, width)], format="csr")
                          if self._delta else base)
        return self._full

    def save(self, directory: Path, with_vocab: bool = True) -> None:
        """The rows' CSR structure (.npy) and the vocabulary (JSON, in id
        order) unless it is shared and saved by its owner (``with_vocab=False``)."""
        directory.mkdir(parents=True, exist_ok=True)
        m = self.matrix()
        if with_vocab:
            vocab = sorted(self.vocab, key=self.vocab.get)
            (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False),
                                                  encoding="utf-8")
        np.save(directory / "indptr.npy", m.indptr.astype(np.int64), allow_pickle=False)
        np.save(directory / "indices.npy", m.indices.astype(np.int64), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, vocab: dict | None = None) -> "RowSparse":
        """``vocab``: a shared vocabulary to keep (the lexical index's) instead
        of the saved one; it must be the one the rows were saved with."""
        obj = cls(vocab)
        if vocab is None:
            words = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
            obj.vocab = {t: i for i, t in enumerate(words)}
        indptr = np.load(directory / "indptr.npy", allow_pickle=False)
        indices = np.load(directory / "indices.npy", allow_pickle=False)
        if len(indices) and int(indices.max()) >= len(obj.vocab):
            raise ValueError(f"{directory}: rows use id {int(indices.max())}, "
                             f"the vocabulary has {len(obj.vocab)}")
        obj._base = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr),
                                  shape=(len(indptr) - 1, len(obj.vocab)))
        obj._n_base = len(indptr) - 1
        return obj

    def dot_rows(self, rows: np.ndarray, vec: np.ndarray) -> np.ndarray:
        """``matrix()[rows] @ vec`` without building the row slice: scipy's
        fancy indexing costs ~0.2 ms of Python checks per call, this ~20 us."""
        m = self.matrix()
        rows = np.asarray(rows, np.int64)
        start, stop = m.indptr[rows], m.indptr[rows + 1]
        lens = stop - start
        out = np.zeros(len(rows), np.float32)
        total = int(lens.sum())
        if not total:
            return out
        # Positions of every stored element of the chosen rows, row after row.
        offsets = np.cumsum(lens) - lens
        pos = np.repeat(start - offsets, lens) + np.arange(total)
        vals = m.data[pos] * vec[m.indices[pos]]
        nonempty = lens > 0
        out[nonempty] = np.add.reduceat(vals, offsets[nonempty])
        return out

    def row_sums(self, weights: np.ndarray | None = None) -> np.ndarray:
        m = self.matrix()
        return np.asarray(m.sum(axis=1)).ravel() if weights is None else m @ weights[:m.shape[1]]

    def indicator(self, ids, values=1.0) -> np.ndarray:
        v = np.zeros(len(self.vocab), np.float32)
        if len(ids):
            v[np.asarray(ids, np.int64)] = values
        return v
