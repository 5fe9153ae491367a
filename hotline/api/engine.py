"""The engine: everything a request needs, loaded once and swapped atomically.

A :class:`Snapshot` is immutable and holds the KB store, the search service, the
classifier bundle and the department taxonomy. A request takes the current
snapshot once (``engine.snapshot``) and uses only that object, so a reload that
builds a new snapshot and swaps the reference under a lock never disturbs a
request in flight: it finishes on the old objects, which are freed when the last
reference goes.

Components that are not available yet (no index built, no model trained, the
library not installed) are recorded in ``snapshot.problems`` and the endpoints
that need them raise :class:`NotReady` (HTTP 503) instead of crashing.
Every loader is injectable so tests and other deployments can wire their own.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from hotline.errors import HotlineError, NotReady
from hotline.heap import quiet_load
from index.text import Normalizer

log = logging.getLogger(__name__)

COMPONENTS = ("kb", "search", "classifier", "taxonomy")


@dataclass(frozen=True)
class Snapshot:
    store: Any = None
    search: Any = None
    classifier: Any = None
    taxonomy: Mapping[str, Mapping] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)   # missing components
    warnings: Mapping[str, str] = field(default_factory=dict)   # failed reloads, old kept
    loaded_at: float = field(default_factory=time.time)

    def need(self, *names: str) -> None:
        missing = [n for n in names if getattr(self, _ATTR[n]) is None]
        if missing:
            detail = "; ".join(f"{n}: {self.problems.get(n, 'not loaded')}" for n in missing)
            raise NotReady(f"the service is not ready for this request ({detail})")

    @property
    def ready(self) -> bool:
        return all(getattr(self, _ATTR[n]) is not None for n in ("kb", "search", "classifier"))


_ATTR = {"kb": "store", "search": "search", "classifier": "classifier", "taxonomy": "taxonomy"}


# ---------------------------------------------------------------- default loaders
def _manifest_version(directory) -> str:
    from hotline.artifacts import read_manifest

    m = read_manifest(directory)
    ident = m.get("version") or m.get("identity") or m.get("data_hash") or ""
    return f"{directory.name}@{m.get('built_at', '?')}" + (f" {ident}" if ident else "")


def open_store(settings):
    import kb

    # Opening creates an empty KB on a fresh home, so editors can start adding entries.
    store = kb.open_store(settings)
    return store, str(settings.kb_path.name)


def load_search(settings):
    from hotline.artifacts import resolve_current
    from index.search import SearchService

    # Check the pointer first: loading the service loads the embedder into the
    # process-wide cache, and while `hotline serve` is still exporting it that
    # would pin the slow fallback backend.
    current = resolve_current(settings.index_root)
    if current is None or not current.is_dir():
        raise NotReady(f"no search index under {settings.index_root}; run `hotline index build`")
    # Raises IndexNotBuilt (a NotReady) when no index is published yet.
    service = SearchService(settings)
    m = service.manifest
    return service, f"{service.directory.name} ({m.get('embedder')}, {m.get('n_entries', '?')} entries)"


def load_classifier(settings):
    from classifier import load_bundle
    from hotline.artifacts import resolve_current

    directory = resolve_current(settings.models_root)
    if directory is None or not directory.is_dir():
        raise NotReady(f"no model published under {settings.models_root}; run `hotline train`")
    return load_bundle(directory), _manifest_version(directory)


def load_taxonomy(settings):
    from kb.taxonomy import default_taxonomy_path, load_departments

    path = default_taxonomy_path(settings)
    if not path.is_file():
        return {}, "none"
    departments = load_departments(path)
    out = {}
    for d in departments:
        d = d if isinstance(d, Mapping) else dataclasses.asdict(d)
        out[d["name"]] = d
    return out, f"{path.name} ({len(out)} departments)"


DEFAULT_LOADERS: dict[str, Callable] = {
    "kb": open_store, "search": load_search, "classifier": load_classifier,
    "taxonomy": load_taxonomy,
}


# ---------------------------------------------------------------- probes
def _stamp(path, inode_only: bool = False) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path}:{st.st_ino}" + ("" if inode_only else f":{st.st_mtime_ns}:{st.st_size}")


def probe_store(settings) -> str:
    # The file itself, not its contents: writes go through the open store.
    return _stamp(settings.kb_path, inode_only=True)


def probe_search(settings) -> str:
    from hotline.artifacts import resolve_current

    current = resolve_current(settings.index_root)
    parts = [_stamp(current / "manifest.json") if current else "none"]
    # A re-exported embedder means a new SearchService around the new model.
    parts += sorted(_stamp(p) for p in settings.embedders_root.glob("*/manifest.json"))
    return "|".join(parts)


def probe_classifier(settings) -> str:
    from hotline.artifacts import resolve_current

    current = resolve_current(settings.models_root)
    return _stamp(current / "manifest.json") if current else "none"


def probe_taxonomy(settings) -> str:
    from kb.taxonomy import default_taxonomy_path

    return _stamp(default_taxonomy_path(settings))


# What each default component would load now, read cheaply: a reload skips the
# components whose probe has not changed since they were loaded (reloading the
# 23k-entry index costs ~2 s of a worker's CPU for nothing).
DEFAULT_PROBES: dict[str, Callable] = {
    "kb": probe_store, "search": probe_search, "classifier": probe_classifier,
    "taxonomy": probe_taxonomy,
}


# ---------------------------------------------------------------- engine
class Engine:
    def __init__(self, settings, loaders: Mapping[str, Callable] | None = None,
                 retry_seconds: float = 2.0):
        self.settings = settings
        self.loaders = {**DEFAULT_LOADERS, **(loaders or {})}
        # Injected loaders have no probe: they are reloaded every time.
        self.probes = {n: p for n, p in DEFAULT_PROBES.items()
                       if self.loaders[n] is DEFAULT_LOADERS[n]}
        self._probed: dict[str, str] = {}
        self.normalizer = Normalizer(max_chars=settings.max_text_chars)
        self.retry_seconds = retry_seconds
        self.reloads = 0
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._last_try = 0.0
        self._last_sync = 0.0
        self._last_watch = time.monotonic()
        self._regions: dict[int, list] = {}
        self._snapshot = self._load(Snapshot(), COMPONENTS, paced=False)
        self._start_filler()

    def _start_filler(self) -> None:
        """While something is missing (``hotline serve --prepare`` still building
        it), retry in the background too: every worker is then ready when the
        build is, instead of its first request paying the ~3 s load."""
        if not self._snapshot.problems or self.retry_seconds <= 0:
            return
        ref, interval = weakref.ref(self), self.retry_seconds

        def fill():
            while True:
                time.sleep(interval)
                engine = ref()           # gone with its app: stop
                if engine is None or not engine._snapshot.problems:
                    return
                engine._fill_missing()
                del engine

        threading.Thread(target=fill, name="engine-fill", daemon=True).start()

    @property
    def snapshot(self) -> Snapshot:
        """The current snapshot; while something is missing, retry loading it
        (throttled) so artifacts built after start-up are picked up."""
        snap = self._snapshot
        now = time.monotonic()
        if snap.problems and now - self._last_try > self.retry_seconds:
            self._fill_missing()
            snap = self._snapshot
        if now - self._last_watch > self.retry_seconds:
            self._watch_model(snap)
        return snap

    def _watch_model(self, snap: Snapshot) -> None:
        """``POST /v1/admin/reload`` reaches one gunicorn worker; the others notice
        the moved ``models/current`` pointer here and reload the classifier in the
        background (the index follows its own pointer in ``SearchService.sync``)."""
        self._last_watch = time.monotonic()
        if snap.classifier is None:
            return
        from hotline.artifacts import resolve_current

        target = resolve_current(self.settings.models_root)
        loaded = (snap.versions.get("classifier") or "").split("@", 1)[0]
        if target is None or target.name == loaded or self._lock.locked():
            return
        threading.Thread(target=self._reload_only, args=(("classifier",),), daemon=True,
                         name="model-reload").start()

    def _reload_only(self, names) -> None:
        with self._lock:
            old = self._snapshot
            self._snapshot = self._load(old, names, paced=True)
        log.info("engine picked up a new model", extra={"versions": dict(self._snapshot.versions)})

    def _load(self, base: Snapshot, names, paced: bool) -> Snapshot:
        # Paced when requests are being served beside it (see hotline.heap);
        # not at start-up or while filling in what is missing, so readiness comes sooner.
        with quiet_load(paced=paced) as load:
            snap = self._load_components(base, names)
            # Freeze only after something new was loaded (not after a retry that failed).
            load.freeze = any(getattr(snap, _ATTR[n]) is not getattr(base, _ATTR[n])
                              for n in names)
            return snap

    def _load_components(self, base: Snapshot, names) -> Snapshot:
        values = {a: getattr(base, a) for a in _ATTR.values()}
        versions, problems = dict(base.versions), dict(base.problems)
        warnings = {k: v for k, v in base.warnings.items() if k not in names}
        for name in names:
            attr = _ATTR[name]
            # A component that follows its own artifact pointer (the search
            # service) would otherwise load the same new artifact a second time.
            following = values[attr] if hasattr(values[attr], "pause_following") else None
            if following is not None:
                following.pause_following()
            try:
                stamp = self._probe(name)   # before loading: a publish meanwhile is seen next time
                obj, version = self.loaders[name](self.settings)
            except ImportError as exc:
                message = f"not installed ({exc})"
            except HotlineError as exc:
                message = str(exc)
            except Exception as exc:  # a broken artifact must not take the server down
                log.exception("loading %s failed", name)
                message = f"failed to load: {type(exc).__name__}: {exc}"
            else:
                values[attr], versions[name] = obj, version
                problems.pop(name, None)
                self._probed[name] = stamp
                continue
            self._probed.pop(name, None)
            if following is not None:   # still the one serving: let it follow again
                following.resume_following()
            if values[attr] is None:
                problems[name] = message
            else:  # a failed reload keeps serving the previous object
                warnings[name] = f"reload failed, still serving {versions.get(name)}: {message}"
        if (problems or warnings) and (problems, warnings) != (dict(base.problems),
                                                               dict(base.warnings)):
            log.warning("engine components not loaded", extra={"problems": problems,
                                                               "warnings": warnings})
        return Snapshot(**values, versions=versions, problems=problems, warnings=warnings)

    def _fill_missing(self) -> None:
        # Non-blocking: while one request loads, the others go on with the old snapshot.
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._last_try = time.monotonic()
            snap = self._snapshot
            if snap.problems:
                self._snapshot = self._load(snap, list(snap.problems), paced=False)
        finally:
            self._lock.release()

    def _probe(self, name: str) -> str | None:
        probe = self.probes.get(name)
        if probe is None:
            return None
        try:
            return probe(self.settings)
        except Exception:  # an unreadable pointer: let the loader say what is wrong
            return None

    def reload(self) -> dict:
        """Load the components whose artifacts changed (or that are missing or
        failed) and swap the snapshot in one assignment; requests holding the
        old snapshot finish on it."""
        with self._lock:
            old = self._snapshot
            _clear_embedder_cache()  # pick up re-exported embedders (unchanged ones stay)
            names = [n for n in COMPONENTS
                     if n in old.problems or n in old.warnings or self._probed.get(n) is None
                     or self._probe(n) != self._probed[n]]
            new = self._load(old, names, paced=True)
            self._snapshot = new
            self.reloads += 1
        changed = sorted(k for k in COMPONENTS if new.versions.get(k) != old.versions.get(k))
        log.info("engine reloaded", extra={"versions": dict(new.versions), "changed": changed,
                                           "reloaded": names})
        return {"changed": changed, "reloaded": names, **self.describe(new)}

    def describe(self, snap: Snapshot | None = None) -> dict:
        snap = snap or self._snapshot
        versions = dict(snap.versions)
        directory = getattr(snap.search, "directory", None)
        if directory is not None and not versions.get("search", "").startswith(directory.name):
            versions["search"] = f"{directory.name} (followed after a publish)"
        return {
            "ready": snap.ready,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(snap.loaded_at)),
            "components": {
                name: {"loaded": name not in snap.problems and name in snap.versions,
                       "version": versions.get(name),
                       "problem": snap.problems.get(name) or snap.warnings.get(name)}
                for name in COMPONENTS
            },
        }

    def sync_index(self, snap: Snapshot, force: bool = False) -> None:
        """Apply KB changes to the in-memory index. After a write in this process
        ``force`` syncs at once; otherwise at most once a second, so writes made
        through another worker show up in this one within about a second."""
        if snap.search is None or snap.store is None or not hasattr(snap.search, "sync"):
            return
        now = time.monotonic()
        if not force and now - self._last_sync < 1.0:
            return
        if not self._sync_lock.acquire(blocking=force):
            return  # someone else is syncing; their result is good enough
        try:
            self._last_sync = now
            snap.search.sync(snap.store, wait=False)
        except HotlineError as exc:
            # e.g. a broken newly published index: keep answering from what is loaded.
            log.warning("index sync failed; serving the loaded index: %s", exc)
        finally:
            self._sync_lock.release()

    # ---------------------------------------------------------------- helpers for views
    def validate_text(self, text) -> str:
        return self.normalizer.validate(text)

    def reply_deadline(self, snap: Snapshot, department: str | None, reply_days=None,
                       today: dt.date | None = None) -> dict:
        """``{"reply_days", "reply_deadline"}``: the classifier's reply days, else the
        taxonomy's for the department; both None when neither knows."""
        if reply_days is None and department:
            reply_days = (snap.taxonomy.get(department) or {}).get("reply_days")
        if reply_days is None:
            return {"reply_days": None, "reply_deadline": None}
        due = add_working_days(today or dt.date.today(), int(reply_days))
        return {"reply_days": int(reply_days), "reply_deadline": due.isoformat()}

    def departments(self, snap: Snapshot) -> dict:
        """Taxonomy departments and the KB's regions (computed once per snapshot)."""
        cached = self._regions.get(id(snap))
        if cached is None:
            regions = set()
            if snap.store is not None:
                regions = {e.region for e in snap.store.iter_entries("published") if e.region}
            cached = sorted(regions)
            self._regions = {id(snap): cached}
        return {"departments": [jsonable(d) for d in snap.taxonomy.values()], "regions": cached}


