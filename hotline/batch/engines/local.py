"""The local engine: worker processes on this machine (:mod:`hotline.batch.pool`)."""
from __future__ import annotations

from hotline.batch.pool import make_pool
from hotline.batch.predict import ModelSpec


def LocalEngine(spec: ModelSpec, workers: int, address: str | None = None):  # noqa: N802
    # (a factory, named like the other backends' classes for the ENGINES table)
    return make_pool(spec, workers)
