"""Prometheus metrics with ``prometheus_client``.

Request counts per (endpoint, method, status), latency histograms per endpoint
and ``hotline_phase_seconds`` per request phase (foundation.timing) are kept by
the client library; gauges of the engine (model versions, index size,
readiness) are read from the engine at scrape time by a custom collector.

**Several gunicorn workers.** ``hotline serve --production`` sets
``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory per server, hotline.cli.serve)
before any worker starts: counters and histograms then live in memory-mapped
files there, one set per worker, and a scrape of any worker returns the sum over
all of them (the dead ones included: a request counted stays counted); the
arbiter's ``child_exit`` hook calls :func:`mark_process_dead`. The engine gauges
come from the worker that answers (all workers follow the same home), and
``hotline_workers`` is the number of live workers. Without the variable (the
Flask test client, ``python server.py``, the development server) everything
stays in this process.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
                               values)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import disable_created_metrics
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.multiprocess import mark_process_dead as _mark_dead

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Phases of one request (foundation.timing) run from microseconds to a stall.
PHASE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# `*_created` series would double the exposition for nothing a dashboard uses
# (and multiprocess mode has none, so both modes print the same series).
disable_created_metrics()


def multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def mark_process_dead(pid: int) -> None:
    """In the arbiter once a worker has exited: drop its live gauges
    (``hotline_workers``); its counters and histograms stay summed."""
    if multiproc_dir():
        _mark_dead(pid)


class _EngineCollector:
    """Calls the gauge sources at scrape time (``Metrics.add_gauges``)."""

    def __init__(self):
        self.sources: list[Callable[[], Iterable[tuple[str, str, dict, float]]]] = []

    def collect(self):
        families: dict[str, GaugeMetricFamily] = {}
        for source in self.sources:
            for name, help_, labels, value in source():
                family = families.get(name)
                if family is None:
                    family = families[name] = GaugeMetricFamily(name, help_,
                                                                labels=list(labels))
                family.add_metric([str(v) for v in labels.values()], float(value))
        return list(families.values())


class Metrics:
    def __init__(self):
        self.multiprocess = multiproc_dir() is not None
        if self.multiprocess and values.ValueClass is values.MutexValue:
            # prometheus_client picks its value class when first imported; a
            # process that imported it before the variable was set would keep
            # the counts to itself.
            values.ValueClass = values.get_value_class()
        # Own registries, not the library's global one: a process may build
        # several apps (tests, embedding hosts), each with its own series.
        self._own = CollectorRegistry(auto_describe=True)
        reg = self._own
        self._requests = Counter("hotline_http_requests", "HTTP requests by endpoint, method and status.",
                                 ["endpoint", "method", "status"], registry=reg)
        self._latency = Histogram("hotline_http_request_duration_seconds",
                                  "Request latency by endpoint.", ["endpoint"], buckets=BUCKETS,
                                  registry=reg)
        self._phases = Histogram("hotline_phase_seconds",
                                 "Time per request phase (Server-Timing) by endpoint.",
                                 ["endpoint", "phase"], buckets=PHASE_BUCKETS, registry=reg)
        workers = Gauge("hotline_workers", "Worker processes serving (live ones).",
                        registry=reg, multiprocess_mode="livesum")
        workers.set(1)
        self._children: dict = {}
        self._gauges = _EngineCollector()
        if self.multiprocess:
            # The scrape reads every worker's files; this process's own objects
            # are only writers.
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry)
        else:
            self.registry = reg
        self.registry.register(self._gauges)

    def _child(self, metric, *labels):
        # ``labels()`` checks and locks on every call (a third of the time per
        # request); the children are kept per label set instead.
        child = self._children.get((metric, labels))
        if child is None:
            child = self._children[(metric, labels)] = metric.labels(*labels)
        return child

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self._child(self._requests, endpoint, method, str(int(status))).inc()
        self._child(self._latency, endpoint).observe(seconds)

    def observe_phases(self, endpoint: str, phases: dict) -> None:
        """One request's ``{phase: seconds}`` (foundation.timing)."""
        for name, seconds in phases.items():
            self._child(self._phases, endpoint, name).observe(seconds)

    def add_gauges(self, source: Callable[[], Iterable[tuple[str, str, dict, float]]]) -> None:
        """``source()`` yields (name, help, labels, value) at scrape time."""
        self._gauges.sources.append(source)

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")


def engine_gauges(engine, feedback):
    """Gauges of the engine's current snapshot (``Metrics.add_gauges``)."""
    snap = engine._snapshot  # no retry from a scrape
    yield ("hotline_ready", "1 when KB, index and classifier are loaded.", {},
           1.0 if snap.ready else 0.0)
    for name, version in sorted(snap.versions.items()):
        yield ("hotline_component_info", "Loaded component versions.",
               {"component": name, "version": engine.public(version)}, 1.0)
    yield ("hotline_reloads_total", "Reloads since start (of the worker that answers).", {},
           float(engine.reloads))
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
