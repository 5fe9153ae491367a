"""Embedders by name. The factory maps a name to a backend class; each backend
lives in its own module and exposes ``from_settings(settings)``.

Names: ``use`` (default), ``static`` (fast tier), ``e5``, ``e5-hotline`` (e5
fine-tuned by ``hotline train --encoder``), ``st:<dir>`` (any local
sentence-transformers model directory).
"""
from __future__ import annotations

import importlib
import threading

from index.embedders.base import Embedder, EmbedderError, UnknownEmbedder, l2_normalize

BACKENDS = {
    "use": "index.embedders.use:UseEmbedder",
    "static": "index.embedders.static:StaticEmbedder",
    "e5": "index.embedders.e5:E5Embedder",
    # e5-small fine-tuned on hotline data (`hotline train --encoder`), same backend
    "e5-hotline": "index.embedders.e5:E5Embedder",
    "st": "index.embedders.st:STEmbedder",
}

_cache: dict = {}
_lock = threading.Lock()


def _backend(name: str):
    key = name.split(":", 1)[0]
    if key not in BACKENDS:
        raise UnknownEmbedder(
            f"unknown embedder {name!r}; expected one of {sorted(BACKENDS)} (or st:<model dir>)")
    module, cls = BACKENDS[key].split(":")
    return getattr(importlib.import_module(module), cls)


def get_embedder(name: str, settings) -> Embedder:
    """Load (once per process) the embedder called ``name`` for ``settings.home``."""
    key = (name, str(settings.home), getattr(settings, "embed_threads", 0),
           getattr(settings, "embed_precision", "auto"))
    with _lock:
        if key not in _cache:
            _cache[key] = _backend(name).from_settings(settings, name=name)
        return _cache[key]


def clear_cache(stale_only: bool = False) -> None:
    """Forget loaded embedders. ``stale_only``: only those whose artifact
    manifest changed on disk since they were loaded (or that have none to
    compare), so a reload with nothing re-exported keeps its sessions (~1 s)."""
    with _lock:
        if not stale_only:
            _cache.clear()
            return
        for key, emb in list(_cache.items()):
            if not _unchanged(emb):
                del _cache[key]


def _unchanged(emb) -> bool:
    from foundation.artifacts import read_manifest
    from foundation.errors import ArtifactError

    loaded, model_dir = getattr(emb, "manifest", None), getattr(emb, "model_dir", None)
    if not loaded or model_dir is None:
        return False
    try:
        return read_manifest(model_dir) == loaded
    except (ArtifactError, OSError):
        return False


__all__ = ["Embedder", "EmbedderError", "UnknownEmbedder", "get_embedder", "l2_normalize",
           "clear_cache", "BACKENDS"]
