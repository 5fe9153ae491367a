"""The department list in force on top of a trained department head.

A centre edits its responsibility list (权责清单) more often than it retrains:
a department is added, one is dissolved, a responsibility moves. Compared with
the list the head was trained with (the bundle's ``taxonomy.json``), the list
in force (the home's departments file) changes routing at once:

* **Added departments** (in the list, unknown to the head) are routed by the
  cold-start router (``classifier.coldstart``) over the whole list: a request
  whose cold-start top department is one the head never saw goes there, with
  the router's probabilities and review rule; every other request keeps the
  head's answer. Measured on the real messages with one domain left out of
  training (docs/dispatch.md): macro-F1 over the 7 domains 0.770 → 0.880 and
  0.786 → 0.872, the new domain found for 75 % / 53 % of its messages, 4–5 %
  of the others taken away.
* **Removed departments** (known to the head, gone from the list) get no
  probability; the head's remaining probabilities are renormalised.
* **Moved responsibilities**: a keyword added to a department's list entry
  since training sends a request naming it to that department (0.6 of the
  probability, so it leads), flagged for review with reason
  ``list_update`` until the head is retrained on such requests. A keyword
  removed from a department changes nothing by itself (the head learned more
  than the word); move it to the new owner to move the requests.

With both lists equal, nothing changes (``ListUpdates.needed`` is false and the
bundle does not build one).
"""
from __future__ import annotations

import numpy as np

from classifier.coldstart import ColdStartRouter, KeywordMatcher
from classifier.features import TextFeatures

# The share of probability a moved keyword gives its new owner: more than half, so it
# leads even against a head that was sure of the old owner.
MOVED_SHARE = 0.6
REASON_NEW = "new_department"
REASON_MOVED = "list_update"


def _keywords(d: dict) -> set[str]:
    return {k for k in (d.get("keywords") or []) if k}


class ListUpdates:
    """``head_labels``: the departments the trained head predicts; ``trained``:
    the list it was trained with (None: unknown, so no keyword is "added");
    ``current``: the list in force."""

    def __init__(self, head_labels: list[str], trained: list[dict] | None, current: list[dict]):
        self.head_labels = list(head_labels)
        self.trained = trained
        self.current = list(current)

    @staticmethod
    def related(head_labels, current: list[dict] | None) -> bool:
        """Whether ``current`` is an edit of the list the head knows (it names at
        least half of the head's departments) rather than another centre's list:
        a home's demo list beside a model trained on other data must not route."""
        names = {d["name"] for d in current or []}
        return bool(head_labels) and 2 * len(names & set(head_labels)) >= len(set(head_labels))

    @staticmethod
    def needed(head_labels, trained: list[dict] | None, current: list[dict] | None) -> bool:
        if not current or not ListUpdates.related(head_labels, current):
            return False
        names = {d["name"] for d in current}
        if names != set(head_labels):
            return True
        before = {d["name"]: _keywords(d) for d in (trained or [])}
        return any(_keywords(d) - before.get(d["name"], _keywords(d)) for d in current)

    def fit(self) -> "ListUpdates":
        names = [d["name"] for d in self.current]
        self.labels_ = list(self.head_labels) + [n for n in names if n not in self.head_labels]
        self.removed_ = [n for n in self.head_labels if n not in names]
        self.added_ = [n for n in names if n not in self.head_labels]
        self.router_ = ColdStartRouter(self.current).fit() if self.added_ else None
        before = {d["name"]: _keywords(d) for d in (self.trained or [])}
        moved = [{"name": d["name"],
                  "keywords": sorted(_keywords(d) - before.get(d["name"], _keywords(d)))}
                 for d in self.current if d["name"] in before]
        self.moved_ = [m for m in moved if m["keywords"]]
        self.moved_matcher_ = KeywordMatcher(self.moved_) if self.moved_ else None
        return self

    def apply(self, prep: TextFeatures, head_probs: np.ndarray, head_review: np.ndarray):
        """(labels, probabilities over them, review mask, per-row reason or None)."""
        n, width = head_probs.shape[0], len(self.labels_)
        probs = np.zeros((n, width))
        probs[:, :head_probs.shape[1]] = head_probs
        review = head_review.copy()
        reasons: list[str | None] = [None] * n
        if self.removed_:
            gone = [self.labels_.index(r) for r in self.removed_]
            probs[:, gone] = 0.0
            total = probs.sum(axis=1, keepdims=True)
            probs = np.divide(probs, total, out=np.full_like(probs, 1.0 / width), where=total > 0)
        if self.router_ is not None:
            cold = self.router_.predict_proba(prep)
            top = cold.argmax(axis=1)
            cold_labels = self.router_.labels_
            new = {cold_labels.index(a) for a in self.added_}
            rows = [i for i in range(n) if int(top[i]) in new]
            if rows:
                order = [cold_labels.index(name) if name in cold_labels else None
                         for name in self.labels_]
                cold_review = self.router_.needs_review(cold[rows])
                for r, flag in zip(rows, cold_review.tolist()):
                    probs[r] = [cold[r, j] if j is not None else 0.0 for j in order]
                    probs[r] /= probs[r].sum()
                    review[r] = flag
                    reasons[r] = REASON_NEW
        if self.moved_matcher_ is not None:
            hits = self.moved_matcher_.counts(prep.full, normalized=True)
            for r in np.flatnonzero(hits.sum(axis=1)).tolist():
                owner = self.labels_.index(self.moved_[int(hits[r].argmax())]["name"])
                if probs[r].argmax() != owner:
                    probs[r] *= 1.0 - MOVED_SHARE
                    probs[r, owner] += MOVED_SHARE
                    review[r] = True
                    reasons[r] = REASON_MOVED
        return self.labels_, probs, review, reasons
