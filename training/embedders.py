"""Build missing embedder artifacts: ``ensure(name, settings)``.

Called by ``make run`` (via serve --prepare) and by tests. An artifact whose
manifest is present and readable is left alone; a missing or broken one is
(re)built into ``settings.embedders_root/<name>/``.
"""
from __future__ import annotations

import logging
from pathlib import Path

from foundation.artifacts import read_manifest
from foundation.errors import ArtifactError

log = logging.getLogger(__name__)

KIND = "embedder"
FORMAT_VERSION = 1


def _usable(path: Path) -> bool:
    try:
        read_manifest(path, KIND, FORMAT_VERSION)
        return True
    except ArtifactError:
        return False


def ensure(name: str, settings, force: bool = False) -> Path | None:
    """Make sure the artifact for embedder ``name`` exists; return its directory.

    ``use`` → ONNX export; ``static`` → distilled model (builds ``use`` first);
    ``e5`` → delegated to ``training.e5_convert`` if that module exists;
    ``st:<dir>`` → nothing to build (returns None).
    """
    if name.startswith("st:"):
        return None
    target = settings.embedders_root / name
    if not force and _usable(target):
        return target
    if name == "use":
        from training.use_export import build

        log.info("building the USE-m3 ONNX export into %s", target)
        build(target, settings)
    elif name == "static":
        ensure("use", settings)
        from index.embedders import clear_cache
        from training.distil_static import build

        clear_cache()  # the teacher must be the freshly exported ONNX model
        log.info("distilling the static embedder into %s", target)
        build(target, settings)
    elif name == "e5":
        try:
            from training import e5_convert  # built by another area
        except ImportError:
            raise ArtifactError("no builder for embedder 'e5' (training.e5_convert is missing)") from None
        if not hasattr(e5_convert, "build"):
            raise ArtifactError("training.e5_convert has no build(final_dir, settings) yet")
        e5_convert.build(target, settings)
    elif name == "e5-hotline":
        # Fine-tuning takes tens of minutes: never started implicitly (make run, index build).
        raise ArtifactError(f"no e5-hotline encoder at {target}: fine-tune it with "
                            f"`hotline train --encoder --recipe gov` (or `--recipe own`)")
    else:
        raise ArtifactError(f"no builder for embedder {name!r}; expected use, static, e5, e5-hotline "
                            f"or st:<dir>")
    return target
