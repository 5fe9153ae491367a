"""What entry *questions* ask about and where: the aspect and place columns of
the fusion features (``index.search.fusion``), with the per-entry caches they
need. A mixin of ``IndexState``, which provides ``entries``, ``row_text``,
``cols`` (the entries' filter columns, ``region`` among them) and
``_question_rows()``; nothing here is saved with an index except the aspect
masks (``build.ENTRY_ASPECTS``)."""
from __future__ import annotations

import numpy as np

from index.text import normalize
from index.text.aspects import get_aspects
from index.text.places import get_places


class QuestionFeatures:
    def _init_question_features(self) -> None:
        self.aspects = get_aspects()
        # Aspect masks of entry questions, by entry position (-1: not computed yet):
        # from prepare() or the saved index; otherwise filled lazily from the
        # question row's text (no entry is parsed for it). Positions are never
        # reused, so nothing is invalidated.
        self._entry_aspects = np.zeros(0, np.int64)
        # Places entry questions name (index.text.places): the gazetteer plus the
        # entries' own region values; by entry position, filled lazily.
        self.places = get_places()
        self._regions: set[str] = set()
        self._entry_places: dict[int, tuple[frozenset, frozenset]] = {}

    def question_columns(self, qtext: str, entries: np.ndarray, feats: np.ndarray) -> None:
        """Fill the aspect mismatch (column 6), place conflict (column 7) and
        unasked place (column 8: the query names no place, the entry does) of
        candidate rows whose entries are ``entries``, for normalised ``qtext``."""
        q_aspects = self.aspects.mask(qtext)
        if q_aspects:
            masks = self.entry_aspects(entries)
            missed = np.bitwise_count(~masks & q_aspects) / int(np.bitwise_count(np.int64(q_aspects)))
            feats[:, 6] = ((masks & ~np.int64(q_aspects)) != 0) * missed
        q_places = self.places.places(qtext)
        if q_places:
            feats[:, 7] = self.place_conflicts(q_places, entries)
        else:
            feats[:, 8] = [bool(named) for named, _ in self.entry_places(entries)]

    def entry_aspects(self, entries: np.ndarray) -> np.ndarray:
        """Aspect masks (``index.text.aspects``) of these entries' questions."""
        cache = self._entry_aspects
        if len(cache) < len(self.entries):
            grown = np.full(len(self.entries), -1, np.int64)
            grown[:len(cache)] = cache
            # Threads may grow it at once: each gets a complete array, the last one stays.
            self._entry_aspects = cache = grown
        out = cache[entries]
        todo = out < 0
        if todo.any():
            qrows = self._question_rows()
            for i in np.flatnonzero(todo).tolist():
                e = int(entries[i])
                out[i] = cache[e] = self.aspects.mask(self._question_text(qrows, e))
        return out

    def _question_text(self, qrows: np.ndarray, e: int) -> str:
        """Entry ``e``'s question, normalised ("" for an entry without one)."""
        r = int(qrows[e])
        return normalize(self.row_text[r]) if r >= 0 else ""

    def add_regions(self, regions) -> None:
        """Entries' ``region`` values become places (a city KB's districts)."""
        regions = {normalize(r) for r in regions if r} - self._regions
        if regions:   # a new district: a place from now on, for every entry
            self._regions |= regions
            self.places = get_places().with_regions(self._regions)
            self._entry_places = {}

    def entry_places(self, entries: np.ndarray) -> list[tuple[frozenset, frozenset]]:
        """(places named, those and where they lie) of each entry: its question
        and its ``region``, found on first sight and cached."""
        lex, cache = self.places, self._entry_places
        out, qrows = [], None
        for e in entries.tolist():
            got = cache.get(e)
            if got is None:
                if qrows is None:
                    qrows = self._question_rows()
                named = (lex.places(self._question_text(qrows, e))
                         | lex.places(normalize(self.cols.region[e])))
                got = cache[e] = (named, lex.closure(named))
            out.append(got)
        return out

    def place_conflicts(self, query_places: frozenset, entries: np.ndarray) -> np.ndarray:
        """1.0 where the entry names places and none agrees with the query's
        (``PlaceLexicon.conflicts``), else 0.0."""
        lex = self.places
        q_closure = lex.closure(query_places)
        return np.array([lex.conflicts(query_places, named, q_closure, closure)
                         for named, closure in self.entry_places(entries)], np.float32)
