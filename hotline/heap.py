"""Keeping Python's cyclic garbage collector out of the serving path.

Loading the 23k-entry index allocates a few hundred thousand objects, which
triggers full collections in the middle of the load: each scanned the whole
heap while holding the GIL (85–135 ms, two or three per reload), stalling the
worker's other requests. Inside ``quiet_gc()`` no cyclic collection runs; on
leaving it everything alive is frozen (``gc.freeze``) so later collections scan
only what requests allocate (a full collection of a loaded server: 65 ms ->
a few ms). Frozen objects are still freed by reference counting when the old
index is dropped; only cyclic garbage frozen with them stays (measured: ~130
objects per reload).
"""
from __future__ import annotations

import contextlib
import gc
import threading

_lock = threading.Lock()
_depth = 0
_was_enabled = True


@contextlib.contextmanager
def quiet_gc():
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.freeze()
                if _was_enabled:
                    gc.enable()
