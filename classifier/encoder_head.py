"""A head over sentence-encoder vectors, and its blend with a TF-IDF head.

:class:`EncoderHead` is a logistic regression on the vectors of an embedder
(``index.embedders``) of each text's first ``max_chars`` characters. The gov
recipe uses the static tier (token vectors distilled from USE-m3, built in the
home): its blend scored like USE-m3's on the dev sets (docs/classifier.md) at a
cost that does not grow with the text, where USE-m3 embeds ~25k tokens a second
on a core and would hold batch reclassification far below 2,000 messages/s. The n-gram head reads the words a
message uses; the encoder reads what it means, and carries over to phrasings
the labelled rows never used (phone-style calls, dialect, typos).

:class:`BlendedHead` is what the bundle serves as a head: the weighted mean of
both heads' probabilities, temperature-scaled and thresholded on out-of-fold
predictions of the blend itself (the same folds for both members), so the
review zone is calibrated for what is served. Evidence (top terms, similar
cases) comes from the n-gram head.

scikit-learn conventions: ``__init__`` stores parameters, ``fit`` returns
self, learned state ends in ``_``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from classifier import calibration
from classifier.errors import BadModel, BadTrainingData
from classifier.features import TextFeatures
from classifier.head import _full_coef

ENCODER_DIR = "encoder"
BLEND_FILE = "blend.json"


class EncoderHead:
    def __init__(self, embedder: str = "static", max_chars: int = 128, C: float = 4.0,
                 class_weight="balanced", folds: int = 5, random_state: int = 0):
        self.embedder = embedder
        self.max_chars = max_chars
        self.C = C
        self.class_weight = class_weight
        self.folds = folds
        self.random_state = random_state

    def _model(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=3000)

    def fit(self, vectors: np.ndarray, y, labels: list[str], sample_weight=None,
            weak=None) -> "EncoderHead":
        """``labels``: the class order (the n-gram head's). Out-of-fold
        probabilities of the real (not ``weak``) rows, in their order, use the
        n-gram head's folds (same count, seed and stratification)."""
        from sklearn.model_selection import StratifiedKFold

        y = np.asarray([str(v) for v in y])
        yi = np.array([labels.index(v) for v in y])
        w = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        weak = np.zeros(len(y), bool) if weak is None else np.asarray(weak, bool)
        gold, extra = np.nonzero(~weak)[0], np.nonzero(weak)[0]
        self.labels_ = list(labels)
        folds = int(min(self.folds, np.bincount(yi[gold], minlength=len(labels)).min()))
        self.oof_probs_ = None
        if folds >= 2:
            oof = np.zeros((len(gold), len(labels)))
            skf = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            for tr, te in skf.split(np.zeros(len(gold)), yi[gold]):
                tr = np.concatenate([gold[tr], extra])
                model = self._model().fit(vectors[tr], yi[tr], None if w is None else w[tr])
                oof[te] = _aligned(model, vectors[gold[te]], len(labels))
            self.oof_probs_ = oof
        model = self._model().fit(vectors, yi, w)   # every class is present in all rows
        self.coef_, self.intercept_ = _full_coef(model, len(labels))
        return self

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        return calibration.softmax(vectors @ self.coef_.T + self.intercept_)

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("embedder", "max_chars", "C", "class_weight",
                                               "folds", "random_state")}

    def save(self, directory: Path, identity: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "coef.npy", self.coef_, allow_pickle=False)
        np.save(directory / "intercept.npy", self.intercept_, allow_pickle=False)
        (directory / "encoder.json").write_text(json.dumps(
            {"params": self.params(), "labels": self.labels_, "embedder_identity": identity},
            ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> tuple["EncoderHead", str]:
        """The head and the identity of the embedder it was trained on."""
        try:
            state = json.loads((directory / "encoder.json").read_text(encoding="utf-8"))
            coef = np.load(directory / "coef.npy", allow_pickle=False)
            intercept = np.load(directory / "intercept.npy", allow_pickle=False)
        except (OSError, ValueError, KeyError) as exc:
            raise BadModel(f"encoder head {directory} is incomplete or corrupt: {exc}") from None
        self = cls(**state["params"])
        self.labels_ = state["labels"]
        self.coef_, self.intercept_ = coef, intercept
        return self, state["embedder_identity"]


def _aligned(model, x, n_labels: int) -> np.ndarray:
    """predict_proba with one column per label (a fold may miss a class)."""
    out = np.zeros((len(x), n_labels))
    out[:, model.classes_] = model.predict_proba(x)
    return out


class BlendedHead:
    """``weight`` × n-gram head + (1 − ``weight``) × encoder head, calibrated together."""

    def __init__(self, text_head, encoder_head: EncoderHead, weight: float = 0.5,
                 target_precision: float = 0.9):
        self.text_head = text_head
        self.encoder_head = encoder_head
        self.weight = weight
        self.target_precision = target_precision
        self.embedder = None   # set by the bundle (``attach``) before predicting

    # The n-gram head's state serves evidence and the case index.
    @property
    def labels_(self) -> list[str]:
        return self.text_head.labels_

    @property
    def idf_(self):
        return self.text_head.idf_

    def top_terms(self, *args, **kwargs):
        return self.text_head.top_terms(*args, **kwargs)

    def _mix(self, p_text: np.ndarray, p_enc: np.ndarray) -> np.ndarray:
        return np.log(np.clip(self.weight * p_text + (1 - self.weight) * p_enc, 1e-12, None))

    def fit_blend(self) -> "BlendedHead":
        """Temperature and review thresholds from both members' out-of-fold
        probabilities (call after fitting both on the same rows)."""
        t, e = self.text_head, self.encoder_head
        if t.oof_probs_ is None or e.oof_probs_ is None:
            raise BadTrainingData("a class has too few rows for out-of-fold calibration")
        yi = t.oof_y_
        scores = self._mix(t.oof_probs_, e.oof_probs_)
        self.temperature_ = calibration.fit_temperature(scores, yi)
        probs = calibration.softmax(scores, self.temperature_)
        self.thresholds_ = calibration.pick_thresholds(probs, yi, self.labels_,
                                                       self.target_precision)
        self.oof_probs_, self.oof_y_ = probs.astype(np.float32), yi
        self.folds_used_ = t.folds_used_
        return self

    def attach(self, embedder) -> "BlendedHead":
        self.embedder = embedder
        return self

    def vectors(self, prep: TextFeatures) -> np.ndarray:
        if self.embedder is None:
            raise BadModel("this head blends a sentence encoder; load it with its embedder "
                           "(classifier.load_bundle does)")
        return prep.vectors(self.embedder, self.encoder_head.max_chars)

    def predict_proba(self, prep: TextFeatures) -> np.ndarray:
        p_text = self.text_head.predict_proba(prep)
        p_enc = self.encoder_head.predict_proba(self.vectors(prep))
        return calibration.softmax(self._mix(p_text, p_enc), self.temperature_)

    def predict(self, prep: TextFeatures) -> list[str]:
        return [self.labels_[i] for i in self.predict_proba(prep).argmax(axis=1)]

    def needs_review(self, probs: np.ndarray) -> np.ndarray:
        return calibration.review_mask(probs, self.labels_, self.thresholds_,
                                       self.text_head.min_margin)

    def params(self) -> dict:
        return {"blend_weight": self.weight, "text": self.text_head.params(),
                "encoder": self.encoder_head.params()}

    def save(self, directory: Path, identity: str) -> None:
        directory = Path(directory)
        self.text_head.save(directory)
        self.encoder_head.save(directory / ENCODER_DIR, identity)
        (directory / BLEND_FILE).write_text(json.dumps(
            {"weight": self.weight, "temperature": self.temperature_,
             "thresholds": self.thresholds_, "target_precision": self.target_precision},
            ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, text_head) -> tuple["BlendedHead", str]:
        """The blend around an already loaded n-gram head, and the identity of
        the embedder its encoder head needs."""
        directory = Path(directory)
        encoder, identity = EncoderHead.load(directory / ENCODER_DIR)
        try:
            state = json.loads((directory / BLEND_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadModel(f"blended head {directory} is incomplete or corrupt: {exc}") from None
        self = cls(text_head, encoder, state["weight"], state["target_precision"])
        self.temperature_, self.thresholds_ = float(state["temperature"]), state["thresholds"]
        if encoder.labels_ != text_head.labels_:
            raise BadModel(f"blended head {directory}: the encoder head's labels "
                           f"{encoder.labels_} differ from {text_head.labels_}")
        return self, identity


def is_blended(directory: Path) -> bool:
    return (Path(directory) / BLEND_FILE).is_file()
