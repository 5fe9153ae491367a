"""`hotline eval classifier`: the external protocol reproduced on an honest
split of the shared data, next to the TF-IDF char 1–3 + LinearSVC baseline
computed in the same run.

department: 1,000 messages_train rows held out (seeded); D.csv = the rest +
titles_train rows whose title is not a held-out title; train via train_head,
predict held-out through the bundle's batch path. Cold start (taxonomy only,
keywords = the publisher's level-2/3 category names) on the same held-out rows.
type: k-fold over typed_dev (each fold trains through train_head exactly as
`hotline train` does), scored on the held-out fold's clear items over
consult/complaint/fault; ``other`` predictions count as errors.
"""
from __future__ import annotations

import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from classifier.calibration import ece

THREE = ["complaint", "consult", "fault"]


def _rows(path: Path) -> list[dict]:
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, header: list[str], rows) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _metrics(y_true, y_pred, labels, probs=None, y_idx=None, review=None) -> dict:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out = {"macro_f1": round(float(np.mean(f)), 4),
           "accuracy": round(float(np.mean(np.asarray(y_true) == np.asarray(y_pred))), 4),
           "per_class": {l: {"precision": round(float(a), 4), "recall": round(float(b), 4),
                             "f1": round(float(c), 4), "support": int(d)}
                         for l, a, b, c, d in zip(labels, p, r, f, s)},
           "labels": labels, "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist()}
    if probs is not None:
        out["ece"] = round(ece(np.asarray(probs), np.asarray(y_idx)), 4)
    if review is not None:
        auto = ~np.asarray(review)
        yt, yp = np.asarray(y_true), np.asarray(y_pred)
        out["coverage"] = round(float(auto.mean()), 4)
        out["precision_automatic"] = round(float((yt[auto] == yp[auto]).mean()), 4) if auto.any() else None
    return out


def _baseline(train_texts, train_y, test_texts):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from index.text import normalize

    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    x = vec.fit_transform([normalize(t) for t in train_texts])
    clf = LinearSVC().fit(x, train_y)
    return list(clf.predict(vec.transform([normalize(t) for t in test_texts])))


def eval_department(data_dir: Path, work: Path, held: int = 1000, seed: int = 0) -> dict:
    from classifier import load_bundle
    from classifier.coldstart import ColdStartRouter
    from classifier.features import TextFeatures
    from index.text import normalize
    from training.train_classifier import train_head

    msgs, titles = _rows(data_dir / "messages_train.csv"), _rows(data_dir / "titles_train.csv")
    idx = list(range(len(msgs)))
    random.Random(seed).shuffle(idx)
    test = set(idx[:held])
    test_rows = [msgs[i] for i in sorted(test)]
    held_titles = {normalize(r["title"]) for r in test_rows if r["title"]}
    train = [(r["title"], r["detail"], r["label_l1"]) for i, r in enumerate(msgs) if i not in test]
    train += [(r["title"], "", r["label_l1"]) for r in titles
              if normalize(r["title"]) not in held_titles]
    _write(work / "D.csv", ["title", "detail", "label_l1"], train)
    t0 = time.perf_counter()
    train_head("department", work / "D.csv", work / "M", ["title", "detail"], "label_l1",
               progress=True)
    train_s = time.perf_counter() - t0
    bundle = load_bundle(work / "M")
    head = bundle.heads["department"]
    texts = [f"{r['title']}\n{r['detail']}" for r in test_rows]
    y = [r["label_l1"] for r in test_rows]
    probs = head.predict_proba(TextFeatures(texts))
    pred = [head.labels_[i] for i in probs.argmax(1)]
    labels = head.labels_
    out = {"protocol": f"{held} messages_train rows held out (seed {seed}); trained on "
                       f"{len(train)} rows (messages + titles minus held-out titles)",
           "train_seconds": round(train_s, 1),
           "model": _metrics(y, pred, labels, probs, [labels.index(v) for v in y],
                             head.needs_review(probs)),
           "baseline": _metrics(y, _baseline([f"{a} {b}" for a, b, _ in train],
                                             [c for *_, c in train], texts), labels)}
    tax = {}
    for r in _rows(data_dir / "taxonomy_3level.csv"):
        d = tax.setdefault(r["一级分类"], set())
        d.update(k for k in (r["二级分类"], r["三级分类"]) if k)
    departments = [{"name": n, "responsibilities": "", "keywords": sorted(k)} for n, k in tax.items()]
    cold = ColdStartRouter(departments).fit()
    cprobs = cold.predict_proba(TextFeatures(texts))
    cpred = [cold.labels_[i] for i in cprobs.argmax(1)]
    out["cold_start"] = _metrics(y, cpred, [l for l in labels if l in cold.labels_])
    return out


def eval_type(data_dir: Path, work: Path, folds: int = 4, seed: int = 0,
              min_class_count: int | None = None, unlabeled: Path | None = None) -> dict:
    from sklearn.model_selection import StratifiedKFold

    from classifier import load_bundle
    from classifier.features import TextFeatures
    from training.train_classifier import train_head

    rows = _rows(data_dir / "typed_dev.csv")
    y = np.array([r["type"] for r in rows])
    header = list(rows[0])
    pred = np.empty(len(rows), dtype=object)
    base = np.empty(len(rows), dtype=object)
    conf = np.zeros(len(rows))
    review = np.zeros(len(rows), dtype=bool)
    probs_all = {}
    skf = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for k, (tr, te) in enumerate(skf.split(np.zeros(len(y)), y)):
        fold = work / f"type{k}"
        fold.mkdir(parents=True, exist_ok=True)
        _write(fold / "train.csv", header, ([rows[i][h] for h in header] for i in tr))
        texts = [f"{rows[i]['title']}\n{rows[i]['detail']}" for i in te]
        # The fold's test items are never drawn as weak labels (they are in the pool).
        train_head("type", fold / "train.csv", fold / "M", ["title", "detail"], "type",
                   min_class_count=min_class_count, progress=True, unlabeled=unlabeled,
                   exclude_texts=texts)
        head = load_bundle(fold / "M").heads["type"]
        p = head.predict_proba(TextFeatures(texts))
        pred[te] = [head.labels_[j] for j in p.argmax(1)]
        conf[te] = p.max(1)
        review[te] = head.needs_review(p)
        for i, row in zip(te, p):
            probs_all[i] = dict(zip(head.labels_, row))
        base[te] = _baseline([f"{rows[i]['title']} {rows[i]['detail']}" for i in tr], y[tr],
                             [t.replace("\n", " ") for t in texts])
    clear = np.array([r["clarity"] == "clear" for r in rows]) & np.isin(y, THREE)
    sel = np.nonzero(clear)[0]
    P = np.array([[probs_all[i].get(l, 0.0) for l in THREE] for i in sel])
    return {"protocol": f"{folds}-fold CV over typed_dev.csv through train_head; scored on "
                        f"{len(sel)} clear consult/complaint/fault items; weak labels from "
                        f"{unlabeled or 'no unlabelled pool'} (test fold excluded)",
            "model": _metrics(list(y[sel]), list(pred[sel].astype(str)), THREE, P,
                              [THREE.index(v) for v in y[sel]], review[sel]),
            "baseline": _metrics(list(y[sel]), list(base[sel].astype(str)), THREE)}


def _plot(conf, labels, title, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from foundation.plotting import cjk_font

    font = cjk_font()
    names = labels if font else [f"C{i + 1}" for i in range(len(labels))]
    if font:
        plt.rcParams["font.family"] = font
    fig, ax = plt.subplots(figsize=(5 + len(labels) * 0.4, 4 + len(labels) * 0.4))
    ax.imshow(np.asarray(conf), cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i, row in enumerate(conf):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _markdown(report: dict) -> str:
    lines = ["# Classifier evaluation", "", f"Measured {report['measured_at']}.", ""]
    for head in ("department", "type"):
        r = report.get(head)
        if not r:
            continue
        m, b = r["model"], r["baseline"]
        lines += [f"## {head}", "", r["protocol"], "",
                  f"| | model | baseline (TF-IDF char 1-3 + LinearSVC) |", "|---|---|---|",
                  f"| macro-F1 | {m['macro_f1']} | {b['macro_f1']} |",
                  f"| accuracy | {m['accuracy']} | {b['accuracy']} |",
                  f"| ECE | {m.get('ece')} | |",
                  f"| coverage at target precision | {m.get('coverage')} "
                  f"(precision {m.get('precision_automatic')}) | |", "",
                  "| class | P | R | F1 | n | baseline F1 |", "|---|---|---|---|---|---|"]
        for l, v in m["per_class"].items():
            lines.append(f"| {l} | {v['precision']} | {v['recall']} | {v['f1']} | {v['support']} "
                         f"| {b['per_class'][l]['f1']} |")
        if "cold_start" in r:
            lines += ["", f"Cold start (taxonomy names + level-2/3 categories as keywords, no "
                          f"labelled history): macro-F1 {r['cold_start']['macro_f1']}, accuracy "
                          f"{r['cold_start']['accuracy']}."]
        lines += ["", f"![confusion]({head}_confusion.png)", ""]
    return "\n".join(lines) + "\n"


def run_eval(settings, heads=("department", "type"), folds: int = 4,
             min_class_count: int | None = None) -> Path:
    data_dir = Path(settings.shared_data) / "gov_messages"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = Path(settings.home) / "reports" / f"classifier-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    report = {"measured_at": stamp}
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        if "department" in heads:
            report["department"] = eval_department(data_dir, Path(tmp))
        if "type" in heads:
            from training.weak_labels import unlabeled_pool

            report["type"] = eval_type(data_dir, Path(tmp), folds=folds,
                                       min_class_count=min_class_count,
                                       unlabeled=unlabeled_pool(settings))
    for head in heads:
        m = report[head]["model"]
        _plot(m["confusion"], m["labels"], f"{head} (held-out)", out / f"{head}_confusion.png")
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2),
                                     encoding="utf-8")
    (out / "report.md").write_text(_markdown(report), encoding="utf-8")
    return out
