"""The Ray engine: prediction on Ray Data, locally or on a cluster.

Ray Data builds a dataset from object references, so this engine reads the
chunks twice: the first pass puts each chunk's texts into the object store (the
driver keeps only references; Ray spills to disk past its memory), the second
pass walks the same chunks again and pairs each payload with its predictions,
which stream back in input order (``preserve_order``) while later chunks are
still running. One ``map_batches`` actor per worker loads the model once; a
batch is one block is one chunk, so the model sees exactly the texts the local
engine gives it and the output is the same, byte for byte.
"""
from __future__ import annotations

import dataclasses
import logging
import pickle
import socket
from typing import Any, Iterable, Iterator

from foundation.errors import InvalidInput
from hotline.batch.errors import BatchError
from hotline.batch.predict import ModelSpec, load_predictor

MISSING_EXTRA = "engine 'ray' needs the ray extra: pip install .[ray]"
CONNECT_TIMEOUT_S = 5.0


def import_ray():
    try:
        import pyarrow  # noqa: F401  (ray[data] brings it)
        import ray
        import ray.data
    except ImportError as exc:
        raise BatchError(f"{MISSING_EXTRA} ({exc})") from None
    return ray


class ChunkPredictor:
    """The ``map_batches`` callable class: one per actor, model loaded once."""

    def __init__(self, spec: ModelSpec):
        self._p = load_predictor(spec)

    def __call__(self, batch):
        import pyarrow as pa

        chunk = batch.column("chunk").to_pylist()
        texts = batch.column("text").to_pylist()
        preds: list = []
        start = 0
        # Normally one chunk per batch; split by chunk anyway so a merged block
        # never changes what the model sees in one call.
        while start < len(chunk):
            end = start
            while end < len(chunk) and chunk[end] == chunk[start]:
                end += 1
            preds += self._p.predict(texts[start:end])
            start = end
        # Pickled like the local pool's results, so types come back unchanged.
        return pa.table({"chunk": pa.array(chunk, pa.int64()),
                         "pred": pa.array([pickle.dumps(p) for p in preds], pa.binary())})


def _model_info(spec: ModelSpec) -> dict:
    return load_predictor(spec).info()


def check_address(address: str) -> None:
    """Fail in seconds, not after Ray's long retries, on an address nobody answers."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidInput(f"--ray-address {address!r}: expected HOST:PORT of the head node "
                           "(e.g. 10.0.0.5:6379), ray://HOST:10001 or 'auto'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise BatchError(f"cannot reach the Ray cluster at {address!r} ({exc}); expected a "
                         "running head node (`ray start --head`) at that HOST:PORT") from None


class RayEngine:
    def __init__(self, spec: ModelSpec, workers: int, address: str | None = None):
        ray = self._ray = import_ray()
        # One intra-op thread per actor: each actor holds one CPU of the cluster.
        self.spec = dataclasses.replace(spec, threads=1)
        self.workers = max(1, workers)
        self.address = address
        self._owned = False
        # A library caller that already joined a cluster keeps its session
        # (and its address); we only start or join one when there is none.
        if not ray.is_initialized():
            quiet = dict(log_to_driver=False, logging_level=logging.WARNING)
            try:
                if address:
                    check_address(address)
                    ray.init(address=address, **quiet)
                else:
                    ray.init(num_cpus=self.workers, include_dashboard=False, **quiet)
            except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
                raise BatchError(f"could not start or join Ray (address {address or 'local'!r}): "
                                 f"{exc}") from None
            self._owned = True
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False  # the CLI has its own bar
        ctx.print_on_execution_start = False
        # Ray Data's per-run INFO lines ("execution finished") and the note that
        # its bars are off would interleave with the CLI's own output.
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        self._info = None

    def info(self) -> dict:
        if self._info is None:
            ray = self._ray
            try:
                self._info = ray.get(ray.remote(_model_info).options(num_cpus=1).remote(self.spec))
            except ray.exceptions.RayError as exc:
                raise BatchError(f"a Ray worker could not load the model {self.spec.model_dir} "
                                 f"(every node needs it at that path): {exc}") from None
        return self._info

    def map(self, items: Iterable[tuple[Any, list[str]]]) -> Iterator[tuple[Any, list]]:
        import pyarrow as pa

        ray = self._ray
        if iter(items) is items:  # a one-shot iterator: keep the payloads instead
            items = list(items)
        refs = []
        for i, (_, texts) in enumerate(items):
            if texts:
                refs.append(ray.put(pa.table({"chunk": pa.array([i] * len(texts), pa.int64()),
                                              "text": pa.array(texts, pa.string())})))
        results = self._results(refs)
        for i, (payload, texts) in enumerate(items):
            if not texts:
                yield payload, []
                continue
            got, preds = next(results, (None, None))
            if got != i or len(preds) != len(texts):
                raise BatchError(f"Ray returned chunk {got} ({len(preds or ())} rows) where "
                                 f"chunk {i} ({len(texts)} rows) was due; the input changed "
                                 "during the run?")
            yield payload, preds

    def _results(self, refs) -> Iterator[tuple[int, list]]:
        if not refs:
            return
        ray = self._ray
        ds = ray.data.from_arrow_refs(refs).map_batches(
            ChunkPredictor, fn_constructor_args=(self.spec,), batch_size=None,
            batch_format="pyarrow", num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=self.workers))
        cur, preds = None, []
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for c, p in zip(batch.column("chunk").to_pylist(),
                                batch.column("pred").to_pylist()):
                    if c != cur and cur is not None:
                        yield cur, preds
                        preds = []
                    cur = c
                    preds.append(pickle.loads(p))
        except ray.exceptions.RayError as exc:
            raise BatchError(f"the Ray job failed: {exc}; finished rows are kept, continue "
                             "with --resume") from None
        if cur is not None:
            yield cur, preds

    def close(self) -> None:
        if self._owned:
            self._ray.shutdown()
            self._owned = False
