"""Request logic: pure functions over one :class:`~hotline.runtime.Snapshot`.

Each function takes the snapshot a request read once, checks the components it
needs once, and returns plain JSON values. No HTTP and no engine here: the
HTTP views, the CLI and other callers use the same functions.

Text is checked (empty, too long) at this boundary and the normalised form is
what responses show. Every component normalises its own input once: the
classifier gets the text as received (it splits a ``title\ndetail`` text on
its newline, which normalising would fold, exactly as batch reclassification
does), search gets the boundary's normalised text, which the search service
and its embedder pass through unchanged (``index.text.NormalizedText``).
"""
from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from foundation.errors import InvalidInput
from foundation.timing import phase
from hotline.responses import jsonable
from hotline.runtime import Snapshot
from index.text.records import has_title


def checked_text(snap: Snapshot, text) -> str:
    """The normalised text, or InvalidInput/EmptyText/TextTooLong (a 400 even
    when the service is not ready)."""
    with phase("normalise"):
        return snap.normalizer.validate(text)


@functools.lru_cache(maxsize=1)
def _default_dispatch():
    from dispatch import Dispatch

    return Dispatch()


def dispatch_fields(snap: Snapshot, text: str, type: str | None, department: str | None,
                    reply_days=None, received: dt.datetime | None = None) -> dict:
    """``urgency`` and the deadline (``reply_days``, ``reply_deadline``,
    ``deadline``, ``deadline_rule``, ``deadline_error``) on the official
    calendar; the department's reply days (classifier, else taxonomy) apply
    only where no urgency, department or type rule does (docs/dispatch.md)."""
    if reply_days is None and department:
        reply_days = (snap.taxonomy.get(department) or {}).get("reply_days")
    rules = snap.dispatch or _default_dispatch()
    return rules.assess(text, type=type, department=department,
                        department_days=int(reply_days) if reply_days else None,
                        received=received)


def _lead_and_co(snap: Snapshot, predictions: list, checked: list[str],
                 titled: list[bool]) -> list[dict]:
    """``departments: {lead, co}`` per text (dispatch.codepts): the request's issues
    scored by the classifier's department head (or cold-start router); the
    whole text's scores are the prediction's top 3; a ``titled`` text reads as
    a letter. A classifier without ``department_scores`` gives the lead alone."""
    from dispatch.codepts import assign

    whole = [{d["label"]: float(d["prob"]) for d in (jsonable(getattr(p, "department_top3", []))
                                                        or [])} for p in predictions]
    score = getattr(snap.classifier, "department_scores", None)
    if score is None:
        return [{"lead": ({"name": p.department, "confidence": round(float(p.department_conf), 4)}
                          if getattr(p, "department", None) else None), "co": []}
                for p in predictions]
    return [d.to_dict() for d in assign(checked, score, whole=whole, mentions=snap.mentions,
                                        keywords=snap.department_keywords, titled=titled)]


def _prediction(snap: Snapshot, p: Any, text: str, departments: dict | None = None) -> dict:
    evidence = jsonable(getattr(p, "evidence", None)) or {}
    similar = evidence.pop("similar_cases", None) or []
    department = getattr(p, "department", None)
    needs_review = bool(getattr(p, "needs_review", False))
    return {
        "type": {"label": p.type, "confidence": float(p.type_conf),
                 "probs": jsonable(getattr(p, "type_probs", {}) or {})},
        "department": {"label": department, "confidence": float(p.department_conf),
                       "top3": jsonable(getattr(p, "department_top3", []) or [])},
        "departments": departments or {"lead": None, "co": []},
        "needs_review": needs_review,
        "review_reasons": jsonable(getattr(p, "review_reasons", []) or []),
        **dispatch_fields(snap, text, p.type, department, getattr(p, "reply_days", None)),
        "evidence": evidence,
        "similar_cases": similar,
    }


def _for_classifier(text: str, checked: str) -> str:
    """What the classifier is given: the text as received when it has a title
    line (its own split keeps it), else the boundary's normalised text, which
    it would compute again (a 400-character text: ~0.5 ms of NFKC and t2s);
    it passes a NormalizedText through."""
    return text if "\n" in text else checked


def _classified(snap: Snapshot, texts: list[str], checked: list[str]) -> list[dict]:
    """``checked``: the normalised texts, which urgency reads (its spans point
    into the ``text`` a response shows)."""
    with phase("classify"):
        predictions = snap.classifier.predict(texts)
    with phase("dispatch"):
        split = _lead_and_co(snap, predictions, checked, [has_title(t) for t in texts])
        return [_prediction(snap, p, c, d) for p, c, d in zip(predictions, checked, split)]


def _hits(snap: Snapshot, query: str, k: int, **filters) -> list[dict]:
    from index.search import SearchFilters

    hits = snap.search.search(query, k=k, filters=SearchFilters(**filters))
    with phase("serialise"):
        return [jsonable(h) for h in hits]


def classify(snap: Snapshot, texts: list[str], where: str | None = None) -> list[dict]:
    """Per text: its normalised form, type, department, review zone, deadline and
    evidence. ``where`` (e.g. ``"items[{i}].text"``) names a bad text in the error."""
    checked = []
    for i, text in enumerate(texts):
        try:
            checked.append(checked_text(snap, text))
        except InvalidInput as exc:
            if where is None:
                raise
            raise type(exc)(f"{where.format(i=i)}: {exc}") from None
    snap.need("classifier")
    given = [_for_classifier(t, c) for t, c in zip(texts, checked)]
    return [{"text": c, **r} for c, r in zip(checked, _classified(snap, given, checked))]


def search(snap: Snapshot, query: str, k: int = 5, region: str | None = None,
           department: str | None = None, category: str | None = None,
           now: str | None = None) -> list[dict]:
    snap.need("search")
    return _hits(snap, query, k, region=region, department=department, category=category,
                 now=now)


def analyze(snap: Snapshot, text: str, region: str | None = None,
            channel: str | None = None, k: int = 5) -> dict:
    """The widget's one call: checked text, classification, deadline, answers."""
    checked = checked_text(snap, text)
    snap.need("search", "classifier")
    return {"text": checked, "region": region, "channel": channel,
            **_classified(snap, [_for_classifier(text, checked)], [checked])[0],
            "answers": _hits(snap, checked, k, region=region),
            "versions": dict(snap.versions)}


def departments(snap: Snapshot) -> dict:
    """Taxonomy departments and the KB's regions."""
    snap.need("kb")
    return {"departments": [jsonable(d) for d in snap.taxonomy.values()],
            "regions": snap.regions}
