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

The pool is ``settings.shared_data / gov_messages/unlabeled_messages.csv``
when that file exists (the deployment's unlabelled history); rows whose
normalised text is a training row or an excluded text (an evaluation fold's
test items) are skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

from classifier.cues import GROUPS
from classifier.features import TITLE_FALLBACK, split_title

POOL = Path("gov_messages") / "unlabeled_messages.csv"
WEAK_LABEL = "fault"
WEIGHT = 0.5
CAP = 300


def unlabeled_pool(settings) -> Path | None:
    """The unlabelled messages under ``settings.shared_data``, if present."""
    if settings is None or getattr(settings, "shared_data", None) is None:
        return None
    path = Path(settings.shared_data) / POOL
    return path if path.is_file() else None


def fault_rows(pool: Path, text_cols: list[str], skip_keys: set[str],
               cap: int = CAP) -> list[str]:
    """Texts (joined like training rows) whose title states a fault."""
    from index.text import normalize
    from training.train_classifier import join_text, read_rows

    rows = read_rows(pool)
    if not rows or any(c not in rows[0] for c in text_cols):
        return []  # the pool does not have the training data's columns
    obj, state = re.compile(GROUPS["fault_obj"]), re.compile(GROUPS["fault_state"])
    out, seen = [], set(skip_keys)
    for r in rows:
        text = join_text(r, text_cols)
        key = normalize(text)
        if not key or key in seen:
            continue
        title, body = split_title(text)
        title = title or body[:TITLE_FALLBACK]
        if obj.search(title) and state.search(title):
            seen.add(key)
            out.append(text)
            if len(out) >= cap:
                break
    return out
