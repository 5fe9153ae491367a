"""The words of a query found in a hit's question and answer, for the widget."""
from __future__ import annotations

from index.text import normalize


def prepare_text(text: str) -> str:
    """The form ``matched_words`` searches in (normalised, lower-cased); cache it
    per entry: normalising a long answer on every query costs milliseconds."""
    return normalize(text).lower() if text else ""


def matched_words(text: str, terms: list[str], limit: int = 12, prepared: bool = False) -> list[str]:
    """Query terms (already expanded with synonyms) occurring in ``text``,
    in order of first occurrence; a term inside a longer matched term is dropped.
    Single characters count only when they are letters or digits of a code."""
    if not text or not terms:
        return []
    low = text if prepared else prepare_text(text)
    found = []
    for t in sorted(set(terms), key=len, reverse=True):
        if len(t) < 2 and not t.isascii():
            continue
        pos = low.find(t.lower())
        if pos >= 0 and not any(t in f for _, f in found):
            found.append((pos, t))
    return [t for _, t in sorted(found)][:limit]


def highlights(question: str, answer: str, terms: list[str], prepared: bool = False) -> dict[str, list[str]]:
    return {"question": matched_words(question, terms, prepared=prepared),
            "answer": matched_words(answer, terms, prepared=prepared)}
