"""Ordered parallel prediction over chunks with a bounded number in flight.

Workers are forked before the parent touches onnxruntime or starts a progress
bar thread, and each loads the model once in its initializer; the parent only
reads, writes and keeps counts. Results come back in submission order, so the
output order equals the input order whatever the worker count.
"""
from __future__ import annotations

import collections
import os
import sys
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Iterable, Iterator

from hotline.batch.errors import BatchError
from hotline.batch.predict import (ModelSpec, init_worker, load_predictor, worker_info,
                                      worker_predict)


class InProcess:
    """``--workers 1``: no processes, no pickling."""

    def __init__(self, spec: ModelSpec):
        self._p = load_predictor(spec)

    def info(self) -> dict:
        return self._p.info()

    def map(self, items: Iterable[tuple[Any, list[str]]]) -> Iterator[tuple[Any, list]]:
        for payload, texts in items:
            yield payload, self._p.predict(texts)

    def close(self) -> None:
        pass


def start_method() -> str:
    """``fork`` (a worker starts in milliseconds with the parent's imports)
    unless this process already holds a loaded model, e.g. a library caller
    that classified before: a forked copy of an onnxruntime session has no
    threads behind it and can hang, so then workers start from a clean
    ``forkserver`` process instead."""
    embedders = sys.modules.get("index.embedders")
    if embedders is not None and getattr(embedders, "_cache", None):
        return "forkserver"
    return "fork" if "fork" in mp.get_all_start_methods() else "spawn"


class WorkerPool:
    def __init__(self, spec: ModelSpec, workers: int, window: int | None = None):
        self.start_method = start_method()
        self._ex = ProcessPoolExecutor(workers, mp_context=mp.get_context(self.start_method),
                                       initializer=init_worker, initargs=(spec,))
        self.window = window or 2 * workers + 2
        # Start every worker now so model loading overlaps the parent's set-up.
        self._warm = [self._ex.submit(worker_info) for _ in range(workers)]

    def info(self) -> dict:
        try:
            return self._warm[0].result()
        except BrokenProcessPool as exc:
            raise BatchError(f"a worker process died while loading the model: {exc}") from None

    def map(self, items: Iterable[tuple[Any, list[str]]]) -> Iterator[tuple[Any, list]]:
        pending: collections.deque = collections.deque()
        try:
            for payload, texts in items:
                pending.append((payload, self._ex.submit(worker_predict, texts)))
                if len(pending) >= self.window:
                    payload0, fut = pending.popleft()
                    yield payload0, fut.result()
            while pending:
                payload0, fut = pending.popleft()
                yield payload0, fut.result()
        except BrokenProcessPool as exc:
            raise BatchError(f"a worker process died (out of memory or killed?): {exc}; "
                             f"finished rows are kept, continue with --resume") from None
        finally:
            for _, fut in pending:
                fut.cancel()

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)


def make_pool(spec: ModelSpec, workers: int):
    return InProcess(spec) if workers <= 1 else WorkerPool(spec, workers)
