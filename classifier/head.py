"""One classification head: hashed char n-gram TF-IDF (+ optional cue
features) → linear model → temperature-scaled softmax → review thresholds.

scikit-learn conventions: ``__init__`` stores parameters, ``fit`` returns self,
learned state ends in ``_``. ``fit``/``predict_proba`` take raw texts or a
:class:`~classifier.features.TextFeatures` (so a bundle hashes each text once for
both heads). Calibration and thresholds come from out-of-fold scores; the
final model is then refitted on every row.
"""
from __future__ import annotations

import bisect
import functools
import json
import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from classifier import calibration
from classifier.cues import CUE_IDENTITY, N_FEATURES as N_CUES, cue_matrix
from classifier.errors import BadModel, BadTrainingData
from classifier.features import (FEATURE_IDENTITY, NGRAM_RANGE, Idf, TextFeatures,
                                 ngram_columns, rows_dot)
from index.text import mask_pii

# Measured on the shared data (docs/classifier.md): LinearSVC wins on the
# 11k-row department data, balanced logistic regression + cues on 400 typed rows.
# Type cue weight 0.05 (was 0.1): with the outage cues and the weak fault rows
# the char n-grams carry more of the fault signal; 0.15/0.1/0.07/0.05/0.03/0.02
# gave 0.846/0.859/0.873/0.884/0.871/0.844 macro-F1 (4-fold CV x 6 seeds).
# The title block (title-only TF-IDF beside the full text, ×0.5) adds 1–2
# department macro-F1 points on three held-out splits: the title names the
# subject, the body dilutes it with narrative.
RECIPES = {
    "type": {"estimator": "lr", "C": 10.0, "class_weight": "balanced", "cues": True,
             "cue_weight": 0.05},
    "department": {"estimator": "svc", "C": 1.0, "class_weight": None, "cues": False,
                   "cue_weight": 0.0, "title_weight": 0.5},
}


def _prepare(texts) -> TextFeatures:
    return texts if isinstance(texts, TextFeatures) else TextFeatures(list(texts))


