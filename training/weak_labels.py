"""Weak labels for the type head from unlabelled messages.

``fault`` is the rare class (32 of 400 typed rows); the cue lexicon
(``classifier.cues``) already states what a fault is. A message whose *title*
names a thing that breaks (路灯, 水管, 电梯 ...) and a broken state or a repair
(坏, 故障, 维修 ...) is labelled ``fault`` and added to training with a lower
weight; it is never scored, so calibration, thresholds and metrics still come
from the real labels only (``TextHead.fit(weak=...)``).

Measured (docs/classifier.md): 4-fold CV on typed_dev, 3 seeds, clear items —
without 0.839, with ~76 cue-rule fault rows at weight 0.5 0.851 macro-F1.
Confident self-training on all classes lost (0.78–0.80): thousands of pseudo
complaints drown the 400 real rows.

Round 3 (docs/classifier.md): 4-fold CV x 10 seeds 0.844 -> 0.885 with the
outage rule and cue group and cue weight 0.05; without any pool 0.845.
A title naming an outage (停水, 停电, 信号差 ... the ``outage`` cue
group) is a fault by the label definition even with no "broken" word, so it
also fires the rule (73 → 141 rows with typed_dev), at weight 0.3.

The pool is ``unlabeled_messages.csv`` next to the training file when there
is one (the deployment keeps its unlabelled history beside its labelled
sample), else ``settings.shared_data / gov_messages/unlabeled_messages.csv``;
none → no weak labels. Rows whose normalised text is a training row or an
excluded text (an evaluation fold's test items) are skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

from classifier.cues import GROUPS
from classifier.features import TITLE_FALLBACK, split_title

_OBJ, _STATE, _OUTAGE = (re.compile(GROUPS[g]) for g in ("fault_obj", "fault_state", "outage"))

POOL_NAME = "unlabeled_messages.csv"
POOL = Path("gov_messages") / POOL_NAME
WEAK_LABEL = "fault"
WEIGHT = 0.3
CAP = 300
RULE = ("title names a fault object and a fault state, or an outage "
        "(classifier.cues fault_obj/fault_state/outage)")


def unlabeled_pool(settings, data: Path | None = None) -> Path | None:
    """The unlabelled messages beside ``data`` or under ``settings.shared_data``, if present."""
    candidates = []
    if data is not None:
        candidates.append(Path(data).parent / POOL_NAME)
    if settings is not None and getattr(settings, "shared_data", None) is not None:
        candidates.append(Path(settings.shared_data) / POOL)
    return next((p for p in candidates if p.is_file()), None)


def is_fault_title(title: str) -> bool:
    """The weak-label rule on a title (or the opening words when there is none)."""
    return bool((_OBJ.search(title) and _STATE.search(title)) or _OUTAGE.search(title))


def fault_rows(pool: Path, text_cols: list[str], skip_keys: set[str],
               cap: int = CAP) -> list[str]:
    """Texts (joined like training rows) whose title states a fault."""
    from index.text import normalize
    from training.train_classifier import join_text, read_rows

    rows = read_rows(pool)
    if not rows or any(c not in rows[0] for c in text_cols):
        return []  # the pool does not have the training data's columns
    out, seen = [], set(skip_keys)
    for r in rows:
        text = join_text(r, text_cols)
        key = normalize(text)
        if not key or key in seen:
            continue
        title, body = split_title(text)
        title = title or body[:TITLE_FALLBACK]
        if is_fault_title(title):
            seen.add(key)
            out.append(text)
            if len(out) >= cap:
                break
    return out
