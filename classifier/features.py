"""Feature extraction shared by the heads.

Texts arrive as one string, ``"title\\ndetail"`` when the caller has both (the
batch CLI and the trainer join them that way) or free text from an agent. Each
text is normalised once (``index.text.Normalizer``) and hashed once into
character 1–3-gram counts; every head then applies its own learned IDF, so the
expensive part is shared by both heads and no vocabulary has to be stored.

Why characters, not jieba words: on the real messages char 1–3-grams beat
jieba word 1–2-grams (dept macro-F1 0.936 vs 0.921 on the same split) and jieba
runs at ~130k chars/s, which alone would eat the batch budget.
"""
from __future__ import annotations

import hashlib
import weakref

import numpy as np
import scipy.sparse as sp

from index.text import Normalizer
from index.text.records import title_line
from index.text.ngrams import (N_FEATURES, NGRAM_RANGE, _ngram_hashes,  # noqa: F401 (re-exported)
                               hash_counts, ngram_columns)

TITLE_FALLBACK = 30      # no title given: the opening words carry the ask
FEATURE_IDENTITY = f"char{NGRAM_RANGE[0]}-{NGRAM_RANGE[1]}+mulhash{N_FEATURES}/v3"

_normalizer = Normalizer()
# Up to this many rows, a product of TF-IDF rows with a model's weights gathers
# the weight rows each entry names in numpy (``rows_dot``): for a request's few
# texts scipy's constructors and checks cost more than the arithmetic. A batch
# keeps scipy's sparse product (the gather holds one weight row per entry).
GATHER_ROWS = 64
# Bucket -> column tables by column set, alive while a head holds one.
_TABLES: "weakref.WeakValueDictionary[bytes, np.ndarray]" = weakref.WeakValueDictionary()


def join_parts(parts: list[str]) -> str:
    """The one join of a record's text columns (trainer, batch CLI): the first
    is the title line, the others the body joined by spaces. ``split_title``
    undoes it. A record with an empty body is its title alone, the same text
    an agent types over HTTP (a phone call arrives as a title with an empty
    detail). Parts arrive stripped (the batch hot path strips once)."""
    body = " ".join(p for p in parts[1:] if p)
    return f"{parts[0]}\n{body}" if body else parts[0]


def split_title(raw: str) -> tuple[str, str]:
    """(title, body), both normalised. A short first line is the title."""
    if not isinstance(raw, str):
        raw = "" if raw is None else str(raw)
    parts = title_line(raw)
    if parts is None:
        return "", _normalizer(raw)
    return _normalizer(parts[0]), _normalizer(parts[1])


def split_titles(texts: list[str]) -> list[tuple[str, str]]:
    """``[split_title(t) for t in texts]`` with one batched normaliser call."""
    raws = ["" if t is None else t if isinstance(t, str) else str(t) for t in texts]
    pieces, has_title = [], []
    for raw in raws:
        parts = title_line(raw)
        has_title.append(parts is not None)
        pieces += parts if parts is not None else (raw,)
    norm = iter(_normalizer.many(pieces))
    return [(next(norm), next(norm)) if titled else ("", next(norm)) for titled in has_title]


