"""Per-request phase timing: where a request's time goes.

A request (HTTP view, bench call) opens a record with :func:`begin`; code on
the request path wraps its steps in ``with phase("embed"):``; the record is
closed with :func:`end` and ends up in the ``Server-Timing`` response header
and the ``hotline_phase_seconds`` histogram (issue #21: a p99 far above the
p50 has to be located before it can be removed). Outside a request ``phase``
costs two attribute reads and records nothing. A context variable, not a
global: gthread workers serve requests on several threads at once.
"""
from __future__ import annotations

import time
from contextvars import ContextVar

_record: ContextVar[dict | None] = ContextVar("hotline_phases", default=None)


def begin() -> dict:
    """Start recording this request's phases; returns the (live) record."""
    record: dict = {}
    _record.set(record)
    return record


def end() -> dict:
    """Stop recording; the phases as ``{name: seconds}`` in first-seen order."""
    record = _record.get()
    _record.set(None)
    return record or {}


def add(name: str, seconds: float) -> None:
    record = _record.get()
    if record is not None:
        record[name] = record.get(name, 0.0) + seconds


class phase:
    """``with phase(name):`` times the block as ``name`` (summed when a phase runs
    more than once). A class, not a generator-based context manager: a request
    enters ~30 phases, and a plain ``__enter__``/``__exit__`` costs a fraction."""

    __slots__ = ("name", "record", "t0")

    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> None:
        self.record = record = _record.get()
        if record is not None:
            self.t0 = time.perf_counter()

    def __exit__(self, *exc) -> None:
        record = self.record
        if record is not None:
            record[self.name] = record.get(self.name, 0.0) + time.perf_counter() - self.t0


def server_timing(phases: dict, total: float | None = None) -> str:
    """The W3C ``Server-Timing`` header value (milliseconds)."""
    parts = [f"{name};dur={seconds * 1000:.3f}" for name, seconds in phases.items()]
    if total is not None:
        parts.append(f"total;dur={total * 1000:.3f}")
    return ", ".join(parts)
