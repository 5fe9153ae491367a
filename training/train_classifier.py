"""Train one classifier head from a CSV into ``MODEL_DIR/<head>/``.

Steps: read → join text columns (``title\\ndetail``, the same join the batch
CLI uses) → drop empty → de-duplicate (same normalised text: identical labels
kept once, conflicting labels dropped) → rare labels → k-fold out-of-fold
scores (calibration, thresholds, honest metrics) → refit on every row → write
the head (manifest last) → rewrite the bundle manifest. Other heads in
MODEL_DIR are never touched.
"""
from __future__ import annotations

import csv
import logging
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from classifier import RECIPES, TextHead, write_bundle_manifest
from classifier.bundle import HEAD_FORMAT, HEAD_KIND, TAXONOMY_FILE
from classifier.calibration import ece
from classifier.errors import BadTrainingData
from classifier.features import TextFeatures
from classifier.neighbors import CaseIndex
from foundation.artifacts import building, data_hash, write_manifest
from training import weak_labels

log = logging.getLogger("hotline.train")
MIN_ROWS = 10
CASE_LABEL_COLS = ("type", "department")
TYPE_RARE_SHARE = 0.075
# The fewest rows a review-only label keeps (prepare_rows): enough for every CV fold.
MIN_REVIEW_LABEL_ROWS = 30
# Ambiguous labelled rows (two types defensible, docs/labelling.md) count half.
AMBIGUOUS_WEIGHT = 0.5
# Equal weights for the n-gram and encoder heads: fixed a priori, not tuned on
# the dev sets (0.5 and 0.7 scored within noise of each other there).
BLEND_WEIGHT = 0.5
# The request types a hotline routes by. Proposals and thanks (``other`` in the labelled
# data) are learnt as REVIEW_LABELS where a recipe asks for them (gov, demo), else as
# their second label when they have one.
REQUEST_TYPES = ("consult", "complaint", "fault")
# Labels the gov and demo type heads learn but never answer: a text most like one of them
# (a proposal, thanks, an opinion: labelling.md's `other`) goes to a person instead of
# being filed as the nearest request type. Learning `other` sent 86 % of held-out
# proposals to review (0.6 % before, a quarter of them auto-filed as faults) and moved no
# request-type macro-F1 down (docs/classifier.md, session 14).
REVIEW_LABELS = ("other",)
# Proposals and thanks the demo type head learns beside the demo work orders
# (kb/demo/proposals.py), as a share of the orders (at least MIN_REVIEW_LABEL_ROWS).
DEMO_PROPOSAL_SHARE = 0.06
# The sentence encoder the gov recipe's type head blends (classifier/encoder_head.py).
ENCODER = "static"


