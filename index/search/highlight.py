"""The words of a query found in a hit's question and answer, for the widget."""
from __future__ import annotations

from index.text import normalize


def prepare_text(text: str) -> str:
    """The form ``matched_words`` searches in (normalised, lower-cased); cache it
    per entry: normalising a long answer on every query costs milliseconds."""
    return normalize(text).lower() if text else ""


def _candidates(terms: list[str]) -> list[tuple[str, str]]:
    """(term, lower-cased) worth looking for, longest first."""
    return [(t, t.lower()) for t in sorted(set(terms), key=len, reverse=True)
            if len(t) >= 2 or t.isascii()]


def _find(low: str, candidates: list[tuple[str, str]], limit: int) -> list[str]:
    found = []
    for t, t_low in candidates:
        pos = low.find(t_low)
        if pos >= 0 and not any(t in f for _, f in found):
            found.append((pos, t))
    return [t for _, t in sorted(found)][:limit]


def matched_words(text: str, terms: list[str], limit: int = 12, prepared: bool = False) -> list[str]:
    """Query terms (already expanded with synonyms) occurring in ``text``,
    in order of first occurrence; a term inside a longer matched term is dropped.
    Single characters count only when they are letters or digits of a code."""
    if not text or not terms:
        return []
    return _find(text if prepared else prepare_text(text), _candidates(terms), limit)


def highlighter(terms: list[str]):
    """``highlights`` for many hits of one query: the terms are sorted once."""
    candidates = _candidates(terms)

    def highlight(question: str, answer: str, prepared: bool = False, limit: int = 12) -> dict:
        out = {}
        for key, text in (("question", question), ("answer", answer)):
            if not text or not candidates:
                out[key] = []
            else:
                out[key] = _find(text if prepared else prepare_text(text), candidates, limit)
        return out

    return highlight


def highlights(question: str, answer: str, terms: list[str], prepared: bool = False) -> dict[str, list[str]]:
    return highlighter(terms)(question, answer, prepared=prepared)
