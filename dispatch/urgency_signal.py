"""The learned urgency signal: a character 1-3-gram TF-IDF logistic regression
that says how likely a call is 紧急, with the n-grams that pushed it there.

The rules name hazards; callers describe them in words no rule lists (a car
half over a bridge, ice falling from the eaves). The signal learns the shape of
an emergency from the project's own written calls and raises a call to 紧急
when it is sure (``threshold``), beside the rules (docs/dispatch.md, "Urgency").

Fitting uses scikit-learn (``training/train_urgency.py``); scoring is plain
Python over the saved vocabulary, so serving neither refits nor unpickles, and a
test checks that both give the same probabilities.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from dispatch.errors import DispatchConfigError

KIND = "urgency_signal"
FORMAT_VERSION = 1
SHIPPED = Path(__file__).parent / "data" / "urgency_signal"
_WHITESPACE = re.compile(r"\s\s+")
# Only the opening of a text is scored: the calls it learns from are at most ~140
# characters, and on long letters it never reached the threshold while costing
# ~0.8 ms a 400-character row in batch.
MAX_CHARS = 300


class UrgencySignalError(DispatchConfigError):
    """A saved urgency signal that is missing, incomplete or of another format."""


def char_ngrams(text: str, low: int = 1, high: int = 3) -> list[str]:
    """scikit-learn's ``analyzer="char"`` n-grams (lower-cased, runs of white
    space made one space), so a model fitted there scores the same here."""
    text = _WHITESPACE.sub(" ", text.lower())
    n = len(text)
    return [text[i:i + k] for k in range(low, high + 1) for i in range(n - k + 1)]


class UrgencySignal:
    """``fit(texts, urgent)`` with normalised texts and booleans; ``score``
    gives the probability of 紧急 and the n-grams that weigh most for it."""

    def __init__(self, threshold: float = 0.7, C: float = 10.0, min_df: int = 2,
                 ngram_range: tuple[int, int] = (1, 3)):
        self.threshold = threshold
        self.C = C
        self.min_df = min_df
        self.ngram_range = tuple(ngram_range)

    # ----------------------------------------------------------------- fitting
    def fit(self, texts: list[str], urgent) -> "UrgencySignal":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(urgent, dtype=bool)
        if len(texts) != len(y) or y.all() or not y.any():
            raise ValueError(f"an urgency signal needs urgent and non-urgent texts "
                             f"({int(y.sum())} of {len(y)} urgent)")
        vec = TfidfVectorizer(analyzer="char", ngram_range=self.ngram_range,
                              min_df=self.min_df, sublinear_tf=True)
        x = vec.fit_transform(texts)
        # Balanced: about one call in five is urgent, and a miss costs more than a false alarm.
        model = LogisticRegression(C=self.C, class_weight="balanced", max_iter=5000).fit(x, y)
        grams = sorted(vec.vocabulary_, key=vec.vocabulary_.get)
        self._set(grams, vec.idf_, model.coef_[0], float(model.intercept_[0]))
        return self

    def _set(self, grams, idf, coef, intercept) -> None:
        self.grams_ = list(grams)
        self.idf_ = np.asarray(idf, dtype=np.float64)
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = float(intercept)
        # Per n-gram (idf, idf * weight) as Python floats: a call has ~150 n-grams,
        # where a dict walk costs a fifth of numpy's per-array overhead.
        self._weights = {g: (float(i), float(i * c))
                         for g, i, c in zip(self.grams_, self.idf_.tolist(), self.coef_.tolist())}

    # ----------------------------------------------------------------- scoring
    def _parts(self, text: str) -> tuple[float, dict[str, float]]:
        """(the logit, each known n-gram's share of it before the length norm)."""
        weights = self._weights
        counts: dict[str, int] = {}
        for g in char_ngrams(text[:MAX_CHARS], *self.ngram_range):
            if g in weights:
                counts[g] = counts.get(g, 0) + 1
        norm2, dot, parts = 0.0, 0.0, {}
        for g, n in counts.items():
            idf, weighted = weights[g]
            tf = 1.0 + math.log(n) if n > 1 else 1.0
            norm2 += (tf * idf) ** 2
            parts[g] = tf * weighted
            dot += parts[g]
        return (dot / math.sqrt(norm2) if norm2 else 0.0) + self.intercept_, parts

    def probability(self, text: str) -> float:
        z = self._parts(text)[0]
        return 1 / (1 + math.exp(-z))

    def score(self, text: str) -> tuple[float, list[str]]:
        """(probability of 紧急, up to three n-grams that raised it most).
        Single characters are shown only when no longer n-gram raised it: an
        agent reads "浑身是血", not "血" and "了"."""
        z, parts = self._parts(text)
        order = sorted((g for g, v in parts.items() if v > 0), key=lambda g: -parts[g])
        shown = [g for g in order if len(g.strip()) > 1] or order
        return 1 / (1 + math.exp(-z)), shown[:3]

    def proba(self, texts: list[str]) -> np.ndarray:
        return np.array([self.probability(t) for t in texts])

    # ------------------------------------------------------------- persistence
    def save(self, directory: Path, sources: dict | None = None) -> None:
        from foundation.artifacts import building, write_json_atomic, write_manifest

        with building(Path(directory)) as tmp:
            np.save(tmp / "idf.npy", self.idf_, allow_pickle=False)
            np.save(tmp / "coef.npy", self.coef_, allow_pickle=False)
            write_json_atomic(tmp / "grams.json", self.grams_)
            write_json_atomic(tmp / "params.json", {
                "threshold": self.threshold, "C": self.C, "min_df": self.min_df,
                "ngram_range": list(self.ngram_range), "intercept": self.intercept_})
            write_manifest(tmp, KIND, FORMAT_VERSION, features=f"char {self.ngram_range} tf-idf",
                           vocabulary=len(self.grams_), sources=sources or {})

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
            grams = json.loads((directory / "grams.json").read_text(encoding="utf-8"))
            idf = np.load(directory / "idf.npy", allow_pickle=False)
            coef = np.load(directory / "coef.npy", allow_pickle=False)
        except (ArtifactError, OSError, ValueError, KeyError, TypeError) as e:
            raise UrgencySignalError(f"urgency signal {directory} is unreadable: {e}; rebuild "
                                     f"it with `python -m training.train_urgency`") from None
        if not (len(grams) == len(idf) == len(coef)):
            raise UrgencySignalError(f"urgency signal {directory} is inconsistent: "
                                     f"{len(grams)} n-grams, {len(idf)} idf, {len(coef)} weights")
        self._set(grams, idf, coef, intercept)
        return self