class TextHead:
    def __init__(self, estimator: str = "svc", C: float = 1.0, class_weight=None,
                 cues: bool = False, cue_weight: float = 0.1, min_df: int = 2, folds: int = 5,
                 target_precision: float = 0.9, min_margin: float = 0.0, random_state: int = 0,
                 title_weight: float = 0.0):
        self.estimator = estimator
        self.title_weight = title_weight
        self.C = C
        self.class_weight = class_weight
        self.cues = cues
        self.cue_weight = cue_weight
        self.min_df = min_df
        self.folds = folds
        self.target_precision = target_precision
        self.min_margin = min_margin
        self.random_state = random_state

    # ---------------------------------------------------------------- fitting
    def _model(self):
        if self.estimator == "svc":
            from sklearn.svm import LinearSVC
            return LinearSVC(C=self.C, class_weight=self.class_weight)
        if self.estimator == "lr":
            from sklearn.linear_model import LogisticRegression
            return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=3000)
        raise BadTrainingData(f"estimator {self.estimator!r} is unknown; expected 'svc' or 'lr'")

    def _blocks(self, prep: TextFeatures, idf: Idf, title_idf: Idf | None, cue_stats=None) -> list:
        """Feature blocks in coefficient order, each ``(kind, value, scale)``:
        body+title TF-IDF (CSR arrays), title-only TF-IDF × title_weight, cue
        features × cue_weight (dense, already scaled)."""
        blocks = [("tfidf", prep.tfidf(idf), 1.0, idf.width)]
        if title_idf is not None:
            blocks.append(("tfidf", prep.tfidf(title_idf, title=True), self.title_weight,
                           title_idf.width))
        if self.cues:
            mean, scale = cue_stats
            c = (cue_matrix(prep.cue_pairs()) - mean) / scale * self.cue_weight
            blocks.append(("dense", c.astype(np.float32), 1.0, N_CUES))
        return blocks

    def _design(self, prep: TextFeatures, idf: Idf, title_idf: Idf | None = None,
                cue_stats=None) -> sp.csr_matrix:
        mats = []
        for kind, value, scale, width in self._blocks(prep, idf, title_idf, cue_stats):
            m = sp.csr_matrix(value, shape=(len(prep), width) if kind == "tfidf" else None)
            if scale != 1.0:
                m = m.copy()  # the tf-idf arrays are shared with the TextFeatures cache
                m.data *= np.float32(scale)
            mats.append(m)
        return mats[0] if len(mats) == 1 else sp.hstack(mats, format="csr")

    def _fit_one(self, prep: TextFeatures, rows, y, w):
        sub = _subset(prep, rows)
        idf = Idf(self.min_df).fit(sub.counts)
        title_idf = Idf(self.min_df).fit(sub.title_counts) if self.title_weight > 0 else None
        stats = None
        if self.cues:
            c = cue_matrix(sub.cue_pairs())
            stats = (c.mean(axis=0), np.where(c.std(axis=0) > 0, c.std(axis=0), 1.0))
        model = self._model().fit(self._design(sub, idf, title_idf, stats), y, sample_weight=w)
        return (idf, title_idf), stats, model

    def fit(self, texts, y, sample_weight=None, progress=None, weak=None) -> "TextHead":
        """``weak``: boolean mask of weakly labelled rows. They are trained on in
        every fold and in the final fit but never scored, so calibration,
        thresholds and metrics come from the real labels only."""
        from sklearn.model_selection import StratifiedKFold

        prep = _prepare(texts)
        y = np.asarray([str(v) for v in y])
        labels, yi = np.unique(y, return_inverse=True)
        if len(labels) < 2:
            raise BadTrainingData(f"need at least 2 labels to train a head, got {list(labels)}")
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        weak = np.zeros(len(y), bool) if weak is None else np.asarray(weak, bool)
        gold, extra = np.nonzero(~weak)[0], np.nonzero(weak)[0]
        self.labels_ = [str(l) for l in labels]
        gold_counts = np.bincount(yi[gold], minlength=len(labels))
        folds = int(min(self.folds, gold_counts.min()))
        oof = np.zeros((len(gold), len(labels)))
        if folds >= 2:
            skf = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            for tr, te in skf.split(np.zeros(len(gold)), yi[gold]):
                tr = np.concatenate([gold[tr], extra])
                (idf, tidf), stats, model = self._fit_one(prep, tr, yi[tr],
                                                          None if w is None else w[tr])
                oof[te] = _scores(model, self._design(_subset(prep, gold[te]), idf, tidf, stats),
                                  len(labels))
                if progress:
                    progress()
            yg = yi[gold]
            self.temperature_ = calibration.fit_temperature(oof, yg)
            probs = calibration.softmax(oof, self.temperature_)
            self.thresholds_ = calibration.pick_thresholds(probs, yg, self.labels_,
                                                           self.target_precision)
            self.oof_probs_, self.oof_y_ = probs.astype(np.float32), yg
        else:  # a class with one row: no held-back data, so everything goes to review
            self.temperature_ = 1.0
            self.thresholds_ = {l: {"threshold": 1.01, "precision": None, "coverage": 0.0,
                                    "support": 0} for l in self.labels_}
            self.oof_probs_, self.oof_y_ = None, yi
        self.folds_used_ = folds
        (idf, tidf), stats, model = self._fit_one(prep, np.arange(len(y)), yi, w)
        self.idf_, self.title_idf_ = idf, tidf
        self.cue_stats_ = stats
        coef, intercept = _full_coef(model, len(labels))
        self.coef_, self.intercept_ = coef, intercept
        self.coef_t_ = np.ascontiguousarray(coef.T)  # sparse @ dense wants it contiguous
        if progress:
            progress()
        return self

    # ---------------------------------------------------------------- predicting
    def decision_function(self, texts) -> np.ndarray:
        # Block by block against slices of the coefficients: no hstack per request,
        # and for a request's few texts a gather of coefficient rows instead of a
        # scipy product (features.rows_dot).
        prep = _prepare(texts)
        n = len(prep)
        out = np.zeros((n, len(self.labels_)), dtype=np.float64) + self.intercept_
        start = 0
        for kind, value, scale, width in self._blocks(prep, self.idf_, self.title_idf_,
                                                      self.cue_stats_):
            coef = self.coef_t_[start:start + width]
            part = value @ coef if kind == "dense" else rows_dot(value, coef, width)
            out += part * scale if scale != 1.0 else part
            start += width
        return out

    def predict_proba(self, texts) -> np.ndarray:
        return calibration.softmax(self.decision_function(texts), self.temperature_)

    def predict(self, texts) -> list[str]:
        return [self.labels_[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def needs_review(self, probs: np.ndarray) -> np.ndarray:
        return calibration.review_mask(probs, self.labels_, self.thresholds_, self.min_margin)

    def top_terms(self, prep: TextFeatures, i: int, label_index: int, k: int = 5) -> list[dict]:
        """N-grams of text ``i`` of ``prep`` that pushed hardest towards
        ``label_index``, widened to whole words; overlapping ones say the same
        thing once."""
        data, pos_all, indptr = prep.tfidf(self.idf_)
        lo, hi = int(indptr[i]), int(indptr[i + 1])
        if lo == hi:
            return []  # no n-gram this head knows: nothing pushed anywhere
        x_cols, x_data = pos_all[lo:hi], data[lo:hi]   # columns ascending
        text, cols, starts, sizes = _evidence_grams(prep.full[i])
        pos, known = self.idf_.compact(cols)
        # Every n-gram's contribution at once; the Python loop below then sees
        # only the few positive ones, best first (2.7 -> ~0.3 ms a request).
        at = np.minimum(np.searchsorted(x_cols, pos), len(x_cols) - 1)
        present = known & (x_cols[at] == pos)
        contrib = np.where(present, x_data[at] * self.coef_[label_index, pos], 0.0)
        candidates = np.nonzero((contrib > 0) & (sizes >= 2))[0]
        candidates = candidates[np.argsort(-contrib[candidates], kind="stable")]
        to_words = _word_aligned(text)
        out: list[dict] = []
        seen: set[str] = set()
        for i, start, n in zip(candidates.tolist(), starts[candidates].tolist(),
                               sizes[candidates].tolist()):
            if not _shown_term(text[start:start + n].lower()):
                continue
            span = to_words(start, n)
            if span is None:
                continue
            g = text[span[0]:span[1]].lower()
            if g in seen or any(g in o["term"] or o["term"] in g for o in out):
                continue
            seen.add(g)
            out.append({"term": g, "weight": round(float(contrib[i]), 4)})
            if len(out) == k:
                break
        return out

    # ---------------------------------------------------------------- persistence
    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("estimator", "C", "class_weight", "cues",
                                               "cue_weight", "min_df", "folds",
                                               "target_precision", "min_margin", "random_state",
                                               "title_weight")}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        self.idf_.save(directory)
        if self.title_idf_ is not None:
            self.title_idf_.save(directory, prefix="title_idf")
        np.save(directory / "coef.npy", self.coef_.astype(np.float32), allow_pickle=False)
        np.save(directory / "intercept.npy", self.intercept_.astype(np.float32), allow_pickle=False)
        if self.cues:
            np.save(directory / "cue_mean.npy", np.asarray(self.cue_stats_[0], np.float32),
                    allow_pickle=False)
            np.save(directory / "cue_scale.npy", np.asarray(self.cue_stats_[1], np.float32),
                    allow_pickle=False)
        state = {"params": self.params(), "labels": self.labels_,
                 "temperature": self.temperature_, "thresholds": self.thresholds_,
                 "features": FEATURE_IDENTITY}
        if self.cues:
            state["cue_lexicon"] = CUE_IDENTITY
        (directory / "head.json").write_text(json.dumps(state, ensure_ascii=False, indent=2),
                                             encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "TextHead":
        directory = Path(directory)
        try:
            state = json.loads((directory / "head.json").read_text(encoding="utf-8"))
            coef = np.load(directory / "coef.npy", allow_pickle=False)
            intercept = np.load(directory / "intercept.npy", allow_pickle=False)
            idf = Idf.load(directory)
            title_idf = None
            if state["params"].get("title_weight", 0) > 0:
                title_idf = Idf.load(directory, prefix="title_idf")
        except (OSError, ValueError, KeyError) as exc:
            raise BadModel(f"head {directory} is incomplete or corrupt: {exc}") from None
        if state.get("features") != FEATURE_IDENTITY:
            raise BadModel(f"head {directory} was built with features {state.get('features')!r}; "
                           f"this software computes {FEATURE_IDENTITY!r}; retrain it")
        if state["params"].get("cues") and state.get("cue_lexicon") != CUE_IDENTITY:
            raise BadModel(f"head {directory} was built with cue lexicon "
                           f"{state.get('cue_lexicon') or 'cues/v1'!r}; this software computes "
                           f"{CUE_IDENTITY!r}; retrain it (hotline train --head ...)")
        self = cls(**state["params"])
        self.labels_ = state["labels"]
        self.temperature_ = float(state["temperature"])
        self.thresholds_ = state["thresholds"]
        width = idf.width + (title_idf.width if title_idf else 0) + (N_CUES if self.cues else 0)
        if coef.shape != (len(self.labels_), width):
            raise BadModel(f"head {directory}: coefficients have shape {coef.shape}, expected "
                           f"{(len(self.labels_), width)}")
        self.coef_, self.intercept_, self.idf_, self.title_idf_ = coef, intercept, idf, title_idf
        self.coef_t_ = np.ascontiguousarray(coef.T)
        self.cue_stats_ = None
        if self.cues:
            self.cue_stats_ = (np.load(directory / "cue_mean.npy", allow_pickle=False),
                               np.load(directory / "cue_scale.npy", allow_pickle=False))
        return self


# Masked placeholders ([手机号] ...) become a gap: their inner characters are ours, not the caller's.
_PLACEHOLDER = re.compile(r"\[[^\[\]\s]{1,6}\]")
MAX_TERM_CHARS = 8
_WORD_CHAR = re.compile(r"[a-z\u3400-\u9fff]")
_NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u9fff]")


def evidence_text(full_text: str) -> str:
    """The request with PII masked out, so evidence never quotes a phone or ID
    number (or a piece of one)."""
    return _PLACEHOLDER.sub(" ", mask_pii(full_text))


def _shown_term(gram: str) -> bool:
    """A term worth showing: has a CJK character or letter and does not span
    punctuation or spaces (``号，我`` is two fragments, not a phrase)."""
    return bool(_WORD_CHAR.search(gram)) and not _NOT_WORD.search(gram)


def _span_arrays(length: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, sizes) of each n-gram in ``features.char_ngrams`` order (n-major)."""
    ns = [n for n in range(NGRAM_RANGE[0], NGRAM_RANGE[1] + 1) if length - n + 1 > 0]
    starts = np.concatenate([np.arange(length - n + 1) for n in ns]) if ns else np.zeros(0, int)
    sizes = np.concatenate([np.full(length - n + 1, n) for n in ns]) if ns else np.zeros(0, int)
    return starts, sizes


@functools.lru_cache(maxsize=32)
def _evidence_grams(full_text: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(evidence text, hashed column, start and size of each of its n-grams):
    the same for every head, so computed once per request."""
    text = evidence_text(full_text)
    return (text, ngram_columns(text), *_span_arrays(len(text)))


@functools.lru_cache(maxsize=32)
def _word_edges(text: str) -> tuple[list[int], frozenset[int]]:
    """Word edges of ``text``, sorted and as a set (cached: both heads ask for the
    same request; plain lists, as the evidence loop looks them up one at a time)."""
    from index.text import get_tokenizer

    bounds, edge = {0, len(text)}, 0
    low = text.lower()
    for tok in get_tokenizer().cut(text):  # may drop whitespace: locate each token
        at = low.find(tok.lower(), edge)
        if at < 0:
            continue
        bounds.update((at, at + len(tok)))
        edge = at + len(tok)
    return sorted(bounds), frozenset(bounds)


def _word_aligned(text: str):
    """Maps an n-gram (start, n) to the words it stands for: itself when it is
    whole words, the enclosing word when it lies inside one (积金 → 公积金), None
    when it straddles a word edge (重影 from 严重影响, 下k from 楼下KTV): those
    are model features, not something to show an agent. jieba runs only here,
    on the single-request evidence path."""
    edges, bounds = _word_edges(text)

    def span(start: int, n: int):
        end = start + n
        if start in bounds and end in bounds:
            return start, end
        i = bisect.bisect_right(edges, start)
        if i < len(edges) and edges[i] < end:
            return None  # a word edge strictly inside: straddles two words
        lo, hi = edges[i - 1], edges[min(i, len(edges) - 1)]
        return (lo, hi) if hi - lo <= MAX_TERM_CHARS else None

    return span


def _subset(prep: TextFeatures, rows) -> TextFeatures:
    sub = TextFeatures.__new__(TextFeatures)
    rows = np.asarray(rows)
    sub.titles = [prep.titles[i] for i in rows]
    sub.bodies = [prep.bodies[i] for i in rows]
    sub.full = [prep.full[i] for i in rows]
    sub.counts = prep.counts[rows]
    tc = getattr(prep, "_title_counts", None)
    sub._title_counts = None if tc is None else tc[rows]
    return sub


def _scores(model, x, n_labels: int) -> np.ndarray:
    s = np.asarray(model.decision_function(x))
    if s.ndim == 1:  # binary: one margin for the second class
        s = np.c_[np.zeros_like(s), s]
    out = np.full((x.shape[0], n_labels), -1e4)
    out[:, :s.shape[1]] = s  # fold without the rarest class cannot happen (stratified)
    return out


def _full_coef(model, n_labels: int):
    coef = np.asarray(model.coef_, dtype=np.float32)
    intercept = np.asarray(model.intercept_, dtype=np.float32).ravel()
    if coef.shape[0] == 1 and n_labels == 2:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.array([0.0, intercept[0]], dtype=np.float32)
    return coef, intercept