def read_rows(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise BadTrainingData(f"training data {path} does not exist")
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def join_text(row: dict, text_cols: list[str]) -> str:
    """First column is the title line, the rest the body (the batch CLI's join)."""
    from classifier.features import join_parts

    return join_parts([(row.get(c) or "").strip() for c in text_cols])


def prepare_rows(rows: list[dict], text_cols: list[str], label_col: str,
                 min_class_count: int = 0, alt_col: str = "alt",
                 keep_labels: tuple[str, ...] | None = None,
                 review_labels: tuple[str, ...] = ()) -> tuple[list[dict], dict]:
    """Clean, de-duplicate and resolve rare labels (and, given ``keep_labels``, every
    label outside them and ``review_labels``: relabelled from the ``alt`` column or
    dropped); returns rows and a report. ``review_labels`` are kept down to
    ``MIN_REVIEW_LABEL_ROWS`` rows: the share rule would drop them silently as the
    other classes grow, and they only ever send texts to review."""
    from index.text import normalize

    if not rows:
        raise BadTrainingData("training data has no rows")
    missing = [c for c in [*text_cols, label_col] if c not in rows[0]]
    if missing:
        raise BadTrainingData(f"training data has no column(s) {missing}; "
                              f"columns are {list(rows[0])}")
    report = Counter()
    by_text: dict[str, list] = {}
    for r in rows:
        label = (r.get(label_col) or "").strip()
        text = join_text(r, text_cols)
        key = normalize(text)
        if not label or not key:
            report["empty"] += 1
            continue
        by_text.setdefault(key, []).append((text, label, r))
    out = []
    for key, items in by_text.items():
        labels = {lab for _, lab, _ in items}
        if len(labels) > 1:
            report["conflicting"] += len(items)
            continue
        report["duplicates"] += len(items) - 1
        text, label, r = items[0]
        out.append({"text": text, "label": label, "row": r})
    counts = Counter(o["label"] for o in out)
    keep = None if keep_labels is None else (*keep_labels, *review_labels)
    rare = {l for l, c in counts.items()
            if c < (min(MIN_REVIEW_LABEL_ROWS, min_class_count) if l in review_labels
                     else min_class_count)
            or (keep is not None and l not in keep)}
    if rare:
        kept = []
        for o in out:
            if o["label"] in rare:
                alt = (o["row"].get(alt_col) or "").strip()
                if alt and alt not in rare and alt in counts:
                    o["label"] = alt
                    report["relabelled_from_alt"] += 1
                else:
                    report["dropped_rare"] += 1
                    continue
            kept.append(o)
        out = kept
    report = dict(report, rare_labels=sorted(rare))
    if len(out) < MIN_ROWS:
        raise BadTrainingData(f"only {len(out)} usable rows after cleaning; need {MIN_ROWS}+")
    return out, report


def oof_metrics(head: TextHead) -> dict:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    if head.oof_probs_ is None:
        return {}
    y, p = head.oof_y_, head.oof_probs_
    pred = p.argmax(axis=1)
    pr, rc, f1, sup = precision_recall_fscore_support(y, pred, labels=range(len(head.labels_)),
                                                      zero_division=0)
    review = head.needs_review(p)
    auto = ~review
    return {
        "protocol": f"{head.folds_used_}-fold out-of-fold predictions on the training rows",
        "macro_f1": round(float(np.mean(f1)), 4),
        "accuracy": round(float((pred == y).mean()), 4),
        "per_class": {l: {"precision": round(float(a), 4), "recall": round(float(b), 4),
                          "f1": round(float(c), 4), "support": int(d)}
                      for l, a, b, c, d in zip(head.labels_, pr, rc, f1, sup)},
        "confusion": confusion_matrix(y, pred, labels=range(len(head.labels_))).tolist(),
        "ece": round(ece(p, y), 4),
        "coverage": round(float(auto.mean()), 4),
        "precision_automatic": round(float((pred[auto] == y[auto]).mean()), 4) if auto.any() else None,
    }


def train_head(head_name: str, data: Path, out: Path, text_cols: list[str], label_col: str,
               target_precision: float = 0.9, min_class_count: int | None = None,
               taxonomy: Path | None = None, extra_rows: list[dict] | None = None,
               progress: bool = True, unlabeled: Path | None = None,
               exclude_texts: list[str] | None = None, encoder: str | None = None,
               settings=None, sources: list[dict] | None = None,
               labels: tuple[str, ...] | None = None, review_labels: tuple[str, ...] = (),
               **overrides) -> dict:
    """Train ``head_name`` on ``data`` into ``out/<head_name>/``; returns the manifest.

    ``unlabeled``: a CSV of unlabelled messages with the same text columns; the
    type head draws weak ``fault`` labels from it (training/weak_labels.py).
    ``exclude_texts``: texts never to be drawn from it (an evaluation's test items).
    ``encoder``: an embedder name (``settings`` locate it): the head is then the
    blend of the n-gram head and a head over that encoder's sentence vectors
    (classifier/encoder_head.py). Rows with ``clarity=ambiguous`` weigh
    ``AMBIGUOUS_WEIGHT``. ``sources``: the data sources for the manifest.
    ``labels``: the classes to learn (others relabelled from ``alt`` or dropped).
    ``review_labels``: classes learned beside ``labels`` but never answered: the bundle
    sends a text most like one of them to review (recorded in the manifest)."""
    t0 = time.perf_counter()
    out = Path(out)
    rows = (read_rows(data) if data is not None else []) + list(extra_rows or [])
    given = {(r.get(label_col) or "").strip() for r in rows}
    absent = [label for label in review_labels if label not in given]
    if absent:
        raise BadTrainingData(f"review label(s) {absent} name no row's {label_col!r}; "
                              f"the labels are {sorted(given - {''})}")
    if min_class_count is None:
        # A class with fewer rows than folds cannot be calibrated or thresholded
        # honestly, and on typed_dev's 400 rows one under 30 (7.5 %) gave noise
        # (docs/classifier.md). A share, not a count, so a smaller training set
        # (a CV fold, a 300-row split: fault 26 rows) keeps its real classes.
        # Review-only rows do not count: they would raise the bar for the real classes.
        answered = sum((r.get(label_col) or "").strip() not in review_labels for r in rows)
        min_class_count = max(5, int(TYPE_RARE_SHARE * answered)) if head_name == "type" else 5
    items, report = prepare_rows(rows, text_cols, label_col, min_class_count,
                                 keep_labels=labels, review_labels=review_labels)
    texts = [o["text"] for o in items]
    labels = [o["label"] for o in items]
    recipe = {**RECIPES.get(head_name, RECIPES["department"]), **overrides}
    folds = recipe.pop("folds", 5 if len(items) < 5000 else 3)
    head = TextHead(**recipe, folds=folds, target_precision=target_precision)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=folds + 1, desc=f"train {head_name}", unit="fit", file=sys.stderr)
    n_gold = len(texts)
    weak_report = None
    if head_name == "type" and unlabeled is not None and weak_labels.WEAK_LABEL in labels:
        from index.text import normalize

        skip = {normalize(t) for t in texts + list(exclude_texts or [])}
        weak = weak_labels.fault_rows(Path(unlabeled), text_cols, skip)
        texts, labels = texts + weak, labels + [weak_labels.WEAK_LABEL] * len(weak)
        weak_report = {"source": str(unlabeled), "label": weak_labels.WEAK_LABEL,
                       "rule": weak_labels.RULE,
                       "rows": len(weak), "weight": weak_labels.WEIGHT}
    gold_w = [AMBIGUOUS_WEIGHT if (o["row"].get("clarity") or "").strip() == "ambiguous" else 1.0
              for o in items]
    weights = np.r_[gold_w, np.full(len(texts) - n_gold, weak_labels.WEIGHT)]
    is_weak = np.arange(len(texts)) >= n_gold
    weighted = is_weak.any() or min(gold_w) < 1.0
    prep = TextFeatures(texts)
    head.fit(prep, labels, sample_weight=weights if weighted else None,
             progress=bar.update if bar else None, weak=is_weak)
    served, encoder_identity = head, None
    if encoder is not None:
        served, encoder_identity = _blend(head, prep, labels, encoder, settings,
                                          weights if weighted else None, is_weak,
                                          target_precision)
    # The identity covers the weak rows too: a different pool is a different model.
    dhash = data_hash(f"{t}\t{l}\n" for t, l in zip(texts, labels))
    if is_weak.any():  # the case index holds the real labelled rows only
        from classifier.head import _subset

        prep, texts, labels = _subset(prep, np.arange(n_gold)), texts[:n_gold], labels[:n_gold]
    if bar:
        bar.close()
    metrics = oof_metrics(served)
    case_labels = []
    for o in items:
        lab = {head_name: o["label"]}
        for c in CASE_LABEL_COLS:
            if c != head_name and (o["row"].get(c) or "").strip():
                lab[c] = o["row"][c].strip()
        case_labels.append(lab)
    cases = CaseIndex().fit(prep, head.idf_, case_labels)
    with building(out / head_name) as tmp:
        if encoder_identity is None:
            head.save(tmp)
        else:
            served.save(tmp, encoder_identity)
        cases.save(tmp)
        manifest = write_manifest(
            tmp, HEAD_KIND, HEAD_FORMAT, head=head_name, data_hash=dhash,
            data_file=str(data) if data is not None else None, text_cols=text_cols, label_col=label_col,
            labels=head.labels_, n_rows=len(items), cleaning=report, weak_labels=weak_report,
            review_labels=[l for l in review_labels if l in head.labels_],
            params=served.params(), temperature=served.temperature_,
            thresholds=served.thresholds_, target_precision=target_precision, metrics=metrics,
            encoder={"embedder": encoder, "identity": encoder_identity} if encoder else None,
            sources=sources, train_seconds=round(time.perf_counter() - t0, 1))
    if taxonomy is not None:
        shutil.copyfile(taxonomy, out / TAXONOMY_FILE)
    write_bundle_manifest(out)
    log.info("trained %s head on %d rows in %.1f s: OOF macro-F1 %s, coverage %s",
             head_name, len(items), time.perf_counter() - t0, metrics.get("macro_f1"),
             metrics.get("coverage"))
    return manifest


