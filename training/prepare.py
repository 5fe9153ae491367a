"""Build whatever a home is missing before it can serve: ``ensure_all(settings)``.

Order: demo KB (only with ``demo=True`` and an empty KB) → embedder artifacts →
search index → classifier models (demo training data). Each step calls the
owning area's library function and is skipped when its artifact is already
there, so running it on a complete home costs a few file checks.

``hotline serve`` runs this module in a child process (``python -m
training.prepare``) so the serving process never imports torch; the server
answers /healthz at once and /readyz turns 200 when the engine picks the new
artifacts up.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time

from foundation.artifacts import resolve_current
from foundation.errors import HotlineError

log = logging.getLogger("hotline.prepare")


def _step(name: str):
    log.info("prepare: %s ...", name)
    return time.perf_counter()


def _done(name: str, t0: float, **fields) -> None:
    log.info("prepare: %s done in %.1f s", name, time.perf_counter() - t0,
             extra={"step": name, **fields})


def ensure_kb(settings, demo: bool) -> int:
    import kb

    store = kb.open_store(settings, taxonomy=None)
    n = store.count()
    if n == 0 and demo:
        from kb.demo import build_demo

        t0 = _step("demo KB")
        build_demo(settings)
        store = kb.open_store(settings, taxonomy=None)
        n = store.count()
        _done("demo KB", t0, entries=n)
    elif n == 0:
        log.warning("prepare: the KB at %s is empty; import entries or run with --prepare "
                    "for the demo KB", store.location)
    return n


def ensure_index(settings) -> bool:
    current = resolve_current(settings.index_root)
    if current is not None and current.is_dir():
        return False
    import kb
    from index.embedders import get_embedder
    from index.search import build_index
    from training.embedders import ensure

    t0 = _step(f"embedder {settings.embedder}")
    ensure(settings.embedder, settings)
    _done(f"embedder {settings.embedder}", t0)
    t0 = _step("search index")
    build_index(kb.open_store(settings), get_embedder(settings.embedder, settings), settings)
    _done("search index", t0)
    return True


def ensure_models(settings) -> bool:
    current = resolve_current(settings.models_root)
    if current is not None and current.is_dir():
        return False
    if not (settings.demo_dir / "work_orders.csv").is_file():
        log.warning("prepare: no model and no training data (%s); classification stays "
                    "unavailable until `hotline train` publishes a model",
                    settings.demo_dir / "work_orders.csv")
        return False
    from training.train_classifier import train_demo

    t0 = _step("classifier models")
    train_demo(settings)
    _done("classifier models", t0)
    return True


@contextlib.contextmanager
def home_lock(settings):
    """One builder per home at a time: ``HOME/run/prepare.lock`` (flock). Several
    ``hotline serve`` over one home (replicas on two ports) each start this
    module; without the lock each trained its own model at once (measured: two
    ~2-minute trainings side by side on 2 cores, both published). The second
    waits, then finds the artifacts there and does nothing. flock holds between
    processes of one machine (and on NFS v4 / most cluster file systems)."""
    import fcntl

    path = settings.run_dir / "prepare.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("prepare: another process is building for this home; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_all(settings, demo: bool = False) -> dict:
    """Build what is missing; returns what was done. Steps that fail are logged
    and the later steps still run where they can. Holds :func:`home_lock`."""
    with home_lock(settings):
        return _ensure_all(settings, demo)


def _ensure_all(settings, demo: bool) -> dict:
    report: dict = {}
    for name, fn in (("kb", lambda: ensure_kb(settings, demo)),
                     ("index", lambda: ensure_index(settings)),
                     ("models", lambda: ensure_models(settings))):
        try:
            report[name] = fn()
        except ImportError as exc:
            log.error("prepare: cannot build %s: %s is not available", name, exc)
            report[name] = f"unavailable: {exc}"
        except HotlineError as exc:
            log.error("prepare: building %s failed: %s", name, exc)
            report[name] = f"failed: {exc}"
        if name == "kb" and not report[name]:
            break  # nothing to index or train on
    log.info("prepare: finished", extra={"report": {k: str(v) for k, v in report.items()}})
    return report


def main(argv: list[str] | None = None) -> int:
    from foundation.jsonlog import configure
    from foundation.settings import Settings

    p = argparse.ArgumentParser(prog="python -m training.prepare")
    p.add_argument("--home")
    p.add_argument("--demo", action="store_true", help="build the demo KB if the KB is empty")
    args = p.parse_args(argv)
    settings = Settings.load(overrides={"home": args.home})
    configure(settings.log_level)
    ensure_all(settings, demo=args.demo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
