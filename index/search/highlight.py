"""The words of a query found in a hit's question and answer, for the widget."""
from __future__ import annotations

from index.text import normalize


def matched_words(text: str, terms: list[str], limit: int = 12) -> list[str]:
    """Query terms (already expanded with synonyms) occurring in ``text``,
    in order of first occurrence; a term inside a longer matched term is dropped.
    Single characters count only when they are letters or digits of a code."""
    if not text or not terms:
        return []
    low = normalize(text).lower()
    found = []
    for t in sorted(set(terms), key=len, reverse=True):
        if len(t) < 2 and not t.isascii():
            continue
        pos = low.find(t.lower())
        if pos >= 0 and not any(t in f for _, f in found):
            found.append((pos, t))
    return [t for _, t in sorted(found)][:limit]


def highlights(question: str, answer: str, terms: list[str]) -> dict[str, list[str]]:
    return {"question": matched_words(question, terms), "answer": matched_words(answer, terms)}
