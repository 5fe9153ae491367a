"""A record's text as the product receives it: a title line over a body.

The batch CLI joins ``--text-cols title,detail`` as ``title\\nbody``
(``classifier.features.join_parts``) and a web form or another system may send
the same shape over HTTP. Normalising folds the line break into a space, so
whatever needs to know that a text came with a title asks here, of the text as
received.
"""
from __future__ import annotations

TITLE_MAX = 100          # a first line longer than this is body text, not a title


def title_line(raw: str) -> tuple[str, str] | None:
    """(first line, the rest) when ``raw`` opens with a title line (at most
    ``TITLE_MAX`` characters before its first line break), else None. Neither
    part is normalised; the title may be empty (a record with no title column)."""
    first, sep, rest = raw.partition("\n")
    return (first, rest) if sep and len(first.strip()) <= TITLE_MAX else None


def has_title(raw) -> bool:
    """Whether ``raw`` is a titled record: a title line with text over a body
    with text (a record with an empty title, or a title alone, is not)."""
    parts = title_line(raw) if isinstance(raw, str) else None
    return parts is not None and bool(parts[0].strip()) and bool(parts[1].strip())
