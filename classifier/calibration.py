"""Calibration (temperature scaling), review thresholds and calibration error.

All three are fitted on out-of-fold scores, so no training row judges itself.
"""
from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of ``y`` (class indices).
    A 1-D search is enough for one parameter and never fails to converge."""
    grid = np.exp(np.linspace(np.log(0.01), np.log(20.0), 200))

    def nll(t):
        p = softmax(scores, t)
        return -np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)))

    losses = [nll(t) for t in grid]
    best = int(np.argmin(losses))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    fine = np.linspace(lo, hi, 50)
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-1 confidence (equal-width bins)."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def pick_thresholds(probs: np.ndarray, y: np.ndarray, labels: list[str],
                    target_precision: float, min_support: int = 5) -> dict:
    """Per predicted class, the lowest confidence threshold at which predictions
    of that class are right at least ``target_precision`` of the time.

    Returns ``{label: {"threshold", "precision", "coverage", "support"}}`` where
    coverage is the share of that class's predictions kept automatic. A class
    that never reaches the target (or has fewer than ``min_support`` held-back
    predictions) gets threshold 1.01: every prediction of it goes to review.
    """
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    out = {}
    for k, label in enumerate(labels):
        sel = pred == k
        n = int(sel.sum())
        if n < min_support:
            out[label] = {"threshold": 1.01, "precision": None, "coverage": 0.0, "support": n}
            continue
        c = conf[sel]
        ok = (y[sel] == k)
        order = np.argsort(-c)
        c, ok = c[order], ok[order]
        prec = np.cumsum(ok) / np.arange(1, n + 1)
        # Largest prefix (highest-confidence predictions) whose precision meets the target.
        good = np.nonzero(prec >= target_precision)[0]
        if len(good) == 0:
            out[label] = {"threshold": 1.01, "precision": float(prec[0]), "coverage": 0.0,
                          "support": n}
            continue
        i = int(good[-1])
        out[label] = {"threshold": float(c[i]), "precision": float(prec[i]),
                      "coverage": float((i + 1) / n), "support": n}
    return out


def review_mask(probs: np.ndarray, labels: list[str], thresholds: dict,
                min_margin: float = 0.0) -> np.ndarray:
    """True where the prediction should go to a person."""
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    thr = np.array([thresholds.get(l, {}).get("threshold", 1.01) for l in labels])
    mask = conf < thr[pred]
    if min_margin > 0 and probs.shape[1] > 1:
        top2 = np.sort(probs, axis=1)[:, -2]
        mask |= (conf - top2) < min_margin
    return mask
