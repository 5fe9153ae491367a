"""Loading big objects in a serving process without stalling its requests.

Loading the 23k-entry index allocates a few hundred thousand objects, which
triggers full collections in the middle of the load: each scanned the whole
heap while holding the GIL (85–135 ms, two or three per reload), stalling the
worker's other requests. Inside ``quiet_load()`` no cyclic collection runs; on
leaving it everything alive is frozen (``gc.freeze``) so later collections scan
only what requests allocate (a full collection of a loaded server: 65 ms ->
a few ms). Frozen objects are still freed by reference counting when the old
index is dropped. Cyclic garbage of requests served during the load is
collected (generation 0 only) just before the freeze, so it is not kept.

The load is mostly Python code holding the GIL; the serving threads of the same
worker then wait up to the switch interval (5 ms) for each turn. During a load
the interval is 0.5 ms, so a request waits a tenth as long per turn.

A reload while serving is *paced*: between its steps (``pace()``) the loading
thread sleeps so that it uses at most ``LOAD_DUTY`` of a core. On 2 saturated
cores an unpaced index load (~0.4 s of CPU in each worker at once) halved the
capacity for about a second and queued every request behind it; paced, it
takes a few times longer and costs each request a fraction of that.
"""
from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time

LOAD_SWITCH_INTERVAL = 0.0005
LOAD_DUTY = 0.3          # share of a core a paced load may use between its steps
MAX_PAUSE = 1.0          # seconds; one long step must not stall the load for long

_lock = threading.Lock()
_depth = 0
_was_enabled = True
_interval = 0.005
_pacing = threading.local()   # CPU time of this thread at its last pace(), inside a paced load
_cpu_time, _sleep = time.thread_time, time.sleep


class _Load:
    freeze = True    # set False when nothing was loaded: no reason to freeze the heap


@contextlib.contextmanager
def quiet_load(paced: bool = False):
    """Yields an object whose ``freeze`` the caller may set to False (a retry
    that loaded nothing): freezing then would only pin request garbage.
    ``paced``: a load beside serving requests; ``pace()`` then sleeps."""
    global _depth, _was_enabled, _interval
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
            _interval = sys.getswitchinterval()
            sys.setswitchinterval(min(_interval, LOAD_SWITCH_INTERVAL))
        _depth += 1
    load = _Load()
    outer = getattr(_pacing, "mark", None)
    if paced and outer is None:
        _pacing.mark = _cpu_time()
    try:
        yield load
    finally:
        _pacing.mark = outer
        with _lock:
            _depth -= 1
            if _depth == 0 and load.freeze:
                # Everything allocated during the load is still in generation 0,
                # including the cyclic garbage of requests served meanwhile: collect
                # that first (~6 ms after an index load), or the freeze would keep it.
                gc.collect(0)
                gc.freeze()
            if _depth == 0:
                if _was_enabled:
                    gc.enable()
                sys.setswitchinterval(_interval)


def pace() -> None:
    """Called between the steps of a load: inside a paced load, sleep so this
    thread has used at most ``LOAD_DUTY`` of a core since the last call."""
    mark = getattr(_pacing, "mark", None)
    if mark is None:
        return
    worked = _cpu_time() - mark
    _sleep(min(worked * (1 / LOAD_DUTY - 1), MAX_PAUSE))
    _pacing.mark = _cpu_time()
