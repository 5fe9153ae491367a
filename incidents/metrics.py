"""Clustering scores: B-cubed and pairwise precision / recall / F1.

Both are computed from the contingency counts n(c, g) (reports in predicted
incident c and gold incident g), so they cost O(n), not O(n^2):

* B-cubed precision = mean over reports of |C(i) ∩ G(i)| / |C(i)|
  = (1/n) Σ n(c,g)² / n(c); recall the same with n(g); F1 their harmonic mean.
* pairwise: a pair of reports is predicted linked when they share an incident;
  precision / recall over linked pairs, counted as Σ n(n-1)/2.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _check(pred: Sequence, gold: Sequence) -> None:
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predicted labels but {len(gold)} gold labels")


def bcubed(pred: Sequence, gold: Sequence) -> dict:
    _check(pred, gold)
    n = len(pred)
    if not n:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    joint = Counter(zip(pred, gold))
    size_c, size_g = Counter(pred), Counter(gold)
    p = sum(k * k / size_c[c] for (c, _), k in joint.items()) / n
    r = sum(k * k / size_g[g] for (_, g), k in joint.items()) / n
    return {"precision": p, "recall": r, "f1": _f1(p, r)}


def pairwise(pred: Sequence, gold: Sequence) -> dict:
    _check(pred, gold)

    def pairs(counts):
        return sum(k * (k - 1) // 2 for k in counts)

    tp = pairs(Counter(zip(pred, gold)).values())
    pp, gp = pairs(Counter(pred).values()), pairs(Counter(gold).values())
    p = tp / pp if pp else (1.0 if not gp else 0.0)
    r = tp / gp if gp else 1.0
    return {"precision": p, "recall": r, "f1": _f1(p, r)}


def scores(pred: Sequence, gold: Sequence) -> dict:
    """Both families of scores and the count of predicted incidents."""
    b, pw = bcubed(pred, gold), pairwise(pred, gold)
    return {"bcubed_precision": b["precision"], "bcubed_recall": b["recall"],
            "bcubed_f1": b["f1"], "pairwise_precision": pw["precision"],
            "pairwise_recall": pw["recall"], "pairwise_f1": pw["f1"],
            "incidents": len(set(pred))}
