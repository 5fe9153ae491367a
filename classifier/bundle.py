"""A model bundle: ``MODEL_DIR/{type,department}/`` heads (each its own
artifact with a manifest), an optional ``taxonomy.json``, and a bundle
manifest listing the heads. ``ClassifierBundle.predict`` answers one or many
texts with both heads, calibrated probabilities, the review flag and evidence;
``predict_batch`` is the vectorised path without evidence (batch CLI).

A text without content (no letter, digit or CJK character after normalisation,
``index.text.has_content``: punctuation, emoji, spaces) gets no label on every
path: labels None, confidences 0, ``needs_review`` with reason ``no_content``
(the heads would otherwise answer their prior, e.g. ``consult`` at 0.99). The
HTTP API and the batch CLI refuse such text before it gets here."""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifier.coldstart import ColdStartRouter, matched_keywords
from classifier.cues import matched_cues
from classifier.encoder_head import BlendedHead, is_blended
from classifier.errors import BadModel, ModelNotTrained
from classifier.features import TextFeatures
from classifier.head import TextHead
from classifier.list_updates import ListUpdates
from classifier.neighbors import CaseIndex
from foundation.artifacts import read_manifest, write_manifest
from foundation.timing import phase
from index.text import has_content

log = logging.getLogger(__name__)

HEAD_KIND, HEAD_FORMAT = "classifier_head", 1
BUNDLE_KIND, BUNDLE_FORMAT = "classifier_bundle", 1
HEADS = ("type", "department")
# prediction_columns() of a text without content: no label, flagged for review.
NO_CONTENT_COLUMNS = ("", 0.0, "", 0.0, True, "[]")
TAXONOMY_FILE = "taxonomy.json"
# A router fitted on a run's input (hotline/batch/departments.py), beside the taxonomy.
COLDSTART_DIR = "coldstart"
# department_scores (what dispatch.codepts scores a request's issue clauses with):
# the share of the cold-start router mixed into a trained head's probabilities.
# Chosen on training/data/compound/dev.csv only (docs/dispatch.md, "Lead and
# co-handling departments"): a head trained on whole work orders spreads its mass
# over a short clause ("另外他们还在小区空地上私搭了个棚子"); the router's similarity
# to names, keywords and written examples does not depend on the text's length.
ISSUE_ROUTER_WEIGHT = 0.5
# Within that router, the written examples' share (the batch cold start uses 0.7): short
# clauses match the written examples' longer requests less reliably than names and keywords
# (codepts dev, 539 examples: lead 0.848 -> 0.863, co F1 0.722 -> 0.731 at 0.5; 0.3 the same co,
# lead 0.867).
ISSUE_ROUTER_EXAMPLE_WEIGHT = 0.5


@dataclass
class Prediction:
    type: str | None
    type_conf: float
    type_probs: dict
    department: str | None
    department_conf: float
    department_top3: list
    needs_review: bool
    reply_days: int | None = None
    evidence: dict = field(default_factory=dict)
    review_reasons: list = field(default_factory=list)


