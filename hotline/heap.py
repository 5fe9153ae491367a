"""Loading big objects in a serving process without stalling its requests.

Loading the 23k-entry index allocates a few hundred thousand objects, which
triggers full collections in the middle of the load: each scanned the whole
heap while holding the GIL (85–135 ms, two or three per reload), stalling the
worker's other requests. Inside ``quiet_load()`` no cyclic collection runs; on
leaving it everything alive is frozen (``gc.freeze``) so later collections scan
only what requests allocate (a full collection of a loaded server: 65 ms ->
a few ms). Frozen objects are still freed by reference counting when the old
index is dropped; only cyclic garbage frozen with them stays (measured: ~130
objects per reload).

The load is mostly Python code holding the GIL; the serving threads of the same
worker then wait up to the switch interval (5 ms) for each turn. During a load
the interval is 0.5 ms, so a request waits a tenth as long per turn.
"""
from __future__ import annotations

import contextlib
import gc
import sys
import threading

LOAD_SWITCH_INTERVAL = 0.0005

_lock = threading.Lock()
_depth = 0
_was_enabled = True
_interval = 0.005


class _Load:
    freeze = True    # set False when nothing was loaded: no reason to freeze the heap


@contextlib.contextmanager
def quiet_load():
    """Yields an object whose ``freeze`` the caller may set to False (a retry
    that loaded nothing): freezing then would only pin request garbage."""
    global _depth, _was_enabled, _interval
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
            _interval = sys.getswitchinterval()
            sys.setswitchinterval(min(_interval, LOAD_SWITCH_INTERVAL))
        _depth += 1
    load = _Load()
    try:
        yield load
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and load.freeze:
                gc.freeze()
            if _depth == 0:
                if _was_enabled:
                    gc.enable()
                sys.setswitchinterval(_interval)