def _clear_embedder_cache() -> None:
    try:
        from index.embedders import clear_cache
    except ImportError:
        return
    clear_cache(stale_only=True)


def add_working_days(start: dt.date, days: int) -> dt.date:
    """Reply deadlines count working days (Monday–Friday); public holidays are
    not modelled."""
    d = start
    while days > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            days -= 1
    return d


# ---------------------------------------------------------------- responses
@functools.lru_cache(maxsize=None)
def _dataclass_fields(cls: type) -> tuple[str, ...] | None:
    # Per class, once: dataclasses.fields() rebuilt the tuple for every hit of every response.
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def jsonable(obj: Any) -> Any:
    """Plain JSON values from dataclasses, numpy scalars/arrays, tuples and dates."""
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    names = _dataclass_fields(type(obj))
    if names is not None:
        return {name: jsonable(getattr(obj, name)) for name in names}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if hasattr(obj, "_asdict"):  # NamedTuple
        return jsonable(obj._asdict())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (dt.date, dt.datetime)):
        return obj.isoformat()
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return jsonable(obj.tolist())
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    return str(obj)


def search_hits(snap: Snapshot, query: str, k: int, region: str | None = None,
                department: str | None = None, category: str | None = None,
                now: str | None = None) -> list[dict]:
    from index.search import SearchFilters

    snap.need("search")
    filters = SearchFilters(region=region, department=department, category=category, now=now)
    return [jsonable(h) for h in snap.search.search(query, k=k, filters=filters)]