class ClassifierBundle:
    def __init__(self, heads: dict, cases: CaseIndex | None = None,
                 departments: list[dict] | None = None, identity: str = "",
                 cold_start: ColdStartRouter | None = None,
                 trained_departments: list[dict] | None = None,
                 review_labels: dict | None = None):
        """``departments``: the list in force; ``trained_departments``: the list
        the department head was trained with, when it differs (see
        ``classifier.list_updates``). ``review_labels``: per head, labels it learned
        but never answers (:meth:`answerable`)."""
        self.heads = heads
        self.review_labels = {k: tuple(v) for k, v in (review_labels or {}).items() if v}
        self.cases = cases
        self.departments = {d["name"]: d for d in (departments or [])}
        self.identity = identity
        self.cold_start = None
        self.list_updates = None
        if "department" not in heads and departments:
            self.cold_start = cold_start or ColdStartRouter(list(departments)).fit()
        elif departments and trained_departments is not None and ListUpdates.needed(
                heads["department"].labels_, trained_departments, departments):
            self.list_updates = ListUpdates(heads["department"].labels_, trained_departments,
                                            departments).fit()
        if not heads and self.cold_start is None:
            raise ModelNotTrained("the bundle has no trained head and no taxonomy to route by")
        self._issue_router: ColdStartRouter | None = None   # fitted on first use
        self._router_layout = None   # (head labels, router, names, router columns): _with_router

    @property
    def type_labels(self) -> list[str]:
        if "type" not in self.heads:
            return []
        hidden = self.review_labels.get("type", ())
        return [l for l in self.heads["type"].labels_ if l not in hidden]

    @property
    def department_labels(self) -> list[str]:
        if self.list_updates is not None:
            return list(self.list_updates.labels_)
        if "department" in self.heads:
            return list(self.heads["department"].labels_)
        return list(self.cold_start.labels_) if self.cold_start else []

    # ---------------------------------------------------------------- batch path
    def _scores(self, prep: TextFeatures, type_head: bool = True, review: bool = True):
        """Per head: (labels, probabilities, review mask); ``type_head=False``
        scores departments only (the lead/co issue clauses need no type), and
        ``review=False`` leaves a trained head's review mask out (None)."""
        out = {}
        if type_head and "type" in self.heads:
            h = self.heads["type"]
            p = h.predict_proba(prep)
            out["type"], out["type_notes"] = self.answerable("type", h.labels_, p,
                                                              h.needs_review(p))
        if "department" in self.heads:
            h = self.heads["department"]
            p = h.predict_proba(prep)
            out["department"] = (h.labels_, p, h.needs_review(p)
                                 if review or self.list_updates is not None else None)
            if self.list_updates is not None:
                *out["department"], out["department_notes"] = self.list_updates.apply(
                    prep, p, out["department"][2])
                out["department"] = tuple(out["department"])
        elif self.cold_start is not None:
            p = self.cold_start.predict_proba(prep)
            out["department"] = (self.cold_start.labels_, p, self.cold_start.needs_review(p))
        return out

    def answerable(self, name: str, labels: list, p: np.ndarray, review: np.ndarray):
        """A head may learn labels it never answers (``review_labels`` in its manifest:
        the gov type head's ``other``, proposals and thanks, which are none of the
        request types). A text most like one of them goes to review with the reason
        ``<head>:<label>``; the answer is the likeliest of the other labels, their
        probabilities renormalised over them. Returns ((labels, p, review), notes)."""
        hidden = [i for i, label in enumerate(labels) if label in self.review_labels.get(name, ())]
        if not hidden:
            return (labels, p, review), None
        keep = [i for i in range(len(labels)) if i not in hidden]
        top = p.argmax(axis=1)
        diverted = np.isin(top, hidden)
        notes = [f"{name}:{labels[t]}" if d else None for t, d in zip(top.tolist(), diverted)]
        q = p[:, keep]
        total = q.sum(axis=1, keepdims=True)   # ~1e-89 where the hidden label is sure
        q = np.divide(q, total, out=np.full_like(q, 1.0 / q.shape[1]), where=total > 0)
        return ([labels[i] for i in keep], q, review | diverted), notes

    def predict_batch(self, texts: list[str]) -> list[Prediction]:
        """Vectorised: both heads over all texts at once, no evidence."""
        texts = list(texts)
        if not texts:
            return []
        return self._assemble(TextFeatures(texts), evidence=False)

    def predict_columns(self, texts: list[str]) -> list[tuple]:
        """``[prediction_columns(p) for p in self.predict_batch(texts)]`` without
        building a Prediction per row: argmax, top 3 and the JSON are done over
        the whole batch (the batch CLI's hot path; ~25 -> ~6 µs a row)."""
        texts = list(texts)
        if not texts:
            return []
        prep = TextFeatures(texts)
        scores = self._scores(prep)
        n = len(texts)
        review = np.zeros(n, dtype=bool)
        types, t_conf = [""] * n, [0.0] * n
        if "type" in scores:
            labels, p, rev = scores["type"]
            ti = p.argmax(axis=1)
            types = [labels[i] for i in ti.tolist()]
            t_conf = [round(v, 4) for v in p[np.arange(n), ti].tolist()]
            review |= rev
        elif self.cold_start is None:
            review[:] = True
        depts, d_conf, top3 = [""] * n, [0.0] * n, ["[]"] * n
        if "department" in scores:
            labels, p, rev = scores["department"]
            quoted = [json.dumps(label, ensure_ascii=False) for label in labels]
            order = _ranked(p)[:, :3]
            probs = np.take_along_axis(p, order, axis=1).tolist()
            order = order.tolist()
            depts = [labels[o[0]] for o in order]
            d_conf = [round(ps[0], 4) for ps in probs]
            top3 = ["[" + ", ".join(f'{{"label": {quoted[j]}, "prob": {_json_float(round(q, 4))}}}'
                                    for j, q in zip(o, ps)) + "]"
                    for o, ps in zip(order, probs)]
            review |= rev
        else:
            review[:] = True
        rows = list(zip(types, t_conf, depts, d_conf, review.tolist(), top3))
        for i in _no_content(prep.full):
            rows[i] = NO_CONTENT_COLUMNS
        return rows

    def department_scores(self, texts: list[str], k: int = 5,
                          router_weight: float = ISSUE_ROUTER_WEIGHT) -> list[dict]:
        """Per text, its ``k`` likeliest departments and their probabilities (the
        department head, else the cold-start router): what dispatch.codepts scores
        issue clauses with. With a head and a department list, ``router_weight``
        of the cold-start router (list alone, no examples of the input) is mixed
        in by name (ISSUE_ROUTER_WEIGHT; 0: the head alone, as the prediction's
        top 3). A text without content scores nothing."""
        texts = list(texts)
        if not texts:
            return []
        prep = TextFeatures(texts)
        got = self._scores(prep, type_head=False, review=False).get("department")
        if got is None:
            return [{} for _ in texts]
        labels, p, _ = got
        if router_weight > 0 and "department" in self.heads and self.departments:
            labels, p = self._with_router(prep, list(labels), p, router_weight)
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        out = [{labels[j]: float(p[i, j]) for j in row} for i, row in enumerate(order.tolist())]
        for i in _no_content(prep.full):
            out[i] = {}
        return out

    def _with_router(self, prep: TextFeatures, labels: list, p: np.ndarray, w: float):
        """(labels, (1-w)·head + w·router) over the head's labels, then the list's
        departments the head never saw (the router's share alone)."""
        if self._issue_router is None:   # ~0.1-0.3 s; a race fits it twice, harmlessly
            # The list in force's router when it has one: the same list, fitted once.
            fitted = self.list_updates.router_ if self.list_updates is not None else None
            self._issue_router = fitted or ColdStartRouter(
                list(self.departments.values()), example_weight=ISSUE_ROUTER_EXAMPLE_WEIGHT).fit()
        router = self._issue_router
        layout = self._router_layout
        if layout is None or layout[0] != labels or layout[1] is not router:
            known = set(labels)
            names = labels + [n for n in router.labels_ if n not in known]
            at = {n: i for i, n in enumerate(names)}
            # Remembered per label list: a request's clauses ask with the same one.
            layout = self._router_layout = (labels, router, names,
                                            np.array([at[n] for n in router.labels_]))
        _, _, names, columns = layout
        mixed = np.zeros((p.shape[0], len(names)))
        mixed[:, :len(labels)] = (1 - w) * p
        mixed[:, columns] += w * router.predict_proba(prep)
        return list(names), mixed

    def predict(self, texts: list[str], evidence: bool = True) -> list[Prediction]:
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            return []
        return self._assemble(TextFeatures(texts), evidence=evidence)

    def _assemble(self, prep: TextFeatures, evidence: bool) -> list[Prediction]:
        scores = self._scores(prep)
        n = len(prep)
        # Routing from a list with no type head: no type is predicted, so none
        # is doubted; the review flag is the router's own (its margin).
        t_labels, t_p, t_rev = scores.get("type", (None, None, np.full(n, self.cold_start is None)))
        d_labels, d_p, d_rev = scores.get("department", (None, None, np.ones(n, bool)))
        notes = scores.get("department_notes") or [None] * n
        type_notes = scores.get("type_notes") or [None] * n
        d_order = _ranked(d_p)[:, :3] if d_p is not None else None
        preds = []
        for i in range(n):
            reasons = []
            if t_p is not None:
                ti = int(t_p[i].argmax())
                ttype, tconf = t_labels[ti], float(t_p[i, ti])
                tprobs = {l: round(float(v), 4) for l, v in zip(t_labels, t_p[i])}
            else:
                ttype, tconf, tprobs = None, 0.0, {}
            if type_notes[i]:
                reasons.append(type_notes[i])   # most like a label the head never answers
            elif t_rev[i]:
                reasons.append("type")
            if d_p is not None:
                order = d_order[i]
                top3 = [{"label": d_labels[j], "prob": round(float(d_p[i, j]), 4)} for j in order]
                dept, dconf = d_labels[order[0]], float(d_p[i, order[0]])
            else:
                top3, dept, dconf = [], None, 0.0
            if d_rev[i]:
                reasons.append("department")
                if notes[i]:
                    reasons.append(notes[i])   # routed by the list in force, not the head
            info = self.departments.get(dept) or {}
            preds.append(Prediction(
                type=ttype, type_conf=tconf, type_probs=tprobs, department=dept,
                department_conf=dconf, department_top3=top3, needs_review=bool(reasons),
                reply_days=info.get("reply_days"), review_reasons=reasons))
        for i in _no_content(prep.full):
            preds[i] = Prediction(type=None, type_conf=0.0, type_probs={}, department=None,
                                  department_conf=0.0, department_top3=[], needs_review=True,
                                  review_reasons=["no_content"])
        if evidence:
            with phase("evidence"):
                self._add_evidence(prep, preds)
        return preds

    def _add_evidence(self, prep: TextFeatures, preds: list[Prediction]) -> None:
        similar = [[] for _ in preds]
        case_head = self.heads.get("department") or self.heads.get("type")
        if self.cases is not None and case_head is not None:
            similar = self.cases.search(prep.tfidf(case_head.idf_), k=3)
        for i in _no_content(prep.full):
            similar[i] = []    # nearest cases of no features at all are arbitrary
        for i, p in enumerate(preds):
            words = []
            for name, label in (("department", p.department), ("type", p.type)):
                h = self.heads.get(name)
                if h is not None and label in h.labels_:
                    words += h.top_terms(prep, i, h.labels_.index(label), k=4)
            seen, uniq = set(), []
            for w in sorted(words, key=lambda w: -w["weight"]):
                if w["term"] not in seen:
                    seen.add(w["term"])
                    uniq.append(w)
            info = self.departments.get(p.department) or {}
            p.evidence = {
                "words": uniq[:6],
                "similar_cases": similar[i],
                "keywords": matched_keywords(prep.full[i], info, normalized=True) if info else [],
                "cues": matched_cues(prep.full[i]),
            }


