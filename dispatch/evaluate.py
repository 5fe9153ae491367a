"""Urgent recall and precision of the urgency rules on labelled sets
(``id,text,urgent`` with urgent in 紧急/较急/一般), beside a keyword-only
baseline (the same rules, every match counted: no negation, past,
hypothetical or resolved handling) from the same run.

Two project sets (docs/dispatch.md): training/data/urgency_dev.csv is the
tuning set (the rules were adjusted by looking at its errors, both of its
former halves); training/data/urgency_test.csv was written before the rules
were read and is scored, never tuned on, so its errors are not listed.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping

from dispatch.errors import DispatchError
from dispatch.urgency import LEVELS, UrgencyRules

_DATA = Path(__file__).resolve().parents[1] / "training" / "data"
TUNING_DATA = _DATA / "urgency_dev.csv"
TEST_DATA = _DATA / "urgency_test.csv"


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


def role(path: Path) -> str:
    """``tuning`` / ``test`` for the project's sets, else the file's stem."""
    path = Path(path).resolve()
    return {TUNING_DATA: "tuning", TEST_DATA: "test"}.get(path, path.stem)


def score(gold: list[str], pred: list[str]) -> dict:
    tp = sum(g == "紧急" and p == "紧急" for g, p in zip(gold, pred))
    fp = sum(g != "紧急" and p == "紧急" for g, p in zip(gold, pred))
    fn = sum(g == "紧急" and p != "紧急" for g, p in zip(gold, pred))
    return {"n": len(gold), "urgent": tp + fn, "tp": tp, "fp": fp, "fn": fn,
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            # A set labelled 紧急 / 一般 only (the test set) has no 3-level figure.
            "level_accuracy": (sum(g == p for g, p in zip(gold, pred)) / max(1, len(gold))
                               if "较急" in gold else None)}


def evaluate(sets: Mapping[str, list[dict]], raw: Mapping | None = None) -> dict:
    """Scores per set (``{role: rows}``) for the rules and the keyword
    baseline; ``raw`` is the settings' [dispatch.urgency] table. Errors are
    kept for every set but ``test``."""
    from index.text import Normalizer

    norm = Normalizer()
    systems = {"rules": UrgencyRules.from_mapping(raw),
               "keyword_baseline": UrgencyRules.from_mapping(raw, context=False)}
    out: dict = {"systems": {name: {} for name in systems}, "errors": []}
    for part, rows in sets.items():
        texts = [norm(r["text"]) for r in rows]
        gold = [r["urgent"] for r in rows]
        for name, system in systems.items():
            pred = [system.assess(t).level for t in texts]
            out["systems"][name][part] = score(gold, pred)
            if name != "rules" or part == "test":
                continue
            out["errors"] += [{"set": part, "id": r["id"], "gold": g, "pred": p, "text": r["text"]}
                              for r, g, p in zip(rows, gold, pred)
                              if (p == "紧急") != (g == "紧急")]
    return out


def to_text(report: dict, paths: Mapping[str, Path]) -> str:
    lines = [f"urgency {part} set: {path}" for part, path in paths.items()]
    lines += ["", f"{'system':<18}{'set':<10}{'n':>5}{'urgent':>8}{'recall':>8}{'precision':>11}"
             f"{'fp':>5}{'fn':>5}{'3-level acc':>13}"]
    for name, parts in report["systems"].items():
        for part, s in parts.items():
            lines.append(f"{name:<18}{part:<10}{s['n']:>5}{s['urgent']:>8}{s['recall']:>8.3f}"
                         f"{s['precision']:>11.3f}{s['fp']:>5}{s['fn']:>5}"
                         + (f"{s['level_accuracy']:>13.3f}" if s["level_accuracy"] is not None
                            else f"{'-':>13}"))
    return "\n".join(lines)
