"""Prediction backends for batch reclassification, behind one interface.

An engine turns ``(payload, texts)`` chunks into ``(payload, predictions)`` in
input order; everything else (reading, chunking, the errors file, the change
report, checkpoints, the writer) stays in :mod:`hotline.batch.runner`, so every
engine writes the same bytes. Backends load lazily: ``ray`` is an optional extra.
"""
from __future__ import annotations

import importlib
from typing import Any, Iterable, Iterator, Protocol

from foundation.errors import InvalidInput
from hotline.batch.predict import ModelSpec


class Engine(Protocol):
    def info(self) -> dict:
        """The model's labels and identity (``Predictor.info``)."""

    def map(self, items: Iterable[tuple[Any, list[str]]]) -> Iterator[tuple[Any, list]]:
        """Predictions per chunk, in input order. ``items`` may be iterated more
        than once (an engine that needs every text up front reads it twice)."""

    def close(self) -> None: ...


# name -> "module:factory"; a factory takes (spec, workers, address).
ENGINES = {
    "local": "hotline.batch.engines.local:LocalEngine",
    "ray": "hotline.batch.engines.ray_data:RayEngine",
}


def make_engine(name: str, spec: ModelSpec, workers: int, address: str | None = None) -> Engine:
    if name not in ENGINES:
        raise InvalidInput(f"unknown engine {name!r}; expected one of {sorted(ENGINES)}")
    if address and name != "ray":
        raise InvalidInput(f"--ray-address {address!r} needs --engine ray (got {name!r})")
    module, cls = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), cls)(spec, workers, address)
