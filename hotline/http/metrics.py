"""Prometheus text exposition (format 0.0.4) without a client library.

Request counts per (endpoint, method, status) and latency histograms per
endpoint are kept in the worker process; gauges (model versions, index size,
readiness) are read from the engine at scrape time. Each gunicorn worker answers
for itself and labels its series with ``pid`` so a scraper can sum them.
"""
from __future__ import annotations

import bisect
import os
import threading
from typing import Callable, Iterable

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Phases of one request (foundation.timing) run from microseconds to a stall.
PHASE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, object]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _num(x: float) -> str:
    if x == float("inf"):
        return "+Inf"
    return repr(float(x)) if isinstance(x, float) else str(x)


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = {}
        # endpoint -> [bucket counts..., +Inf count], sum
        self._latency: dict[str, tuple[list[int], list[float]]] = {}
        # (endpoint, phase) -> [bucket counts..., +Inf count], sum
        self._phases: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
        self._gauges: list[Callable[[], Iterable[tuple[str, str, dict, float]]]] = []

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        i = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            key = (endpoint, method, int(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            counts, total = self._latency.setdefault(endpoint, ([0] * (len(BUCKETS) + 1), [0.0]))
            counts[i] += 1
            total[0] += seconds

    def observe_phases(self, endpoint: str, phases: dict) -> None:
        """One request's ``{phase: seconds}`` (foundation.timing)."""
        with self._lock:
            for name, seconds in phases.items():
                counts, total = self._phases.setdefault(
                    (endpoint, name), ([0] * (len(PHASE_BUCKETS) + 1), [0.0]))
                counts[bisect.bisect_left(PHASE_BUCKETS, seconds)] += 1
                total[0] += seconds

    def add_gauges(self, source: Callable[[], Iterable[tuple[str, str, dict, float]]]) -> None:
        """``source()`` yields (name, help, labels, value) at scrape time."""
        self._gauges.append(source)

    def render(self) -> str:
        pid = str(os.getpid())
        out: list[str] = []
        with self._lock:
            requests = dict(self._requests)
            latency = {k: (list(c), t[0]) for k, (c, t) in self._latency.items()}
            phases = {k: (list(c), t[0]) for k, (c, t) in self._phases.items()}
        out += ["# HELP hotline_http_requests_total HTTP requests by endpoint, method and status.",
                "# TYPE hotline_http_requests_total counter"]
        for (endpoint, method, status), n in sorted(requests.items()):
            lbl = _labels([("endpoint", endpoint), ("method", method), ("status", status), ("pid", pid)])
            out.append(f"hotline_http_requests_total{lbl} {n}")
        out += ["# HELP hotline_http_request_duration_seconds Request latency by endpoint.",
                "# TYPE hotline_http_request_duration_seconds histogram"]
        for endpoint, (counts, total) in sorted(latency.items()):
            running = 0
            for bound, c in zip(list(BUCKETS) + [float("inf")], counts):
                running += c
                lbl = _labels([("endpoint", endpoint), ("pid", pid), ("le", _num(bound))])
                out.append(f"hotline_http_request_duration_seconds_bucket{lbl} {running}")
            lbl = _labels([("endpoint", endpoint), ("pid", pid)])
            out.append(f"hotline_http_request_duration_seconds_sum{lbl} {total!r}")
            out.append(f"hotline_http_request_duration_seconds_count{lbl} {running}")
        out += ["# HELP hotline_phase_seconds Time per request phase (Server-Timing) by endpoint.",
                "# TYPE hotline_phase_seconds histogram"]
        for (endpoint, name), (counts, total) in sorted(phases.items()):
            base = [("endpoint", endpoint), ("phase", name), ("pid", pid)]
            running = 0
            for bound, c in zip(list(PHASE_BUCKETS) + [float("inf")], counts):
                running += c
                out.append(f"hotline_phase_seconds_bucket{_labels(base + [('le', _num(bound))])} "
                           f"{running}")
            out.append(f"hotline_phase_seconds_sum{_labels(base)} {total!r}")
            out.append(f"hotline_phase_seconds_count{_labels(base)} {running}")
        seen: set[str] = set()
        for source in self._gauges:
            for name, help_, labels, value in source():
                if name not in seen:
                    seen.add(name)
                    out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
                out.append(f"{name}{_labels(list(labels.items()) + [('pid', pid)])} {_num(value)}")
        return "\n".join(out) + "\n"


def engine_gauges(engine, feedback):
    """Gauges of the engine's current snapshot (``Metrics.add_gauges``)."""
    snap = engine._snapshot  # no retry from a scrape
    yield ("hotline_ready", "1 when KB, index and classifier are loaded.", {},
           1.0 if snap.ready else 0.0)
    for name, version in sorted(snap.versions.items()):
        yield ("hotline_component_info", "Loaded component versions.",
               {"component": name, "version": engine.public(version)}, 1.0)
    yield ("hotline_reloads_total", "Reloads since start.", {}, float(engine.reloads))
    if snap.search is not None and hasattr(snap.search, "status"):
        status = snap.search.status()
        yield ("hotline_index_entries", "Entries in the loaded search index.", {},
               float(status["entries"]))
        yield ("hotline_index_rows", "Rows (questions + similar questions) in the index.", {},
               float(status["rows"]))
    if snap.store is not None:
        try:
            yield ("hotline_kb_entries", "Entries in the KB.", {}, float(snap.store.count()))
        except Exception:  # a scrape must not fail because the KB is busy
            pass
