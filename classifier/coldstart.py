"""Cold-start routing: with no labelled history, score each department by the
similarity of the request to its name, responsibilities and keywords, plus a
bonus per matched keyword. Also the keyword evidence for trained models."""
from __future__ import annotations

import numpy as np

from classifier.calibration import softmax
from classifier.features import Idf, TextFeatures
from index.text import normalize

KEYWORD_BONUS = 0.15
SHARPNESS = 20.0  # similarities are small numbers; this spreads them into probabilities


def department_text(d: dict) -> str:
    return " ".join([d.get("name", ""), d.get("responsibilities", ""),
                     " ".join(d.get("keywords", []) or []), " ".join(d.get("aliases", []) or [])])


def matched_keywords(text: str, department: dict) -> list[str]:
    norm = normalize(text).lower()
    return [k for k in department.get("keywords", []) or [] if k and normalize(k).lower() in norm]


class ColdStartRouter:
    def __init__(self, departments: list[dict]):
        self.departments = departments

    def fit(self) -> "ColdStartRouter":
        self.labels_ = [d["name"] for d in self.departments]
        prep = TextFeatures([department_text(d) for d in self.departments])
        self.idf_ = Idf(1).fit(prep.counts)
        self.matrix_ = self.idf_.transform(prep.counts)
        return self

    def predict_proba(self, prep: TextFeatures) -> np.ndarray:
        sims = np.asarray((self.idf_.transform(prep.counts) @ self.matrix_.T).todense())
        bonus = np.array([[len(matched_keywords(t, d)) for d in self.departments]
                          for t in prep.full], dtype=np.float64)
        return softmax((sims + KEYWORD_BONUS * np.log1p(bonus)) * SHARPNESS)
