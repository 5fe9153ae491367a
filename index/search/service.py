"""``SearchService``: the one object the HTTP server holds.

* ``search(query, k, filters)`` — normalise, embed, search, fuse, filter.
* ``sync(store)`` — follow the KB change log (added, edited, retired entries
  searchable or gone within a second, no rebuild); also picks up a newly
  published full build (``current`` pointer moved by ``hotline index build``),
  loading it while the old index keeps serving, then swapping.

Thread-safe: searches and the apply step of a sync are serialised by one lock
(each holds it well under a millisecond; the embedding of queries and of
changed entries happens outside it); syncs and swaps are serialised by a second.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from hotline.errors import HotlineError
from hotline.heap import quiet_load
from index.search.build import build_index, current_dir, load_state
from index.search.errors import BadQuery
from index.search.state import MODES, prepare
from index.search.types import Hit, SearchFilters

log = logging.getLogger(__name__)
MAX_K = 100


class SearchService:
    def __init__(self, settings, embedder=None, tokenizer=None, index_dir: Path | None = None):
        from index.embedders import get_embedder
        from index.text import Normalizer, get_tokenizer

        self.settings = settings
        self.embedder = embedder or get_embedder(settings.embedder, settings)
        self.tokenizer = tokenizer or get_tokenizer()
        self.normalizer = Normalizer(max_chars=settings.max_text_chars)
        self._lock = threading.Lock()          # guards the state's contents
        self._sync_lock = threading.Lock()     # one sync / swap at a time
        directory = Path(index_dir) if index_dir else current_dir(settings)
        self._state, self.manifest = load_state(directory, self.embedder)
        self.directory = directory
        self._follow_current = index_dir is None
        self._paused = False
        self.last_sync: dict = {}
        self.last_build_error: str | None = None
        self._build_thread: threading.Thread | None = None
        self._rejected: Path | None = None
        self._swap_thread: threading.Thread | None = None

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
        self.normalizer.validate(query)
        text = self.normalizer(query)
        qvec = self.embedder.embed([text], kind="query")[0] if mode != "lexical" else None
        terms = self.tokenizer.terms(text)
        synonyms = self.tokenizer.synonyms      # read each query: synonym edits need no reindex
        with self._lock:
            return self._state.search(qvec, text, terms, synonyms, k, filters, mode)

    def get(self, entry_id: str):
        with self._lock:
            return self._state.get(entry_id)

    # ------------------------------------------------------------ updates
    def sync(self, store, wait: bool = True) -> dict:
        """Apply KB changes since the index's last seen change; returns counts.
        ``wait=False`` (the server's request path): a newly published index is
        loaded in a background thread and swapped in when ready, instead of
        making this request wait ~2 s for it."""
        with self._sync_lock:
            t0 = time.perf_counter()
            swapped = self._maybe_swap(wait)
            state = self._state
            changes = store.changes_since(state.seq)
            if not changes:
                self.last_sync = {"changes": 0, "added": 0, "removed": 0, "seq": state.seq,
                                  "swapped": swapped, "seconds": round(time.perf_counter() - t0, 4)}
                return self.last_sync
            ids = list(dict.fromkeys(c.entry_id for c in changes))
            current = store.get_many(ids)
            publish = [current[i] for i in ids if i in current and current[i].status == "published"]
            gone = [i for i in ids if i not in current or current[i].status != "published"]
            p = prepare(publish, self.embedder, self.tokenizer, state.include_answers)
            with self._lock:
                removed = state.remove(gone)
                state.apply(p)
                state.seq = changes[-1].seq
            self.last_sync = {"changes": len(changes), "added": len(publish), "removed": removed,
                              "seq": state.seq, "swapped": swapped,
                              "seconds": round(time.perf_counter() - t0, 4)}
            return self.last_sync

    def pause_following(self) -> None:
        """A replacement service is being loaded (``POST /v1/admin/reload``):
        meanwhile this one must not load the same new index in the background."""
        self._paused = True

    def resume_following(self) -> None:
        self._paused = False

    def _maybe_swap(self, wait: bool = True) -> bool:
        if not self._follow_current or self._paused:
            return False
        try:
            target = current_dir(self.settings)
        except Exception:  # pointer vanished: keep serving what we have
            return False
        if target == self.directory or target == self._rejected:
            return False
        if wait:
            return self._load_and_swap(target)
        if not (self._swap_thread and self._swap_thread.is_alive()):
            self._swap_thread = threading.Thread(target=self._swap_later, args=(target,),
                                                 name="index-swap", daemon=True)
            self._swap_thread.start()
        return False

    def _load_and_swap(self, target: Path) -> bool:
        loaded = self._load_target(target)     # the old state serves meanwhile
        if loaded is not None:
            self._install(target, *loaded)
        return loaded is not None

    def _swap_later(self, target: Path) -> None:
        # Loaded without the sync lock (syncs keep updating the old state);
        # the swap itself takes it, and the next sync catches the new state up
        # from its manifest's change-log position.
        try:
            loaded = self._load_target(target, paced=True)
        except Exception:  # a background thread must not die silently
            log.exception("loading index %s failed", target.name)
            self._rejected = target
            return
        if loaded is not None:
            with self._sync_lock:
                if self.directory != target:
                    self._install(target, *loaded)

    def _load_target(self, target: Path, paced: bool = False):
        """(state, manifest) of ``target``, or None when it is refused (e.g. built
        with another embedder): the old index keeps serving, and why is said once.
        ``paced``: loaded beside requests, using at most a share of a core."""
        try:
            with quiet_load(paced=paced):   # no full collections holding the GIL mid-load
                return load_state(target, self.embedder)
        except HotlineError as exc:
            log.error("not switching to %s: %s", target.name, exc)
            self.last_build_error, self._rejected = str(exc), target
            return None

    def _install(self, target: Path, state, manifest) -> None:
        with self._lock:
            self._state, self.manifest, self.directory = state, manifest, target
        log.info("search index swapped to %s", target.name)

    def rebuild(self, store_factory, *, background: bool = True, **build_args) -> None:
        """Full rebuild into a new directory; the current index serves until the
        next ``sync`` swaps to it. ``store_factory()`` opens a KB store (SQLite
        connections are per thread). Failures are kept in ``last_build_error``."""
        def work():
            try:
                store = store_factory()
                build_index(store, self.embedder, self.settings, tokenizer=self.tokenizer,
                            progress=False, **build_args)
                self.last_build_error = None
                self.sync(store)
            except Exception as exc:  # the old index keeps serving; say why
                log.error("index rebuild failed: %s", exc)
                self.last_build_error = str(exc)

        if not background:
            return work()
        if self._build_thread and self._build_thread.is_alive():
            raise BadQuery("a rebuild is already running")
        self._build_thread = threading.Thread(target=work, name="index-rebuild", daemon=True)
        self._build_thread.start()

    # ------------------------------------------------------------ status
    def status(self) -> dict:
        with self._lock:
            s = self._state
            return {"directory": str(self.directory), "entries": s.n_entries, "rows": s.n_rows,
                    "dead_rows": int(len(s.row_alive) - s.row_alive.sum()),
                    "delta_rows": s.lexical.delta_rows, "dense_kind": s.dense.kind,
                    "seq": s.seq, "embedder": self.manifest.get("embedder"),
                    "embedder_identity": self.manifest.get("embedder_identity"),
                    "built_at": self.manifest.get("built_at"),
                    "building": bool(self._build_thread and self._build_thread.is_alive()),
                    "last_build_error": self.last_build_error, "last_sync": self.last_sync}
