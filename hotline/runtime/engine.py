"""The engine: the current :class:`Snapshot`, loaded once and kept current.

One mechanism follows everything that can change under a running server
(:meth:`Engine.follow_once`, run by one background thread per process every
``follow_seconds``):

* components still missing (``hotline serve --prepare`` building them) are
  loaded as soon as they appear, so every worker is ready when the build is;
* components whose artifact moved (a new index or model published, an
  embedder re-exported, the taxonomy edited, the KB file replaced) are loaded
  beside the serving ones, paced, and swapped in with one assignment;
* KB changes made by anyone (another worker, another replica, a CLI import)
  are applied to the loaded index from the KB change log. The log is polled
  more often (every ``SYNC_SECONDS``, one ``seq > n`` range read) than the
  artifacts are probed, so a write through one replica is searchable on the
  others well within a second.

Requests never do this work: they read ``engine.snapshot`` and go on. A write
through this process applies its own change at once (:meth:`sync_index`), so
the writer reads what it wrote. ``POST /v1/admin/reload`` runs the same
reload synchronously.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from pathlib import Path

from foundation.errors import HotlineError
from dispatch import Dispatch
from foundation.gcpacing import quiet_load
from hotline.runtime.components import LOADERS, PROBES
from hotline.runtime.snapshot import ATTRIBUTE, COMPONENTS, Snapshot
from index.text import Normalizer

log = logging.getLogger(__name__)
# How often the follower reads the KB change log between full follow steps.
SYNC_SECONDS = 0.25


class Engine:
    def __init__(self, settings, follow_seconds: float = 1.0):
        """``follow_seconds``: how often the follower thread looks for changes;
        0 starts no thread (tests then call :meth:`follow_once` themselves)."""
        self.settings = settings
        self.follow_seconds = follow_seconds
        self.reloads = 0
        self._normalizer = Normalizer(max_chars=settings.max_text_chars)
        # Rules are validated here, so bad [dispatch] settings stop the start.
        self._dispatch = Dispatch.from_settings(settings)
        self._public = _path_redactor({"HOME": settings.home, "SHARED_DATA": settings.shared_data})
        self._probed: dict[str, str | None] = {}
        self._lock = threading.Lock()        # one load or swap of the snapshot at a time
        self._sync_lock = threading.Lock()   # one change-log catch-up at a time
        self._snapshot = self._load(Snapshot(normalizer=self._normalizer,
                                             dispatch=self._dispatch), COMPONENTS,
                                    paced=False)
        self._start_follower()

    @property
    def snapshot(self) -> Snapshot:
        """The current snapshot. While something is missing, a request also tries
        to load it (without waiting for a load in progress): it would fail anyway."""
        snap = self._snapshot
        if snap.problems and self._lock.acquire(blocking=False):
            try:
                self._fill_missing()
            finally:
                self._lock.release()
            snap = self._snapshot
        return snap

    # ---------------------------------------------------------------- following
    def _start_follower(self) -> None:
        if self.follow_seconds <= 0:
            return
        ref, interval = weakref.ref(self), self.follow_seconds
        tick = min(interval, SYNC_SECONDS)

        def follow():
            next_full = time.monotonic() + interval
            while True:
                time.sleep(tick)
                engine = ref()           # gone with its app: stop
                if engine is None:
                    return
                try:
                    if time.monotonic() >= next_full:
                        next_full = time.monotonic() + interval
                        engine.follow_once()
                    else:
                        engine.sync_index()
                except Exception:        # the follower must outlive one bad step
                    log.exception("following artifacts and the KB failed")
                del engine

        threading.Thread(target=follow, name="engine-follow", daemon=True).start()

    def follow_once(self) -> dict:
        """Load what is missing, reload what moved, catch the index up with the
        KB; returns what was done."""
        done: dict = {"loaded": [], "reloaded": [], "sync": None}
        with self._lock:
            if self._snapshot.problems:
                done["loaded"] = self._fill_missing()
            changed = self._moved()
            if changed:
                self._swap(changed, paced=True)
                done["reloaded"] = changed
        done["sync"] = self.sync_index()
        return done

    def _moved(self) -> list[str]:
        snap = self._snapshot
        return [n for n in COMPONENTS if n not in snap.problems and self._probe(n) != self._probed.get(n)]

    def _fill_missing(self) -> list[str]:
        # Not paced: nothing is served without these, so readiness comes first.
        missing = list(self._snapshot.problems)
        self._snapshot = self._load(self._snapshot, missing, paced=False)
        return [n for n in missing if n not in self._snapshot.problems]

    def _swap(self, names, paced: bool) -> Snapshot:
        old = self._snapshot
        if "search" in names:
            _clear_stale_embedders()   # a re-exported embedder is loaded anew
        new = self._load(old, names, paced=paced)
        self._snapshot = new
        self.reloads += 1
        changed = sorted(k for k in COMPONENTS if new.versions.get(k) != old.versions.get(k))
        log.info("engine reloaded", extra={"versions": dict(new.versions), "changed": changed,
                                           "reloaded": list(names)})
        return new

    def reload(self, paced: bool = True) -> dict:
        """``POST /v1/admin/reload``: load the components whose artifacts changed
        (or that are missing or failed) now. ``paced``: beside requests this
        process serves meanwhile (foundation.gcpacing); a process that serves one
        request at a time (gunicorn's sync worker) serves nothing until this
        returns, so pacing would only keep it from serving longer (an index
        reload: 1.6 s paced, 0.55 s not)."""
        with self._lock:
            old = self._snapshot
            names = [n for n in COMPONENTS if n in old.problems or n in old.warnings
                     or self._probe(n) != self._probed.get(n)]
            new = self._swap(names, paced=paced)
        changed = sorted(k for k in COMPONENTS if new.versions.get(k) != old.versions.get(k))
        return {"changed": changed, "reloaded": names, **self.describe(new)}

    # ---------------------------------------------------------------- loading
    def _load(self, base: Snapshot, names, paced: bool) -> Snapshot:
        # Paced when requests are being served beside it (foundation.gcpacing).
        with quiet_load(paced=paced) as load:
            snap = self._load_components(base, names)
            # Freeze only after something new was loaded (not after a retry that failed).
            load.freeze = any(snap.component(n) is not base.component(n) for n in names)
            return snap

    def _load_components(self, base: Snapshot, names) -> Snapshot:
        values = {a: getattr(base, a) for a in ATTRIBUTE.values()}
        versions, problems = dict(base.versions), dict(base.problems)
        warnings = {k: v for k, v in base.warnings.items() if k not in names}
        for name in names:
            attr = ATTRIBUTE[name]
            try:
                stamp = self._probe(name)   # before loading: a publish meanwhile is seen next time
                obj, version = LOADERS[name](self.settings)
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
            # Remember the failed artifact: the follower retries when it moves again.
            self._probed[name] = stamp
            if values[attr] is None:
                problems[name] = message
            else:  # a failed reload keeps serving the previous object
                warnings[name] = f"reload failed, still serving {versions.get(name)}: {message}"
        if (problems or warnings) and (problems, warnings) != (dict(base.problems),
                                                               dict(base.warnings)):
            log.warning("engine components not loaded", extra={"problems": problems,
                                                               "warnings": warnings})
        warm = tuple(n for n in base.warm if n not in names)
        snap = Snapshot(**values, normalizer=self._normalizer, dispatch=self._dispatch,
                        versions=versions,
                        problems=problems, warnings=warnings, warm=warm)
        return _warmed(snap)

    def _probe(self, name: str) -> str | None:
        try:
            return PROBES[name](self.settings)
        except Exception:  # an unreadable pointer: let the loader say what is wrong
            return None

    # ---------------------------------------------------------------- KB changes
    def sync_index(self, wait: bool = False) -> dict | None:
        """Apply KB changes since the loaded index's position. ``wait``: after a
        write in this process, wait for a catch-up in progress rather than skip
        (the writer must read its own write)."""
        snap = self._snapshot
        if snap.search is None or snap.store is None:
            return None
        if not self._sync_lock.acquire(blocking=wait):
            return None  # a catch-up is running; it will include these changes
        try:
            return snap.search.sync(snap.store)
        except HotlineError as exc:
            log.warning("index sync failed; serving the loaded index: %s", exc)
            return None
        finally:
            self._sync_lock.release()

    # ---------------------------------------------------------------- status
    def public(self, text: str | None) -> str | None:
        """``text`` as it may be shown over HTTP: the home directory (absolute,
        resolved or relative, as configured) written ``HOME``, the shared data
        directory ``SHARED_DATA``. Logs keep the real paths; /readyz is public."""
        return None if text is None else self._public(str(text))

    def describe(self, snap: Snapshot | None = None) -> dict:
        """What /readyz, /v1/models and reload show: components by name, their
        versions and problems, with no path of this machine (:meth:`public`)."""
        snap = snap or self._snapshot
        return {
            "ready": snap.ready,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(snap.loaded_at)),
            "components": {
                name: {"loaded": name not in snap.problems and name in snap.versions,
                       "version": self.public(snap.versions.get(name)),
                       "problem": self.public(snap.problems.get(name) or snap.warnings.get(name))}
                for name in COMPONENTS
            },
        }


def _path_redactor(places: dict):
    """A function that writes each directory in ``places`` (label -> path) as its
    label wherever it stands as a path: ``/srv/x/var/index`` reads ``HOME/index``.
    An absolute form may end the path (``HOME``); a relative one (``var``, as
    configured) is replaced only before a separator, so the word ``var`` stays."""
    forms = {}
    for label, path in places.items():
        if path is None:
            continue
        path = Path(path)
        for form in (str(path), os.path.abspath(path), str(path.resolve())):
            if form not in (".", "", os.sep) and form not in forms:
                forms[form] = label
    if not forms:
        return lambda text: text
    # Longest first: a home inside the shared data (or the reverse) keeps its own label.
    alternatives = [re.escape(f) + (r"(?=[/\\]|$|[^\w.\-])" if os.path.isabs(f) else r"(?=/)")
                    for f in sorted(forms, key=len, reverse=True)]
    pattern = re.compile(r"(?<![\w.\-/])(?:\./)?(" + "|".join(alternatives) + ")")
    return lambda text: pattern.sub(lambda m: forms[m.group(1)], text)


# One request's worth of work, so the first real request of a new worker (or
# after a reload) finds jieba's dictionary, the ONNX sessions, the cue patterns
# and the index's caches ready instead of paying for them while others queue.
WARM_TEXT = "我家楼下的路灯坏了三天了\n请问找哪个部门维修，社保卡丢了怎么补办"


def _warmed(snap: Snapshot) -> Snapshot:
    import dataclasses

    todo = [n for n in ("search", "classifier") if snap.component(n) is not None
            and n not in snap.warm]
    warmed = []
    for name in todo:
        try:
            if name == "search":
                snap.search.search(WARM_TEXT.replace("\n", " "), k=3)
            else:
                snap.classifier.predict([WARM_TEXT])
                # The lead/co issue scorer fits its router on first use (0.1-0.3 s):
                # here, not in the first multi-issue request after a (re)load.
                issue_scores = getattr(snap.classifier, "department_scores", None)
                if issue_scores is not None:
                    issue_scores(WARM_TEXT.split("\n"))
        except Exception:  # a component that cannot answer is reported by its requests
            log.exception("warming %s failed", name)
        else:
            warmed.append(name)
    out = dataclasses.replace(snap, warm=snap.warm + tuple(warmed)) if warmed else snap
    if out.taxonomy:
        # The lead/co rules' department words: built and compiled on the snapshot that
        # serves (its cached properties), not in each worker's first request (~18 ms).
        from dispatch.codepts import prepare_words

        prepare_words(out.mentions)
        prepare_words(out.department_keywords)
    return out


def _clear_stale_embedders() -> None:
    try:
        from index.embedders import clear_cache
    except ImportError:
        return
    clear_cache(stale_only=True)
