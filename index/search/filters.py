"""Filters as boolean masks over the index's entries, cached per (filters, day, version).

Masks are computed with numpy over per-entry columns so a query pays
microseconds, not a Python loop over 23k entries."""
from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

from index.search.types import SearchFilters

_MAX_CACHE = 64
_MISSING = object()


def as_day(now: Any = None) -> str:
    if now is None:
        return _dt.date.today().isoformat()
    if isinstance(now, (_dt.date, _dt.datetime)):
        return now.isoformat()[:10]
    return str(now)[:10]


class EntryColumns:
    """Per-entry filter columns, appended to as entries are added."""

    def __init__(self):
        self.valid_from: list[str] = []     # "" = open
        self.valid_to: list[str] = []       # "\uffff" = open
        self.region: list[str] = []
        self.departments: list[frozenset] = []
        self.categories: list[frozenset] = []
        self._arrays = None
        self._cache: dict = {}
        self._sets: dict[tuple, frozenset] = {}

    def extend(self, entries) -> None:
        for entry in entries:
            self.valid_from.append(entry.valid_from or "")
            self.valid_to.append(entry.valid_to or "\uffff")
            self.region.append(entry.region or "")
            self.departments.append(self._set(entry.department))
            self.categories.append(self._set(entry.category))
        self.invalidate()

    def _set(self, names) -> frozenset:
        # One frozenset per distinct value: 23k entries share a few hundred
        # department and category sets, and 48k separate ones were most of
        # what an index load left for the cyclic GC to scan.
        key = tuple(sorted(names))
        found = self._sets.get(key)
        if found is None:
            found = self._sets[key] = frozenset(key)
        return found

    def to_dict(self) -> dict:
        return {"valid_from": self.valid_from, "valid_to": self.valid_to, "region": self.region,
                "departments": [sorted(d) for d in self.departments],
                "categories": [sorted(c) for c in self.categories]}

    @classmethod
    def from_dict(cls, d: dict) -> "EntryColumns":
        cols = cls()
        cols.valid_from, cols.valid_to, cols.region = d["valid_from"], d["valid_to"], d["region"]
        cols.departments = [cols._set(x) for x in d["departments"]]
        cols.categories = [cols._set(x) for x in d["categories"]]
        if not len(cols.valid_from) == len(cols.valid_to) == len(cols.region) \
                == len(cols.departments) == len(cols.categories):
            raise ValueError("entry columns of unequal length")
        return cols

    def invalidate(self) -> None:
        self._arrays = None
        self._cache.clear()

    def _np(self):
        if self._arrays is None:
            self._arrays = (np.array(self.valid_from, dtype=object),
                            np.array(self.valid_to, dtype=object),
                            np.array(self.region, dtype=object))
        return self._arrays

    def mask(self, filters: SearchFilters | None) -> np.ndarray | None:
        """Entries passing the filters (None: every entry passes)."""
        filters = filters or SearchFilters()
        day = as_day(filters.now)
        key = filters.key(day)
        # One lookup, not `in` then `[]`: searches share this cache across threads
        # (foundation.rwlock) and another may clear it in between.
        cached = self._cache.get(key, _MISSING)
        if cached is not _MISSING:
            return cached
        vf, vt, region = self._np()
        n = len(self.region)
        m = (vf <= day) & (vt > day) if n else np.ones(0, dtype=bool)
        m = np.asarray(m, dtype=bool)
        if filters.region:
            m &= (region == "") | (region == filters.region)
        if filters.department:
            m &= np.fromiter((filters.department in d for d in self.departments), bool, n)
        if filters.category:
            m &= np.fromiter((filters.category in c for c in self.categories), bool, n)
        out = None if m.all() else m
        if len(self._cache) >= _MAX_CACHE:
            self._cache.clear()
        self._cache[key] = out
        return out
