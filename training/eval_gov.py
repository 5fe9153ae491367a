"""`hotline eval classifier --recipe gov`: the gov recipe judged on data it never saw.

The recipe (``training.train_classifier.train_gov``) is trained on the train
side of every source and scored, through the batch CLI's own prediction path
(``join_parts`` + ``ClassifierBundle.predict_columns``), on:

* ``department``: a stable fifth of ``messages_train`` (by text), titles of
  those messages removed from ``titles_train`` as well;
* ``gov_dev``: the project's labels of real messages, a stable fifth by msg_id,
  clear items;
* ``typed_dev``: ``typed_dev.csv``'s clear items, labelled by other readers and
  never trained on here (the production recipe does train on them);
* ``phone_dev``: the phone-style dev groups (situations no training call came
  from), as a title with an empty body.

Same-run baselines: today's type recipe (the n-gram head on typed_dev alone,
weak fault labels from the unlabelled pool), the recipe's own n-gram head
without the encoder, and TF-IDF char 1-3 + LinearSVC on the recipe's rows.
Type scores are macro-F1 over consult/complaint/fault on clear items; an
``other`` prediction counts as an error.
"""
from __future__ import annotations

import json
import time
import zlib
from pathlib import Path

import numpy as np

from training.eval_classifier import THREE, _baseline, _metrics


def _texts(rows) -> list[str]:
    from classifier.features import join_parts

    return [join_parts([(r.get("title") or "").strip(), (r.get("detail") or "").strip()])
            for r in rows]


def _scored(bundle, rows, label: str, head: str) -> dict:
    """Metrics of ``bundle`` on ``rows`` for ``head``, through the batch path."""
    cols = bundle.predict_columns(_texts(rows))
    pred = [c[0] if head == "type" else c[2] for c in cols]
    y = [r[label] for r in rows]
    labels = THREE if head == "type" else sorted(set(y))
    h = bundle.heads[head]
    from classifier.features import TextFeatures

    raw = h.predict_proba(TextFeatures(_texts(rows)))
    own = h.needs_review(raw)
    # The probabilities served (a review-only label such as the type head's `other`
    # left out and the rest renormalised), as the bundle computes them.
    (answered, probs, _), _ = bundle.answerable(head, list(h.labels_), raw, own)
    keep = [l in answered for l in y]
    out = _metrics(y, pred, labels, probs[keep], [answered.index(v) for v, k in zip(y, keep) if k],
                   review=np.array([c[4] for c in cols]))
    out["head_coverage"] = round(float((~own).mean()), 4)
    auto = ~own
    out["head_precision_automatic"] = (round(float((np.asarray(y)[auto] == np.asarray(pred)[auto])
                                                   .mean()), 4) if auto.any() else None)
    return out


def _proposals(bundle, rows) -> dict:
    """Rows labelled ``other`` (proposals, thanks): none of the request types, so the
    right outcome is a type review; an automatic ``fault`` would send a repair crew.
    Counts the type's own review reasons (``type``, ``type:other``), not the
    department's, so bundles with and without a department head compare."""
    preds = bundle.predict_batch(_texts(rows))
    review = np.array([any(r.startswith("type") for r in p.review_reasons) for p in preds])
    fault = np.array([p.type == "fault" for p in preds])
    return {"n": len(rows), "type_review_share": round(float(review.mean()), 4),
            "automatic_fault_share": round(float((fault & ~review).mean()), 4)}


def _titles_of(rows) -> set[str]:
    """The normalised titles of ``rows``, to be kept out of training. A third of
    the messages have no title: an empty title must exclude nothing (until session 7
    it excluded every untitled training message, and the dev figure described a model
    the recipe never trained)."""
    from index.text import normalize

    return {normalize(r["title"]) for r in rows if r["title"].strip()}


def department_cv(settings, folds: int = 5) -> dict:
    """Department macro-F1 of the recipe's n-gram head and the TF-IDF + SVC
    baseline over ``folds`` stable folds by text (the same crc32 rule as the dev
    fold): one 1,000-message fold moves by ±0.01 between folds, too much to decide by."""
    from classifier import RECIPES, TextHead
    from classifier.features import TextFeatures
    from training import gov_data as g

    msgs = g.read_rows(g.gov_dir(settings) / "messages_train.csv")
    out = {"recipe": [], "baseline_tfidf_svc": []}
    for k in range(folds):
        dev = [r for r in msgs if g.fold_of(r["title"] + r["detail"], folds) == k]
        rows = g.department_rows(settings, exclude_titles=_titles_of(dev),
                                 exclude_fold=(k, folds)).rows
        texts, y = _texts(rows), [r["department"] for r in rows]
        dev_texts, dev_y = _texts(dev), [r["label_l1"] for r in dev]
        head = TextHead(**RECIPES["department"], folds=2).fit(TextFeatures(texts), y)
        labels = sorted(set(dev_y))
        out["recipe"].append(_metrics(dev_y, head.predict(TextFeatures(dev_texts)),
                                      labels)["macro_f1"])
        out["baseline_tfidf_svc"].append(_metrics(dev_y, _baseline(
            [t.replace("\n", " ") for t in texts], y,
            [t.replace("\n", " ") for t in dev_texts]), labels)["macro_f1"])
    return {name: {"folds": v, "mean": round(float(np.mean(v)), 4)} for name, v in out.items()}