def _blend(head, prep, labels, encoder: str, settings, weights, is_weak, target_precision):
    """The blended head over ``head`` and an encoder head on the same rows and folds."""
    from classifier.encoder_head import BlendedHead, EncoderHead
    from index.embedders import get_embedder
    from training.embedders import ensure

    ensure(encoder, settings)   # the export this home will serve
    embedder = get_embedder(encoder, settings)
    enc = EncoderHead(embedder=encoder, folds=head.folds, random_state=head.random_state)
    enc.fit(prep.vectors(embedder, enc.max_chars), labels, head.labels_,
            sample_weight=weights, weak=is_weak)
    blend = BlendedHead(head, enc, BLEND_WEIGHT, target_precision).fit_blend()
    return blend.attach(embedder), embedder.identity


def feedback_rows(settings, head: str) -> list[dict]:
    """Agent corrections (final labels) as extra training rows, if any were recorded
    (HOME/feedback.sqlite3, or the feedback table of a PostgreSQL KB)."""
    from kb.db import open_db

    if settings.kb_is_sqlite:
        target = settings.home / "feedback.sqlite3"
        if not target.is_file():
            return []
    else:
        target = settings.kb_database_url
    col = {"type": "final_type", "department": "final_department"}[head]
    db = open_db(target)
    try:
        with db.read() as conn:
            if not db.has_table(conn, "feedback"):
                return []
            got = conn.execute(f"SELECT text, {col} FROM feedback WHERE {col} IS NOT NULL "
                               f"AND {col} != ''").fetchall()
    finally:
        db.close()
    return [{"title": "", "detail": t, head: lab} for t, lab in got]


