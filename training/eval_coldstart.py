"""`hotline eval coldstart`: routing from a department list with no labelled
history, scored on labelled messages (labels are used for nothing but the
score). Compares, in one run, the plain list router (similarity + keywords),
the router with the project's written examples, and the same with the IDF
taken from the input (transductive, as ``hotline reclassify --departments``
could). Rows are split by ``crc32(title+detail) % 5``: folds 0-1 tuned the
constants, folds 2-4 were not looked at.
"""
from __future__ import annotations

import csv
import time
import zlib
from pathlib import Path

import numpy as np

from classifier.bundle import load_departments_file
from classifier.coldstart import ColdStartRouter
from classifier.errors import BadTrainingData
from classifier.features import TextFeatures, join_parts


def read_labelled(path: Path, label_col: str = "label_l1") -> tuple[list[str], np.ndarray, np.ndarray]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or label_col not in rows[0] or "detail" not in rows[0]:
        raise BadTrainingData(f"{path} needs columns title,detail,{label_col}; "
                              f"it has {list(rows[0]) if rows else 'no rows'}")
    title = [(r.get("title") or "").strip() for r in rows]
    detail = [(r.get("detail") or "").strip() for r in rows]
    texts = [join_parts([a, b]) for a, b in zip(title, detail)]
    fold = np.array([zlib.crc32((r.get("title", "") + r["detail"]).encode()) % 5 for r in rows])
    return texts, np.array([r[label_col] for r in rows]), fold


def _score(y, pred, review, labels, mask) -> dict:
    from sklearn.metrics import f1_score

    y, pred, review = y[mask], pred[mask], review[mask]
    auto = ~review
    return {"macro_f1": round(float(f1_score(y, pred, labels=labels, average="macro",
                                              zero_division=0)), 4),
            "accuracy": round(float(np.mean(y == pred)), 4),
            "coverage": round(float(auto.mean()), 4),
            "precision_automatic": round(float(np.mean(y[auto] == pred[auto])), 4)
            if auto.any() else None,
            "rows": int(mask.sum())}


def evaluate(departments: list[dict], texts: list[str], y: np.ndarray, fold: np.ndarray) -> dict:
    names = {d["name"] for d in departments}
    labels = sorted(set(y) & names)
    if not labels:
        raise BadTrainingData(f"no label of the data ({sorted(set(y))[:10]}) names a department "
                              f"of the list ({sorted(names)[:10]})")
    variants = {"list": dict(examples=False), "list+examples": dict(examples=True),
                "list+examples+self-train": dict(examples=True, transductive=True)}
    splits = {"tune (folds 0-1)": fold < 2, "test (folds 2-4)": fold >= 2,
              "all": np.ones(len(y), bool)}
    out = {"labels": labels, "rows": len(texts), "variants": {}}
    for name, kw in variants.items():
        t0 = time.perf_counter()
        transductive = kw.pop("transductive", False)
        router = ColdStartRouter(departments, **kw).fit(texts if transductive else None)
        prep = TextFeatures(texts)
        probs = router.predict_proba(prep)
        secs = time.perf_counter() - t0
        pred = np.array(router.labels_)[probs.argmax(1)]
        review = router.needs_review(probs)
        out["variants"][name] = {"rows_per_s": round(len(texts) / secs, 1),
                                 **{s: _score(y, pred, review, labels, m)
                                    for s, m in splits.items()}}
    return out


def to_text(report: dict) -> str:
    lines = [f"{report['rows']} rows, macro-F1 over {len(report['labels'])} labelled "
             f"departments; review = top-1 minus top-2 probability below the margin",
             f"{'variant':28} {'split':18} {'macro-F1':>8} {'acc':>6} {'cover':>6} "
             f"{'P(auto)':>7} {'rows/s':>8}"]
    for name, v in report["variants"].items():
        for split, s in v.items():
            if split == "rows_per_s":
                continue
            lines.append(f"{name:28} {split:18} {s['macro_f1']:8.4f} {s['accuracy']:6.3f} "
                         f"{s['coverage']:6.3f} {s['precision_automatic'] or 0:7.3f} "
                         f"{v['rows_per_s']:8.0f}")
    return "\n".join(lines)


def run(departments_path: Path, data: Path) -> dict:
    texts, y, fold = read_labelled(data)
    return evaluate(load_departments_file(departments_path), texts, y, fold)
