"""Urgent recall and precision of the urgency rules on a labelled set
(``id,text,urgent`` with urgent in 紧急/较急/一般), beside a keyword-only
baseline (the same rules, every match counted: no negation, past,
hypothetical or resolved handling) from the same run.

The project's set (training/data/urgency_dev.csv) is split by id, fixed: odd
id numbers are the tuning half (the rules were adjusted by looking at its
errors only), even ones the held-out half.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping

from dispatch.errors import DispatchError
from dispatch.urgency import LEVELS, UrgencyRules

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "training" / "data" / "urgency_dev.csv"


def read_set(path: Path) -> list[dict]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise DispatchError(f"urgency set {path} does not exist") from None
    if not rows or not {"id", "text", "urgent"} <= set(rows[0]):
        raise DispatchError(f"{path}: expected columns id,text,urgent")
    for r in rows:
        if r["urgent"] not in LEVELS:
            raise DispatchError(f"{path}: id {r['id']}: urgent={r['urgent']!r}, expected one of "
                                f"{list(LEVELS)}")
    return rows


def half(row_id: str) -> str:
    digits = "".join(ch for ch in row_id if ch.isdigit())
    if not digits:
        raise DispatchError(f"id {row_id!r} holds no number; the split is by id number")
    return "tuning" if int(digits) % 2 else "held-out"


def score(gold: list[str], pred: list[str]) -> dict:
    tp = sum(g == "紧急" and p == "紧急" for g, p in zip(gold, pred))
    fp = sum(g != "紧急" and p == "紧急" for g, p in zip(gold, pred))
    fn = sum(g == "紧急" and p != "紧急" for g, p in zip(gold, pred))
    return {"n": len(gold), "urgent": tp + fn, "tp": tp, "fp": fp, "fn": fn,
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "level_accuracy": sum(g == p for g, p in zip(gold, pred)) / max(1, len(gold))}


def evaluate(rows: list[dict], raw: Mapping | None = None) -> dict:
    """Scores per half and overall for the rules and the keyword baseline;
    ``raw`` is the settings' [dispatch.urgency] table."""
    from index.text import Normalizer

    norm = Normalizer()
    texts = [norm(r["text"]) for r in rows]
    systems = {"rules": UrgencyRules.from_mapping(raw),
               "keyword_baseline": UrgencyRules.from_mapping(raw, context=False)}
    preds = {name: [s.assess(t).level for t in texts] for name, s in systems.items()}
    out: dict = {"systems": {}, "errors": []}
    for name, pred in preds.items():
        out["systems"][name] = {}
        for part in ("tuning", "held-out", "all"):
            idx = [i for i, r in enumerate(rows) if part == "all" or half(r["id"]) == part]
            out["systems"][name][part] = score([rows[i]["urgent"] for i in idx],
                                               [pred[i] for i in idx])
    for i, r in enumerate(rows):
        p = preds["rules"][i]
        if (p == "紧急") != (r["urgent"] == "紧急") and half(r["id"]) == "tuning":
            out["errors"].append({"id": r["id"], "gold": r["urgent"], "pred": p, "text": r["text"]})
    return out


def to_text(report: dict, data: Path) -> str:
    lines = [f"urgency set: {data}", "",
             f"{'system':<18}{'half':<10}{'n':>5}{'urgent':>8}{'recall':>8}{'precision':>11}"
             f"{'fp':>5}{'fn':>5}{'3-level acc':>13}"]
    for name, parts in report["systems"].items():
        for part, s in parts.items():
            lines.append(f"{name:<18}{part:<10}{s['n']:>5}{s['urgent']:>8}{s['recall']:>8.3f}"
                         f"{s['precision']:>11.3f}{s['fp']:>5}{s['fn']:>5}"
                         f"{s['level_accuracy']:>13.3f}")
    return "\n".join(lines)