def _ranked(p: np.ndarray) -> np.ndarray:
    """Label indices per row, likeliest first, ranked on the probabilities as shown
    (4 decimals) with ties in label order. On the raw floats, labels that all show
    0.0 were ordered by noise in the last bits, which changes with the batch a text
    is scored in: a resumed batch run wrote a top 3 in another order than an
    uninterrupted one."""
    return np.argsort(-np.round(p, 4), axis=1, kind="stable")


def _no_content(texts: list[str]) -> list[int]:
    """Positions of the normalised texts that hold no letter, digit or CJK character."""
    return [i for i, t in enumerate(texts) if not has_content(t)]


def prediction_columns(p: Prediction) -> tuple:
    """The batch output columns (hotline.batch.PRED_COLUMNS order)."""
    top3 = [{"label": d["label"], "prob": round(float(d["prob"]), 4)} for d in p.department_top3]
    return (p.type or "", round(float(p.type_conf), 4), p.department or "",
            round(float(p.department_conf), 4), bool(p.needs_review),
            json.dumps(top3, ensure_ascii=False))


def _json_float(v: float) -> str:
    return repr(v) if math.isfinite(v) else json.dumps(v)


# -------------------------------------------------------------------- load / save
def load_departments_file(path: Path) -> list[dict]:
    """The department list (``kb.taxonomy``'s format and checks) as plain dicts."""
    from kb.taxonomy import load_departments

    return [d.to_dict() for d in load_departments(path)]