def prediction_dict(engine: Engine, snap: Snapshot, p: Any) -> dict:
    evidence = jsonable(getattr(p, "evidence", None)) or {}
    similar = evidence.pop("similar_cases", None) or []
    department = getattr(p, "department", None)
    needs_review = bool(getattr(p, "needs_review", False))
    return {
        "type": {"label": p.type, "confidence": float(p.type_conf),
                 "probs": jsonable(getattr(p, "type_probs", {}) or {})},
        "department": {"label": department, "confidence": float(p.department_conf),
                       "top3": jsonable(getattr(p, "department_top3", []) or []),
                       "needs_review": needs_review},
        "needs_review": needs_review,
        "review_reasons": jsonable(getattr(p, "review_reasons", []) or []),
        **engine.reply_deadline(snap, department, getattr(p, "reply_days", None)),
        "evidence": evidence,
        "similar_cases": similar,
    }


def classify(engine: Engine, snap: Snapshot, texts: list[str]) -> list[dict]:
    snap.need("classifier")
    predictions = snap.classifier.predict(texts)
    return [prediction_dict(engine, snap, p) for p in predictions]


def analyze(engine: Engine, snap: Snapshot, text: str, region: str | None = None,
            channel: str | None = None, k: int = 5) -> dict:
    """The widget's one call: normalised text, classification, deadline, answers."""
    normalized = engine.validate_text(text)  # bad input is a 400 even when not ready
    snap.need("search", "classifier")
    engine.sync_index(snap)
    result = classify(engine, snap, [normalized])[0]
    answers = search_hits(snap, normalized, k, region=region)
    return {"text": normalized, "region": region, "channel": channel, **result,
            "answers": answers, "versions": dict(snap.versions)}
