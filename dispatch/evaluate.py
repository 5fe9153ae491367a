"""Urgent recall and precision of the urgency levels on labelled sets
(``id,text,urgent`` with urgent in 紧急/较急/一般): the product (rules and the
learned signal), the rules alone, and a keyword-only baseline (the same rules,
every match counted: no negation, past, hypothetical or resolved handling),
all from the same run.

Project sets (docs/dispatch.md): urgency_dev.csv, urgency_test.csv,
urgency_test2.csv and urgency_probes.csv in training/data together are the
tuning set (the rules were adjusted by looking at the errors of the first two
and written with the probes; the learned signal trains on all four);
training/data/urgency_test3.csv and urgency_test4.csv were each written by
someone who had read neither the rules nor any other set; they are scored,
never tuned on, so their errors are not listed.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping

from dispatch.errors import DispatchError
from dispatch.urgency import LEVELS, UrgencyRules

_DATA = Path(__file__).resolve().parents[1] / "training" / "data"
# Every file here scores as one "tuning" set; each TEST_DATA file as a test set of its own
# ("test3", "test4": the file name without "urgency_"), whose errors are never listed.
TUNING_DATA = tuple(_DATA / f"urgency_{name}.csv" for name in ("dev", "test", "test2", "probes"))
TEST_DATA = (_DATA / "urgency_test3.csv", _DATA / "urgency_test4.csv")


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
    """``tuning`` / ``testN`` for the project's sets, else the file's stem."""
    path = Path(path).resolve()
    if path in {Path(p).resolve() for p in TEST_DATA}:
        return path.stem.removeprefix("urgency_")
    return "tuning" if path in {Path(p).resolve() for p in TUNING_DATA} else path.stem


def test_roles() -> set[str]:
    return {role(p) for p in TEST_DATA}


def read_sets(paths: list[Path]) -> tuple[dict[str, list[dict]], dict[str, list[Path]]]:
    """Rows per role; the tuning files are pooled into one set. Two other
    files with the same stem would be pooled silently, so that is an error."""
    sets: dict[str, list[dict]] = {}
    files: dict[str, list[Path]] = {}
    for p in paths:
        part = role(p)
        if part in files and part != "tuning":
            raise DispatchError(f"--data {[str(q) for q in paths]}: two files named {part!r}; "
                                f"give each set once")
        if Path(p).resolve() in {Path(q).resolve() for q in files.get(part, [])}:
            raise DispatchError(f"--data {p}: given twice")
        rows = read_set(p)
        three = any(r["urgent"] == "较急" for r in rows)
        sets.setdefault(part, []).extend({**r, "three_level": three} for r in rows)
        files.setdefault(part, []).append(Path(p))
    return sets, files


def score(gold: list[str], pred: list[str], three_level: list[bool] | None = None) -> dict:
    """``three_level``: which rows come from a file that uses 较急 at all; the
    3-level accuracy is over those only (a 紧急-vs-not file labels 较急 calls 一般)."""
    if three_level is None:
        three_level = [True] * len(gold) if "较急" in gold else [False] * len(gold)
    pairs = [(g, p) for g, p, t in zip(gold, pred, three_level) if t]
    tp = sum(g == "紧急" and p == "紧急" for g, p in zip(gold, pred))
    fp = sum(g != "紧急" and p == "紧急" for g, p in zip(gold, pred))
    fn = sum(g == "紧急" and p != "紧急" for g, p in zip(gold, pred))
    return {"n": len(gold), "urgent": tp + fn, "tp": tp, "fp": fp, "fn": fn,
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            # A set labelled 紧急 / 一般 only (the test sets) has no 3-level figure.
            "level_accuracy": (sum(g == p for g, p in pairs) / len(pairs) if pairs else None)}


def evaluate(sets: Mapping[str, list[dict]], raw: Mapping | None = None) -> dict:
    """Scores per set (``{role: rows}``) for the rules and the keyword
    baseline; ``raw`` is the settings' [dispatch.urgency] table. Errors are
    kept for every set but ``test``."""
    from index.text import Normalizer

    norm = Normalizer()
    raw = dict(raw or {})
    systems = {"rules+learned": UrgencyRules.from_mapping(raw),
               "rules": UrgencyRules.from_mapping({**raw, "learned": False}),
               "keyword_baseline": UrgencyRules.from_mapping(raw, context=False)}
    out: dict = {"systems": {name: {} for name in systems}, "errors": []}
    for part, rows in sets.items():
        texts = [norm(r["text"]) for r in rows]
        gold = [r["urgent"] for r in rows]
        for name, system in systems.items():
            pred = [system.assess(t).level for t in texts]
            out["systems"][name][part] = score(gold, pred, [r.get("three_level", "较急" in gold)
                                                            for r in rows])
            if name != "rules+learned" or part in test_roles():
                continue
            out["errors"] += [{"set": part, "id": r["id"], "gold": g, "pred": p, "text": r["text"]}
                              for r, g, p in zip(rows, gold, pred)
                              if (p == "紧急") != (g == "紧急")]
    return out


def to_text(report: dict, paths: Mapping[str, list[Path]]) -> str:
    lines = [f"urgency {part} set: {' + '.join(str(p) for p in ps)}" for part, ps in paths.items()]
    width = max([10] + [len(p) + 2 for p in paths])
    lines += ["", f"{'system':<18}{'set':<{width}}{'n':>5}{'urgent':>8}{'recall':>8}{'precision':>11}"
             f"{'fp':>5}{'fn':>5}{'3-level acc':>13}"]
    for name, parts in report["systems"].items():
        for part, s in parts.items():
            lines.append(f"{name:<18}{part:<{width}}{s['n']:>5}{s['urgent']:>8}{s['recall']:>8.3f}"
                         f"{s['precision']:>11.3f}{s['fp']:>5}{s['fn']:>5}"
                         + (f"{s['level_accuracy']:>13.3f}" if s["level_accuracy"] is not None
                            else f"{'-':>13}"))
    return "\n".join(lines)
