"""Values that cross the search API: filters in, hits out."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SearchFilters:
    """Query-time filters. Only published entries are ever indexed; ``now``
    (ISO date or date/datetime, default today) selects entries valid that day.
    ``region`` keeps city-wide entries plus that district's; ``department``
    and ``category`` keep entries listing that value (category at any level)."""

    region: str | None = None
    department: str | None = None
    category: str | None = None
    now: Any = None

    def key(self, day: str) -> tuple:
        return (self.region or None, self.department or None, self.category or None, day)


@dataclass
class Hit:
    id: str
    score: float
    question: str
    answer: str
    department: list[str]
    category: list[str]
    region: str
    highlights: dict[str, list[str]] = field(default_factory=dict)
    matched: str = "question"          # question | similar | answer
    matched_text: str = ""             # the text that matched best

    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"] = round(float(self.score), 4)
        return d