def load_bundle(model_dir, taxonomy=None, settings=None) -> ClassifierBundle:
    """Load every head present in ``model_dir``. ``taxonomy``: the department
    list in force (a departments.json path), overriding the bundle's own copy;
    where a trained department head exists, the differences from that copy
    route at once (``classifier.list_updates``). ``settings`` (default: from the
    environment) locate the embedder a blended head needs."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelNotTrained(f"model directory {model_dir} does not exist")
    heads, ident, review_labels = {}, [], {}
    for name in HEADS:
        d = model_dir / name
        if not d.is_dir():
            continue
        m = read_manifest(d, HEAD_KIND, HEAD_FORMAT)
        heads[name] = TextHead.load(d)
        review_labels[name] = m.get("review_labels") or []
        if is_blended(d):
            heads[name] = _load_blend(d, heads[name], settings)
        ident.append(f"{name}:{m.get('data_hash', '?')}")
    departments = trained = None
    own = model_dir / TAXONOMY_FILE
    # A router-only bundle keeps its own list: its fitted router belongs to it.
    tax = Path(taxonomy) if taxonomy and "department" in heads else own
    cold_start = None
    if tax.is_file():
        departments = load_departments_file(tax)
        if "department" in heads and tax != own:
            trained = load_departments_file(own) if own.is_file() else []
            if not ListUpdates.related(heads["department"].labels_, departments):
                # Another centre's list (a demo home serving a gov model): keep the model's own.
                log.warning("department list %s names few of the model's departments; "
                            "routing by the model's own list", tax)
                departments, trained = trained or None, None
        if "department" not in heads and (model_dir / COLDSTART_DIR).is_dir():
            cold_start = ColdStartRouter.load(model_dir / COLDSTART_DIR, departments)
    cases = None
    if "department" in heads:
        cases = CaseIndex.load(model_dir / "department")
    elif "type" in heads:
        cases = CaseIndex.load(model_dir / "type")
    return ClassifierBundle(heads, cases, departments, identity=" ".join(ident),
                            cold_start=cold_start, trained_departments=trained,
                            review_labels=review_labels)


def _load_blend(directory: Path, text_head: TextHead, settings) -> BlendedHead:
    from foundation.settings import Settings
    from index.embedders import get_embedder

    head, identity = BlendedHead.load(directory, text_head)
    embedder = get_embedder(head.encoder_head.embedder, settings or Settings.load())
    if embedder.identity != identity:
        raise BadModel(f"head {directory} was trained on embedder {identity!r}; this home "
                       f"serves {embedder.identity!r}; retrain it (hotline train)")
    return head.attach(embedder)


def write_bundle_manifest(model_dir: Path, **fields) -> dict:
    """(Re)write the bundle manifest from the heads present; call after a head lands.
    ``fields`` (e.g. the recipe) are recorded beside the heads."""
    model_dir = Path(model_dir)
    heads = {}
    for name in HEADS:
        if (model_dir / name / "manifest.json").is_file():
            m = read_manifest(model_dir / name, HEAD_KIND, HEAD_FORMAT)
            heads[name] = {k: m.get(k) for k in ("data_hash", "labels", "built_at", "n_rows")}
    if not heads and not (model_dir / TAXONOMY_FILE).is_file():
        raise BadModel(f"{model_dir} holds no head")
    ident = " ".join(f"{k}:{v['data_hash']}" for k, v in heads.items())
    return write_manifest(model_dir, BUNDLE_KIND, BUNDLE_FORMAT, heads=heads, identity=ident,
                          **fields)