class TextFeatures:
    """Texts after the shared steps: normalised parts and hashed n-gram counts."""

    def __init__(self, texts: list[str]):
        parts = split_titles(texts)
        self.titles = [p[0] for p in parts]
        self.bodies = [p[1] for p in parts]
        self.full = [f"{a} {b}".strip() for a, b in parts]
        self.counts = hash_counts(self.full)

    def __len__(self) -> int:
        return len(self.full)

    @property
    def title_counts(self) -> sp.csr_matrix:
        """Hashed n-gram counts of the title alone (the opening words when there
        is none), computed on first use: only heads with a title block pay."""
        if getattr(self, "_title_counts", None) is None:
            titles = [t for t, _ in self.cue_pairs()]
            # Short texts without a title (most queries, a request's issue clauses)
            # are their own opening words: the same counts, hashed once.
            self._title_counts = self.counts if titles == self.full else hash_counts(titles)
        return self._title_counts

    def tfidf(self, idf: "Idf", title: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``idf.parts`` of the full texts (or titles), computed once per Idf:
        a request's decision function, evidence and similar cases read the
        same rows. Keyed by the Idf object itself, which the cache keeps alive."""
        cache = self.__dict__.setdefault("_tfidf", {})
        key = (idf, title)
        if key not in cache:
            cache[key] = idf.parts(self.title_counts if title else self.counts)
        return cache[key]

    def vectors(self, embedder, max_chars: int) -> np.ndarray:
        """Sentence vectors of each text's first ``max_chars`` characters, computed
        once per embedder. Embedded as documents: a text gets the vector it gets
        in a batch of any size (one prediction whether it comes alone over HTTP
        or among thousands in a batch run)."""
        cache = self.__dict__.setdefault("_vectors", {})
        key = (id(embedder), max_chars)
        if key not in cache:
            cache[key] = (embedder, embedder.embed([t[:max_chars] for t in self.full], kind="doc"))
        return cache[key][1]

    def cue_pairs(self):
        """(title, body) for the cue features; without a title the opening words stand in."""
        return [(t or b[:TITLE_FALLBACK], b) for t, b in zip(self.titles, self.bodies)]


def ngram_index(ngram: str) -> int:
    """Column of ``ngram`` in the hashed space."""
    codes = np.frombuffer(ngram.lower().encode("utf-32-le"), dtype=np.uint32)
    _, cols = _ngram_hashes(codes)
    return int(cols[-1])  # the last n-gram generated is the whole string


def char_ngrams(text: str) -> list[str]:
    """Every 1..3-gram of ``text`` (lower-cased), in order, n-major."""
    t = text.lower()
    return [t[i:i + n] for n in range(NGRAM_RANGE[0], NGRAM_RANGE[1] + 1)
            for i in range(len(t) - n + 1)]


def rows_dot(parts: tuple[np.ndarray, np.ndarray, np.ndarray], weights, width: int) -> np.ndarray:
    """``csr_matrix(parts, shape=(n, width)) @ weights`` as a dense array, for
    ``Idf.parts`` rows and ``weights`` of ``width`` rows, dense or CSR (whose
    rows are then gathered as index ranges and summed per output cell)."""
    data, pos, indptr = parts
    n = len(indptr) - 1
    if n > GATHER_ROWS:
        out = sp.csr_matrix(parts, shape=(n, width)) @ weights
        return out.toarray() if sp.issparse(out) else np.asarray(out)
    if not sp.issparse(weights):
        if n == 1:
            return (data @ weights[pos])[None, :]
        out = np.zeros((n, weights.shape[1]), dtype=np.result_type(data, weights))
        lens = np.diff(indptr)
        full = lens > 0
        if full.any():
            out[full] = np.add.reduceat(data[:, None] * weights[pos], indptr[:-1][full], axis=0)
        return out
    k = weights.shape[1]
    start = weights.indptr[pos]
    lens = weights.indptr[pos + 1] - start
    total = int(lens.sum())
    if not total:
        return np.zeros((n, k))
    # Positions of every stored element of the gathered rows, row after row.
    offsets = np.cumsum(lens) - lens
    at = np.repeat(start - offsets, lens) + np.arange(total)
    values = np.repeat(data, lens) * weights.data[at]
    if n == 1:
        return np.bincount(weights.indices[at], values, minlength=k)[None, :]
    rows = np.repeat(np.repeat(np.arange(n), np.diff(indptr)), lens)
    return np.bincount(rows * k + weights.indices[at], values, minlength=n * k).reshape(n, k)


class Idf:
    """Sublinear TF × IDF × L2 over hashed counts (the TfidfTransformer recipe),
    learned per head. Keeps only the columns seen in at least ``min_df`` rows
    and returns compact matrices over them (``columns_`` sorted)."""

    def __init__(self, min_df: int = 1):
        self.min_df = min_df

    def fit(self, counts: sp.csr_matrix) -> "Idf":
        n = counts.shape[0]
        df = np.bincount(counts.indices, minlength=N_FEATURES)
        self.columns_ = np.nonzero(df >= max(self.min_df, 1))[0].astype(np.int64)
        self.idf_ = (np.log((1 + n) / (1 + df[self.columns_])) + 1.0).astype(np.float32)
        self._table = self._key = None
        return self

    @property
    def width(self) -> int:
        return len(self.columns_)

    def compact(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in the compact space, mask of columns this head knows)."""
        pos = self._lookup()[cols]
        known = pos >= 0
        return np.where(known, pos, 0), known

    def _lookup(self) -> np.ndarray:
        # A dense bucket -> column table (16 MB) instead of a binary search per
        # n-gram: searchsorted was a fifth of batch classification time. Heads
        # trained on the same rows have the same columns and share one table.
        table = getattr(self, "_table", None)
        if table is None:
            table = _TABLES.get(self._columns_key())
            if table is None:
                table = np.full(N_FEATURES, -1, dtype=np.int32)
                table[self.columns_] = np.arange(len(self.columns_), dtype=np.int32)
                _TABLES[self._columns_key()] = table
            self._table = table
        return table

    def _columns_key(self) -> bytes:
        key = getattr(self, "_key", None)
        if key is None:
            key = self._key = hashlib.blake2b(np.ascontiguousarray(self.columns_, np.int64)
                                              .tobytes(), digest_size=16).digest()
        return key

    def _known(self, counts: sp.csr_matrix):
        """(compact positions, row of each, row pointer, sublinear tf) of the
        entries of ``counts`` this head knows. Cached on ``counts`` per column
        set: the type and department heads usually share their columns, so a
        batch looks its n-grams up once, not once per head."""
        cache = counts.__dict__.setdefault("_hotline_idf", {})
        got = cache.get(self._columns_key())
        if got is None:
            n = counts.shape[0]
            if "tf" not in cache:
                cache["tf"] = np.log(counts.data) + 1.0
                cache["rows"] = (None if n == 1 else
                                 np.repeat(np.arange(n), np.diff(counts.indptr)))
            pos = self._lookup()[counts.indices]
            keep = np.flatnonzero(pos >= 0)
            if n == 1:   # one request's text: every entry is row 0
                rows, indptr = None, np.array([0, len(keep)], dtype=np.int64)
            else:
                rows = cache["rows"][keep]
                indptr = np.zeros(n + 1, dtype=np.int64)
                np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
            got = cache[self._columns_key()] = (pos[keep], rows, indptr, cache["tf"][keep])
        return got

    def parts(self, counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The TF-IDF rows of ``counts`` as CSR arrays (data, compact columns,
        row pointer), columns ascending within a row. Plain arrays because for a
        single request scipy's constructors cost more than the arithmetic."""
        counts = counts.tocsr()
        n = counts.shape[0]
        pos, rows, indptr, tf = self._known(counts)
        data = tf * self.idf_[pos]
        if rows is None:   # one row (``_known``): the sum bincount would make, in order
            sq = float(np.cumsum(data * data, dtype=np.float64)[-1]) if len(data) else 0.0
            return (data / np.sqrt(sq or 1.0)).astype(np.float32), pos, indptr
        sq = np.bincount(rows, weights=data * data, minlength=n)
        sq[sq == 0] = 1.0
        data = (data / np.sqrt(sq)[rows]).astype(np.float32)
        return data, pos, indptr

    def transform(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        return sp.csr_matrix(self.parts(counts), shape=(counts.shape[0], self.width))

    def save(self, directory, prefix: str = "idf") -> None:
        np.save(directory / f"{prefix}_columns.npy", self.columns_, allow_pickle=False)
        np.save(directory / f"{prefix}.npy", self.idf_, allow_pickle=False)

    @classmethod
    def load(cls, directory, prefix: str = "idf") -> "Idf":
        self = cls()
        self.columns_ = np.load(directory / f"{prefix}_columns.npy", allow_pickle=False)
        self.idf_ = np.load(directory / f"{prefix}.npy", allow_pickle=False)
        return self
