"""What entry *questions* ask about and where: the aspect and place columns of
the fusion features (``index.search.fusion``), with the per-entry caches they
need. A mixin of ``IndexState``, which provides ``entries``, ``row_text``,
``cols`` (the entries' filter columns, ``region`` among them) and
``_question_rows()``. An index build saves the entries' aspect masks and
place sets (``build.ENTRY_ASPECTS``, ``build.ENTRY_PLACES``), so a loaded index
finds neither again."""
from __future__ import annotations

import threading

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
        # entries' own region values. Entries share a few hundred distinct place
        # sets: each is interned once (with its closure), and an entry holds the
        # number of its set (-1: not found yet). From the saved index, or filled
        # lazily (~17 us an entry on a slow core: a cold cache cost a search of
        # the demo KB ~1 ms).
        self.places = get_places()
        self._regions: set[str] = set()
        self._place_lock = threading.Lock()   # interning appends to two arrays together
        self._reset_entry_places()

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
            numbers = self.entry_place_sets(entries)   # may intern new sets: first
            feats[:, 8] = self._place_named[numbers]

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
            self._reset_entry_places()

    def _reset_entry_places(self) -> None:
        self._entry_place_set = np.zeros(0, np.int32)
        self._place_sets: list[tuple[frozenset, frozenset]] = []
        self._place_set_ids: dict[frozenset, int] = {}
        self._place_named = np.zeros(0, bool)     # by set number: names a place
        self._intern_places(frozenset())          # set 0: no place

    def _intern_places(self, named: frozenset) -> int:
        i = self._place_set_ids.get(named)
        if i is None:
            with self._place_lock:
                i = self._place_set_ids.get(named)
                if i is None:
                    self._place_sets.append((named, self.places.closure(named)))
                    self._place_named = np.append(self._place_named, bool(named))
                    i = self._place_set_ids[named] = len(self._place_sets) - 1
        return i

    def entry_place_sets(self, entries: np.ndarray) -> np.ndarray:
        """The place-set number of each entry (its question and its ``region``),
        found on first sight."""
        cache = self._entry_place_set
        if len(cache) < len(self.entries):
            grown = np.full(len(self.entries), -1, np.int32)
            grown[:len(cache)] = cache
            self._entry_place_set = cache = grown   # threads: the last complete array stays
        out = cache[entries]
        todo = np.flatnonzero(out < 0)
        if len(todo):
            lex, qrows, regions = self.places, self._question_rows(), {}
            for i in todo.tolist():
                e = int(entries[i])
                region = self.cols.region[e]
                if region not in regions:
                    regions[region] = lex.places(normalize(region))
                named = lex.places(self._question_text(qrows, e)) | regions[region]
                out[i] = cache[e] = self._intern_places(named)
        return out

    def entry_places(self, entries: np.ndarray) -> list[tuple[frozenset, frozenset]]:
        """(places named, those and where they lie) of each entry."""
        sets = self._place_sets
        return [sets[i] for i in self.entry_place_sets(entries).tolist()]

    def place_conflicts(self, query_places: frozenset, entries: np.ndarray) -> np.ndarray:
        """1.0 where the entry names places and none agrees with the query's
        (``PlaceLexicon.conflicts``), else 0.0: decided once per distinct set."""
        lex, sets = self.places, self._place_sets
        q_closure = lex.closure(query_places)
        numbers = self.entry_place_sets(entries)
        distinct, inverse = np.unique(numbers, return_inverse=True)
        verdict = np.array([lex.conflicts(query_places, named, q_closure, closure)
                            for named, closure in (sets[i] for i in distinct.tolist())],
                           np.float32)
        return verdict[inverse]

    # ------------------------------------------------------------ persistence
    def saved_places(self) -> tuple[dict, np.ndarray]:
        """What an index build saves: the lexicon identity and the distinct place
        sets (JSON), and every entry's set number (``.npy``)."""
        numbers = self.entry_place_sets(np.arange(len(self.entries)))
        return ({"lexicon": self.places.identity,
                 "sets": [sorted(named) for named, _ in self._place_sets]}, numbers)

    def restore_places(self, saved: dict, numbers: np.ndarray) -> bool:
        """Take saved place sets when they were found with this lexicon (the
        same gazetteer and regions); False (nothing taken) otherwise."""
        if saved.get("lexicon") != self.places.identity or len(numbers) != len(self.entries):
            return False
        sets = [frozenset(s) for s in saved.get("sets") or [[]]]
        if sets[0] or (len(numbers) and (int(numbers.min()) < 0
                                         or int(numbers.max()) >= len(sets))):
            return False   # set 0 is "no place"; every number names a saved set
        self._reset_entry_places()
        for named in sets[1:]:
            self._intern_places(named)
        remap = np.array([self._place_set_ids[named] for named in sets], np.int32)
        self._entry_place_set = remap[numbers.astype(np.int64, copy=False)]
        return True
