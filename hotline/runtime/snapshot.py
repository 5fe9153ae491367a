"""The immutable set of objects one request uses.

A request takes the current :class:`Snapshot` once and uses only that object,
so a reload that builds a new snapshot and swaps the reference never disturbs a
request in flight: it finishes on the old objects, which are freed when the
last reference goes.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from foundation.errors import NotReady

COMPONENTS = ("kb", "search", "classifier", "taxonomy")
# Component name -> Snapshot attribute holding it.
ATTRIBUTE = {"kb": "store", "search": "search", "classifier": "classifier",
             "taxonomy": "taxonomy"}


@dataclass(frozen=True)
class Snapshot:
    store: Any = None
    search: Any = None
    classifier: Any = None
    taxonomy: Mapping[str, Mapping] = field(default_factory=dict)
    normalizer: Any = None   # the request boundary's Normalizer (validation, max length)
    dispatch: Any = None     # dispatch.Dispatch from the settings (calendar, deadlines, urgency)
    versions: Mapping[str, str] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)   # missing components
    warnings: Mapping[str, str] = field(default_factory=dict)   # failed reloads, old kept
    warm: tuple[str, ...] = ()   # components that already answered one request's worth of work
    loaded_at: float = field(default_factory=time.time)

    def need(self, *names: str) -> None:
        missing = [n for n in names if getattr(self, ATTRIBUTE[n]) is None]
        if missing:
            detail = "; ".join(f"{n}: {self.problems.get(n, 'not loaded')}" for n in missing)
            raise NotReady(f"the service is not ready for this request ({detail})")

    @property
    def ready(self) -> bool:
        """Every component a request needs is loaded and has been warmed (the
        engine runs one request's worth of work before it swaps a snapshot in)."""
        return (all(getattr(self, ATTRIBUTE[n]) is not None for n in ("kb", "search", "classifier"))
                and {"search", "classifier"} <= set(self.warm))

    def component(self, name: str) -> Any:
        return getattr(self, ATTRIBUTE[name])

    @functools.cached_property
    def mentions(self) -> dict[str, tuple[str, ...]]:
        """Per department, the words that name it in a call (dispatch.codepts),
        built once per snapshot rather than per request (~0.4 ms each)."""
        from dispatch.codepts import mention_patterns

        return mention_patterns(self._listed)

    @functools.cached_property
    def department_keywords(self) -> dict[str, tuple[str, ...]]:
        """Per department, its keywords in the list (dispatch.codepts evidence)."""
        from dispatch.codepts import keyword_patterns

        return keyword_patterns(self._listed)

    @property
    def _listed(self) -> list[dict]:
        return [{"name": n, **(d or {})} for n, d in self.taxonomy.items()]

    @functools.cached_property
    def regions(self) -> list[str]:
        """The published entries' regions, read once per snapshot (a frozen
        dataclass still lets cached_property fill its __dict__)."""
        if self.store is None:
            return []
        return sorted({e.region for e in self.store.iter_entries("published") if e.region})
