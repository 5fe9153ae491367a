"""The learned urgency signal: a character 1-3-gram TF-IDF logistic regression
that says how likely a call is 紧急, with the n-grams that pushed it there.

The rules name hazards; callers describe them in words no rule lists (a car
half over a bridge, ice falling from the eaves). The signal learns the shape of
an emergency from the project's own written calls and raises a call to 紧急
when it is sure (``threshold``), beside the rules (docs/dispatch.md, "Urgency").

Features are the project's hashed n-gram counts (``index.text.ngrams``,
vectorised over a batch): a batch scores 500 rows in one numpy pass instead of
a Python loop over every n-gram of every row. Fitting uses scikit-learn
(``training/train_urgency.py``); scoring is numpy over the saved columns, so
serving neither refits nor unpickles, and a test checks both give the same
probabilities.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from dispatch.errors import DispatchConfigError
from index.text.ngrams import NGRAM_RANGE, hash_counts, ngram_columns

KIND = "urgency_signal"
FORMAT_VERSION = 2
SHIPPED = Path(__file__).parent / "data" / "urgency_signal"
# Only the opening of a text is scored: the calls it learns from are at most ~140
# characters, and on long letters it never reached the threshold.
MAX_CHARS = 300


class UrgencySignalError(DispatchConfigError):
    """A saved urgency signal that is missing, incomplete or of another format."""


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


class UrgencySignal:
    """``fit(texts, urgent)`` with normalised texts and booleans;
    ``probabilities`` scores a batch, ``score`` one text with the n-grams that
    weigh most for 紧急."""

    def __init__(self, threshold: float = 0.7, C: float = 10.0, min_df: int = 2):
        self.threshold = threshold
        self.C = C
        self.min_df = min_df

    # ----------------------------------------------------------------- fitting
    def fit(self, texts: list[str], urgent) -> "UrgencySignal":
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(urgent, dtype=bool)
        if len(texts) != len(y) or y.all() or not y.any():
            raise ValueError(f"an urgency signal needs urgent and non-urgent texts "
                             f"({int(y.sum())} of {len(y)} urgent)")
        counts = _counts(texts)
        cols, df = np.unique(counts.indices, return_counts=True)
        keep = df >= self.min_df
        # scikit-learn's smooth idf: ln((1 + n) / (1 + df)) + 1
        idf = np.log((1 + len(texts)) / (1 + df[keep])) + 1
        self._set(cols[keep].astype(np.int64), idf, np.zeros(int(keep.sum())), 0.0)
        # Balanced: about one call in five is urgent, and a miss costs more than a false alarm.
        model = LogisticRegression(C=self.C, class_weight="balanced", max_iter=5000)
        model.fit(self.design(counts), y)
        self._set(self.columns_, self.idf_, model.coef_[0], float(model.intercept_[0]))
        return self

    def _set(self, columns, idf, coef, intercept) -> None:
        self.columns_ = np.asarray(columns, dtype=np.int64)
        self.idf_ = np.asarray(idf, dtype=np.float64)
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = float(intercept)

    def design(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Hashed counts -> the model's rows: known columns only, sublinear tf
        times idf, each row of unit length (scikit-learn's TfidfVectorizer)."""
        pos, known = self._lookup(counts.indices)
        rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))[known]
        data = (1 + np.log(counts.data[known])) * self.idf_[pos[known]]
        x = sp.csr_matrix((data, (rows, pos[known])), shape=(counts.shape[0], len(self.columns_)))
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        return sp.diags(1 / norms) @ x

    def _lookup(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``columns_``, whether it is one) of each hashed column."""
        pos = np.searchsorted(self.columns_, cols)
        pos[pos == len(self.columns_)] = 0
        known = self.columns_[pos] == cols if len(self.columns_) else pos < 0
        return pos, known

    # ----------------------------------------------------------------- scoring
    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Probability of 紧急 per text, the batch in one pass."""
        if not texts:
            return np.zeros(0)
        return _sigmoid(self.design(_counts(texts)) @ self.coef_ + self.intercept_)

    def probability(self, text: str) -> float:
        """One text, without a sparse matrix (the HTTP path: ~30 us)."""
        return self._probability(ngram_columns(text[:MAX_CHARS]).astype(np.int64))

    def _probability(self, ngram_cols: np.ndarray) -> float:
        """From the hashed column of each of a text's n-grams."""
        cols, counts = np.unique(ngram_cols, return_counts=True)
        pos, known = self._lookup(cols)
        pos = pos[known]
        v = (1 + np.log(counts[known])) * self.idf_[pos]
        norm = float(np.sqrt(v @ v)) or 1.0
        return float(_sigmoid(v @ self.coef_[pos] / norm + self.intercept_))

    def score(self, text: str) -> tuple[float, list[str]]:
        """(probability of 紧急, up to three n-grams that raised it most).
        Single characters are shown only when no longer n-gram raised it: an
        agent reads "浑身是血", not "血" and "了"."""
        t = text[:MAX_CHARS]
        cols = ngram_columns(t).astype(np.int64)
        grams = [t[i:i + n] for n in range(NGRAM_RANGE[0], NGRAM_RANGE[1] + 1)
                 for i in range(len(t) - n + 1)]
        pos, known = self._lookup(cols)
        weight = np.where(known, self.coef_[pos] * self.idf_[pos], 0.0)
        best: dict[str, float] = {}
        for g, w in zip(grams, weight.tolist()):
            if w > 0 and g.strip():
                best[g] = w
        order = sorted(best, key=lambda g: -best[g])
        shown = [g for g in order if len(g.strip()) > 1] or order
        return self._probability(cols), shown[:3]

    # ------------------------------------------------------------- persistence
    def save(self, directory: Path, sources: dict | None = None) -> None:
        from foundation.artifacts import building, write_json_atomic, write_manifest

        with building(Path(directory)) as tmp:
            np.save(tmp / "columns.npy", self.columns_, allow_pickle=False)
            np.save(tmp / "idf.npy", self.idf_, allow_pickle=False)
            np.save(tmp / "coef.npy", self.coef_, allow_pickle=False)
            write_json_atomic(tmp / "params.json", {
                "threshold": self.threshold, "C": self.C, "min_df": self.min_df,
                "intercept": self.intercept_})
            write_manifest(tmp, KIND, FORMAT_VERSION,
                           features=f"hashed char {NGRAM_RANGE} tf-idf (index.text.ngrams), "
                                    f"first {MAX_CHARS} characters",
                           columns=len(self.columns_), sources=sources or {})

    @classmethod
    def load(cls, directory: Path = SHIPPED) -> "UrgencySignal":
        from foundation.artifacts import read_manifest
        from foundation.errors import ArtifactError

        directory = Path(directory)
        try:
            read_manifest(directory, KIND, FORMAT_VERSION)
            params = json.loads((directory / "params.json").read_text(encoding="utf-8"))
            intercept = params.pop("intercept")
            self = cls(**params)
            arrays = [np.load(directory / f"{name}.npy", allow_pickle=False)
                      for name in ("columns", "idf", "coef")]
        except (ArtifactError, OSError, ValueError, KeyError, TypeError) as e:
            raise UrgencySignalError(f"urgency signal {directory} is unreadable: {e}; rebuild "
                                     f"it with `python -m training.train_urgency`") from None
        if len({len(a) for a in arrays}) != 1:
            raise UrgencySignalError(f"urgency signal {directory} is inconsistent: "
                                     f"{', '.join(str(len(a)) for a in arrays)} columns, idf, "
                                     f"weights")
        self._set(*arrays, intercept)
        return self


_SHIPPED_SIGNAL: UrgencySignal | None = None


def shipped_signal() -> UrgencySignal:
    """The signal shipped with the package, loaded once per process."""
    global _SHIPPED_SIGNAL
    if _SHIPPED_SIGNAL is None:
        _SHIPPED_SIGNAL = UrgencySignal.load()
    return _SHIPPED_SIGNAL


def _counts(texts: list[str]) -> sp.csr_matrix:
    return hash_counts([t[:MAX_CHARS] for t in texts])