def train_demo(settings, include_feedback: bool = False, progress: bool = False) -> Path:
    """Both heads on the demo work orders into a new version under
    ``settings.models_root``, then make it current."""
    from classifier.registry import new_version_dir, promote
    from kb.demo.proposals import proposal_orders

    data = settings.demo_dir / "work_orders.csv"
    if not data.is_file():
        raise BadTrainingData(f"no demo work orders at {data}; run `hotline kb demo` first")
    taxonomy = settings.demo_dir / "departments.json"
    out = new_version_dir(settings.models_root)
    for head in ("department", "type"):
        extra = feedback_rows(settings, head) if include_feedback else []
        review = {}
        if head == "type":   # proposals and thanks: learned, never answered
            n = max(MIN_REVIEW_LABEL_ROWS, round(DEMO_PROPOSAL_SHARE * len(read_rows(data))))
            extra = list(extra) + proposal_orders(seed=0, n=n)
            review = {"labels": REQUEST_TYPES, "review_labels": REVIEW_LABELS}
        train_head(head, data, out, ["title", "detail"], head,
                   target_precision=settings.target_precision,
                   taxonomy=taxonomy if taxonomy.is_file() else None,
                   extra_rows=extra, progress=progress, **review)
    promote(settings.models_root, out.name)
    return out


def train_gov(settings, out: Path, progress: bool = True) -> dict:
    """The production models for the shared gov data (``hotline train --recipe gov``):
    the department head on every labelled real message and title; the type head,
    blended with the static sentence encoder, on typed_dev, the project's labels of real
    messages (by id) and its phone-style calls. Returns both head manifests."""
    from training import gov_data

    out = Path(out)
    dept = gov_data.department_rows(settings)
    types = gov_data.type_rows(settings)
    manifests = {
        "department": train_head("department", None, out, ["title", "detail"], "department",
                                 target_precision=settings.target_precision, extra_rows=dept.rows,
                                 progress=progress, sources=dept.sources),
        "type": train_head("type", None, out, ["title", "detail"], "type",
                           target_precision=settings.target_precision, extra_rows=types.rows,
                           progress=progress, encoder=ENCODER, settings=settings,
                           sources=types.sources, labels=REQUEST_TYPES,
                           review_labels=REVIEW_LABELS),
    }
    write_bundle_manifest(out, recipe="gov")
    return manifests
