"""``SearchService``: the one object the HTTP server holds.

* ``search(query, k, filters)`` — normalise, embed, search, fuse, filter.
* ``sync(store)`` — apply the KB change log (added, edited, retired entries
  searchable or gone without a rebuild).

A service serves the one index directory it was loaded from. Following the
``current`` pointer to a newer build is the application's job (the runtime
engine loads a new service beside this one and swaps).

Thread-safe: searches and the apply step of a sync are serialised by one lock
(each holds it well under a millisecond; the embedding of queries and of
changed entries happens outside it); syncs are serialised by a second.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from foundation.rwlock import ReadWriteLock
from foundation.timing import add as add_phase, phase
from index.search.build import current_dir, load_state
from index.search.errors import BadQuery
from index.search.state import MODES, prepare
from index.search.types import Hit, SearchFilters

MAX_K = 100
SYNC_CHUNK = 500


class SearchService:
    def __init__(self, settings, embedder=None, tokenizer=None, index_dir: Path | None = None):
        from index.embedders import get_embedder
        from index.text import Normalizer, get_tokenizer

        self.settings = settings
        self.embedder = embedder or get_embedder(settings.embedder, settings)
        self.tokenizer = tokenizer or get_tokenizer()
        self.normalizer = Normalizer(max_chars=settings.max_text_chars)
        self._lock = ReadWriteLock()           # searches share the state; an update has it alone
        self._sync_lock = threading.Lock()     # one sync at a time
        directory = Path(index_dir) if index_dir else current_dir(settings)
        self._state, self.manifest = load_state(directory, self.embedder)
        self.directory = directory
        self.last_sync: dict = {}

    # ------------------------------------------------------------ queries
    def search(self, query: str, k: int = 5, filters: SearchFilters | None = None,
               mode: str = "fused") -> list[Hit]:
        """Top ``k`` entries for ``query``. ``mode`` is ``fused`` (default),
        ``dense`` or ``lexical`` (the last two for evaluation)."""
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise BadQuery(f"k={k!r} is not an integer between 1 and {MAX_K}")
        if mode not in MODES:
            raise BadQuery(f"mode={mode!r}; expected one of {MODES}")
        if filters is not None and not isinstance(filters, SearchFilters):
            raise BadQuery(f"filters must be a SearchFilters, got {type(filters).__name__}")
        text = self.normalizer.validate(query)
        with phase("embed"):
            qvec = self.embedder.embed([text], kind="query")[0] if mode != "lexical" else None
        with phase("segment"):
            terms = self.tokenizer.terms(text)
        synonyms = self.tokenizer.synonyms      # read each query: synonym edits need no reindex
        t0 = time.perf_counter()
        with self._lock.read():   # a KB catch-up's append excludes searches: its own phase
            add_phase("search_lock", time.perf_counter() - t0)
            return self._state.search(qvec, text, terms, synonyms, k, filters, mode)

    def get(self, entry_id: str):
        with self._lock.read():
            return self._state.get(entry_id)

    # ------------------------------------------------------------ updates
    def sync(self, store) -> dict:
        """Apply KB changes since the index's last seen change; returns counts.

        A bulk import is applied in chunks of ``SYNC_CHUNK`` changes: each is
        embedded and segmented without the searches' lock and appended under it,
        so searches wait at most one chunk's append (with 20,000 imported
        entries applied at once, one append held them up to ~2 s)."""
        with self._sync_lock:
            t0 = time.perf_counter()
            changes = store.changes_since(self._state.seq)
            added = removed = 0
            for start in range(0, len(changes), SYNC_CHUNK):
                a, r = self._apply(store, changes[start:start + SYNC_CHUNK])
                added, removed = added + a, removed + r
            self.last_sync = {"changes": len(changes), "added": added, "removed": removed,
                              "seq": self._state.seq,
                              "seconds": round(time.perf_counter() - t0, 4)}
            return self.last_sync

    def _apply(self, store, changes) -> tuple[int, int]:
        state = self._state
        ids = list(dict.fromkeys(c.entry_id for c in changes))
        current = store.get_many(ids)
        publish = [current[i] for i in ids if i in current and current[i].status == "published"]
        gone = [i for i in ids if i not in current or current[i].status != "published"]
        p = prepare(publish, self.embedder, self.tokenizer, state.include_answers).with_grams()
        with self._lock.write():
            removed = state.remove(gone)
            state.apply(p)
            state.seq = changes[-1].seq
            state.warm()   # row sums now, not in the middle of the next search
        return len(publish), removed

    # ------------------------------------------------------------ status
    def status(self) -> dict:
        with self._lock.read():
            s = self._state
            return {"directory": str(self.directory), "entries": s.n_entries, "rows": s.n_rows,
                    "dead_rows": int(len(s.row_alive) - s.row_alive.sum()),
                    "delta_rows": s.lexical.delta_rows, "dense_kind": s.dense.kind,
                    "seq": s.seq, "embedder": self.manifest.get("embedder"),
                    "embedder_identity": self.manifest.get("embedder_identity"),
                    "built_at": self.manifest.get("built_at"), "last_sync": self.last_sync}
