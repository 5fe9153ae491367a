"""Similar past cases: a FAISS inner-product index over a 128-d projection
(truncated SVD) of the head's TF-IDF for its labelled history.

Why SVD of TF-IDF and not the sentence encoder: the classifier must not depend
on an embedder artifact being present, and the projection costs one small
matrix product per request. Only the ``top_columns`` most frequent hashed
n-grams enter the projection, keeping the stored matrix ~10 MB.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from classifier.features import Idf, TextFeatures

PREVIEW_CHARS = 80


class CaseIndex:
    def __init__(self, dim: int = 128, top_columns: int = 20000, random_state: int = 0):
        self.dim = dim
        self.top_columns = top_columns
        self.random_state = random_state

    def fit(self, prep: TextFeatures, idf: Idf, labels: list[dict]) -> "CaseIndex":
        from sklearn.decomposition import TruncatedSVD

        x = idf.transform(prep.counts)
        df = np.bincount(x.indices, minlength=x.shape[1])
        cols = np.sort(np.argsort(-df)[: self.top_columns]).astype(np.int32)
        xs = x[:, cols]
        dim = int(min(self.dim, xs.shape[0] - 1, xs.shape[1] - 1))
        svd = TruncatedSVD(dim, random_state=self.random_state).fit(xs)
        self.columns_ = cols
        self.components_ = svd.components_.astype(np.float32)
        self.vectors_ = self._project(xs)
        self.cases_ = [{"text": t[:PREVIEW_CHARS], **lab} for t, lab in zip(prep.full, labels)]
        self._build()
        return self

    def _project(self, xs) -> np.ndarray:
        return _unit_rows(xs @ self.components_.T)

    def _build(self) -> None:
        import faiss

        self.index_ = faiss.IndexFlatIP(self.vectors_.shape[1])
        self.index_.add(self.vectors_)

    def search(self, x_tfidf, k: int = 3) -> list[list[dict]]:
        """``x_tfidf``: rows already through the head's Idf, as a matrix or as
        ``Idf.parts`` arrays (data, columns, row pointer)."""
        import faiss

        q = self._query_vectors(x_tfidf)
        if len(q) < 16:
            # OpenMP threads cost more than they save for a few queries, and on a
            # busy 2-core box they wait for each other (17 ms instead of 0.5 ms).
            faiss.omp_set_num_threads(1)
        sims, ids = self.index_.search(q, k)
        return [[{**self.cases_[i], "similarity": round(float(s), 3)}
                 for s, i in zip(srow, irow) if i >= 0] for srow, irow in zip(sims, ids)]

    def _query_vectors(self, x) -> np.ndarray:
        """``_project(x[:, columns_])`` through a column map: scipy's fancy
        column indexing alone cost ~0.3 ms for one request."""
        import scipy.sparse as sp

        if sp.issparse(x):
            x = x.tocsr()
            data, cols, indptr = x.data, x.indices, x.indptr
        else:
            data, cols, indptr = x
        if getattr(self, "_colmap", None) is None:
            # One slot past the largest column stays -1: unknown columns clamp to it.
            colmap = np.full(int(self.columns_.max(initial=0)) + 2, -1, np.int64)
            colmap[self.columns_] = np.arange(len(self.columns_))
            self._colmap = colmap
            self._components_t = np.ascontiguousarray(self.components_.T)
        mapped = self._colmap[np.minimum(cols, len(self._colmap) - 1)]
        keep = mapped >= 0
        n = len(indptr) - 1
        if n == 1:
            v = (data[keep] @ self._components_t[mapped[keep]])[None, :]
        else:
            rows = np.repeat(np.arange(n), np.diff(indptr))[keep]
            v = sp.csr_matrix((data[keep], (rows, mapped[keep])),
                              shape=(n, len(self.columns_))) @ self._components_t
        return _unit_rows(v)

    def save(self, directory: Path) -> None:
        np.save(directory / "case_columns.npy", self.columns_, allow_pickle=False)
        np.save(directory / "case_components.npy", self.components_, allow_pickle=False)
        np.save(directory / "case_vectors.npy", self.vectors_, allow_pickle=False)
        with open(directory / "cases.jsonl", "w", encoding="utf-8") as fh:
            for c in self.cases_:
                fh.write(json.dumps(c, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, directory: Path) -> "CaseIndex | None":
        directory = Path(directory)
        if not (directory / "case_vectors.npy").is_file():
            return None
        self = cls()
        self.columns_ = np.load(directory / "case_columns.npy", allow_pickle=False)
        self.components_ = np.load(directory / "case_components.npy", allow_pickle=False)
        self.vectors_ = np.load(directory / "case_vectors.npy", allow_pickle=False)
        with open(directory / "cases.jsonl", encoding="utf-8") as fh:
            self.cases_ = [json.loads(line) for line in fh]
        self._build()
        return self


def _unit_rows(v) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), float32, contiguous."""
    v = np.asarray(v, dtype=np.float32)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    norm[norm == 0] = 1.0
    return np.ascontiguousarray(v / norm)