def run(settings, out: Path) -> dict:
    from classifier import load_bundle
    from training import gov_data as g
    from training.train_classifier import ENCODER, REQUEST_TYPES, REVIEW_LABELS, train_head
    from training.weak_labels import unlabeled_pool

    gov = g.gov_dir(settings)
    t0 = time.perf_counter()
    msgs = g.read_rows(gov / "messages_train.csv")
    dept_dev = [r for r in msgs if g.dev_fold(r["title"] + r["detail"])]
    dept = g.department_rows(settings, exclude_titles=_titles_of(dept_dev), exclude_fold=(0, 5))
    types = g.type_rows(settings, "train", with_typed_dev=False)   # typed_dev stays a test set
    devs = {
        "gov_dev": [r for r in g.labelled_messages(settings, "dev") if r["clarity"] == "clear"],
        "gov_eval": [r for r in g.eval_messages(settings) if r["clarity"] == "clear"],
        "typed_dev": [r for r in g.typed_dev(settings) if r["clarity"] == "clear"],
        "phone_dev": g.phone_calls("dev"),
    }
    common = {"target_precision": settings.target_precision, "progress": True}
    recipe = out / "gov"
    train_head("department", None, recipe, ["title", "detail"], "department",
               extra_rows=dept.rows, sources=dept.sources, **common)
    m_type = train_head("type", None, recipe, ["title", "detail"], "type", extra_rows=types.rows,
                        encoder=ENCODER, settings=settings, sources=types.sources,
                        labels=REQUEST_TYPES, review_labels=REVIEW_LABELS, **common)
    today = out / "today"
    train_head("type", gov / "typed_dev.csv", today, ["title", "detail"], "type",
               unlabeled=unlabeled_pool(settings), progress=True,
               exclude_texts=_texts(devs["gov_dev"] + devs["gov_eval"]),
               target_precision=settings.target_precision)
    train_seconds = round(time.perf_counter() - t0, 1)

    bundle = load_bundle(recipe, settings=settings)
    today_bundle = load_bundle(today, settings=settings)
    blend = bundle.heads["type"]
    report = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "train_seconds": train_seconds, "sources": {"department": dept.sources,
                                                          "type": types.sources},
              "type_oof": m_type["metrics"]}
    d = [{"title": r["title"], "detail": r["detail"], "department": r["label_l1"]}
         for r in dept_dev]
    report["department"] = {
        "n": len(d), "recipe": _scored(bundle, d, "department", "department"),
        "baseline_tfidf_svc": _metrics(
            [r["department"] for r in d],
            _baseline([t.replace("\n", " ") for t in _texts(dept.rows)],
                      [r["department"] for r in dept.rows],
                      [t.replace("\n", " ") for t in _texts(d)]),
            sorted({r["department"] for r in d})),
        "cv5": department_cv(settings)}
    ngram_only = type(bundle)({"type": blend.text_head})
    tr_texts = [t.replace("\n", " ") for t in _texts(types.rows)]
    for name, rows in devs.items():
        proposals = [r for r in rows if r["type"] not in THREE]
        rows = [r for r in rows if r["type"] in THREE]
        y = [r["type"] for r in rows]
        entry = {"n": len(rows), "recipe": _scored(bundle, rows, "type", "type"),
                 "recipe_ngram_head_only": _scored(ngram_only, rows, "type", "type"),
                 "baseline_tfidf_svc": _metrics(
                     y, _baseline(tr_texts, [r["type"] for r in types.rows],
                                  [t.replace("\n", " ") for t in _texts(rows)]), THREE)}
        if name != "typed_dev":   # today's recipe trained on typed_dev
            entry["today_recipe"] = _scored(today_bundle, rows, "type", "type")
        if proposals:
            entry["other_rows"] = {"recipe": _proposals(bundle, proposals),
                                   "today_recipe": _proposals(today_bundle, proposals)}
        report[name] = entry
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2),
                                     encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    return report


def markdown(report: dict) -> str:
    def row(name, m):
        f = m["per_class"]
        fault = f.get("fault", {}).get("f1", "")
        return (f"| {name} | {m['macro_f1']} | {fault} | {m.get('ece', '')} | "
                f"{m.get('coverage', '')} / {m.get('precision_automatic', '')} | "
                f"{m.get('head_coverage', '')} / {m.get('head_precision_automatic', '')} |")

    lines = ["# Gov recipe on held-out dev sets", "", f"Measured {report['measured_at']}; "
             f"training {report['train_seconds']} s.", "",
             "| set / model | macro-F1 | fault F1 | ECE | not-review share / its accuracy (bundle) "
             "| same (this head) |", "|---|---|---|---|---|---|"]
    d = report["department"]
    lines.append(row(f"department ({d['n']}) recipe", d["recipe"]))
    lines.append(row("department baseline TF-IDF+SVC", d["baseline_tfidf_svc"]))
    for name in ("gov_dev", "gov_eval", "typed_dev", "phone_dev"):
        r = report.get(name)
        if r is None:     # a report written before the set existed
            continue
        for model in ("recipe", "recipe_ngram_head_only", "today_recipe", "baseline_tfidf_svc"):
            if model in r:
                lines.append(row(f"{name} ({r['n']}) {model}", r[model]))
    others = [(name, report[name]["other_rows"]) for name in ("gov_dev", "gov_eval", "typed_dev")
              if "other_rows" in report.get(name, {})]
    if others:
        lines += ["", "Rows labelled `other` (proposals, thanks): type sent to review / filed "
                  "as fault automatically", "", "| set | n | recipe | today's recipe |",
                  "|---|---|---|---|"]
        for name, o in others:
            cells = [f"{o[m]['type_review_share']} / {o[m]['automatic_fault_share']}"
                     for m in ("recipe", "today_recipe")]
            lines.append(f"| {name} | {o['recipe']['n']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"
