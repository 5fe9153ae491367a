"""Scoring lead and co-handling departments on a labelled set
(training/data/compound/: id,text,lead,co,kind,group; co semicolon-joined)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

DATA_DIR = Path(__file__).resolve().parent.parent / "training" / "data" / "compound"
COLUMNS = ("id", "text", "lead", "co", "kind")


def read_set(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows:
        missing = [c for c in COLUMNS if c not in rows[0]]
        if missing:
            raise ValueError(f"{path}: no column(s) {missing}; expected {list(COLUMNS)}")
    for r in rows:
        r["co"] = [c for c in (r["co"] or "").split(";") if c]
    return rows


def metrics(rows: Sequence[dict], preds: Sequence) -> dict:
    """Lead accuracy (all, compound, single), co-handler micro precision/recall/F1
    over (request, department) pairs, and the share of single-issue requests
    given any co-handler. ``preds``: dispatch.codepts.Departments per row."""
    n = len(rows)
    lead_ok = [bool(p.lead) and p.lead["name"] == r["lead"] for r, p in zip(rows, preds)]
    comp = [i for i, r in enumerate(rows) if r["co"]]
    single = [i for i, r in enumerate(rows) if not r["co"]]
    tp = fp = fn = 0
    errors = []
    for r, p, ok in zip(rows, preds, lead_ok):
        gold, got = set(r["co"]), set(p.co_names)
        tp += len(gold & got)
        fp += len(got - gold)
        fn += len(gold - got)
        if not ok or gold != got:
            errors.append({"id": r["id"], "gold_lead": r["lead"], "lead": (p.lead or {}).get("name"),
                           "gold_co": sorted(gold), "co": sorted(got), "text": r["text"]})
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {
        "n": n, "compound": len(comp), "single": len(single),
        "lead_acc": sum(lead_ok) / n if n else 0.0,
        "lead_acc_compound": sum(lead_ok[i] for i in comp) / len(comp) if comp else 0.0,
        "lead_acc_single": sum(lead_ok[i] for i in single) / len(single) if single else 0.0,
        "co_precision": prec, "co_recall": rec,
        "co_f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "false_co_single": (sum(1 for i in single if preds[i].co) / len(single)) if single else 0.0,
        "errors": errors,
    }


def to_text(reports: dict) -> str:
    """reports: {(split, method): metrics()}; one table."""
    head = ("split  method    n    lead   lead(comp) lead(single) co_P   co_R   co_F1  "
            "false_co(single)")
    lines = [head]
    for (split, method), r in reports.items():
        lines.append(f"{split:<6} {method:<8} {r['n']:>4}  {r['lead_acc']:.3f}  {r['lead_acc_compound']:.3f}"
                     f"      {r['lead_acc_single']:.3f}        {r['co_precision']:.3f}  "
                     f"{r['co_recall']:.3f}  {r['co_f1']:.3f}  {r['false_co_single']:.3f}")
    return "\n".join(lines)


def evaluate(sets: dict, score, departments: Sequence[dict], rules=None, whole=None) -> dict:
    """{(split, "model"|"keywords"): metrics()} for each ``{split: rows}``; the model is
    dispatch.codepts.assign over ``score`` (texts -> department scores) with the
    list's mentions and keywords, the baseline keyword rules alone over the same
    list. ``whole``: texts -> the whole texts' scores as the served path has them
    (the prediction's top 3); default ``score``'s."""
    from dispatch.codepts import (CoRules, assign, keyword_baseline, keyword_patterns,
                                  mention_patterns)
    from index.text import Normalizer

    norm = Normalizer()
    mentions, keywords = mention_patterns(departments), keyword_patterns(departments)
    out = {}
    for split, rows in sets.items():
        texts = [norm(r["text"]) for r in rows]
        out[(split, "model")] = metrics(rows, assign(
            texts, score, rules or CoRules(), whole=whole(texts) if whole else None,
            mentions=mentions, keywords=keywords))
        out[(split, "keywords")] = metrics(rows, [keyword_baseline(t, departments) for t in texts])
    return out
