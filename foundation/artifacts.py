"""Artifact directories: built in a temporary sibling, manifest written last,
renamed into place atomically, checked on load.

Every artifact (embedder export, index, classifier head, model bundle) is a
directory holding ``manifest.json`` with at least: ``kind``, ``format_version``,
``built_at``, ``libraries`` (versions), and whatever identity the kind needs
(embedder name, tokenizer identity, data hash ...).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator

from foundation.errors import ArtifactError

MANIFEST = "manifest.json"
_LIBRARIES = (
    "numpy", "jieba", "opencc", "faiss-cpu", "onnxruntime", "scikit-learn",
    "sentence-transformers", "bm25s", "hotline-kb",
)


def library_versions(names: Iterable[str] = _LIBRARIES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


# The x86 features that change which onnxruntime/numpy kernels run (int8
# products in particular: docs/embeddings.md).
_ISA_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_has_vnni() -> bool:
    """Whether this CPU has AVX-512 VNNI, on which onnxruntime sums int8 products
    of unsigned activations and *signed* weights exactly (without it, AVX2's
    VPMADDUBSW saturates them: docs/embeddings.md). Asked of the CPU itself
    (numpy's runtime CPUID probe), not of /proc/cpuinfo, which an emulator
    passes through from the host; /proc/cpuinfo only where numpy cannot say."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        features = None
    if features is not None and "AVX512VNNI" in features:
        return bool(features["AVX512VNNI"])
    return "avx512_vnni" in machine_info()["isa"]


def machine_info() -> dict[str, Any]:
    """The CPU model and its kernel-relevant features, for manifests and benchmarks,
    so figures from machines of different kinds can be told apart."""
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                    break
    return {"cpu": model, "cores": os.cpu_count(),
            "isa": [f for f in _ISA_FLAGS if f in flags]}


def data_hash(chunks: Iterable[bytes | str]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
    return h.hexdigest()[:16]


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


@contextlib.contextmanager
def building(final_dir: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary directory next to ``final_dir``; on success it is
    renamed to ``final_dir`` (the old one, if any, is moved aside first and
    removed). On failure the temporary directory is removed and the old
    artifact is left untouched."""
    final_dir = Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.tmp-", dir=final_dir.parent))
    try:
        yield tmp
        if not (tmp / MANIFEST).is_file():
            raise ArtifactError(f"artifact {final_dir} was built without a {MANIFEST}")
        if final_dir.exists():
            if not replace:
                raise ArtifactError(f"artifact {final_dir} already exists")
            old = final_dir.with_name(f".{final_dir.name}.old-{os.getpid()}-{time.time_ns()}")
            os.replace(final_dir, old)
            os.replace(tmp, final_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(directory: Path, kind: str, format_version: int, **fields: Any) -> dict:
    """Write the manifest (call it last, after every other file is in place)."""
    manifest = {
        "kind": kind,
        "format_version": format_version,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "libraries": library_versions(),
        **fields,
    }
    write_json_atomic(Path(directory) / MANIFEST, manifest)
    return manifest


def read_manifest(directory: Path, kind: str | None = None,
                  format_version: int | None = None) -> dict:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{directory} is not a complete artifact: {MANIFEST} is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from None
    if kind is not None and manifest.get("kind") != kind:
        raise ArtifactError(
            f"{directory} holds a {manifest.get('kind')!r} artifact, expected {kind!r}")
    if format_version is not None and manifest.get("format_version") != format_version:
        raise ArtifactError(
            f"{directory} has format version {manifest.get('format_version')}, "
            f"this software reads version {format_version}; rebuild it")
    return manifest


def write_json_atomic(path: Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def point_current(root: Path, target_name: str) -> None:
    """Atomically repoint ``root/current`` (a one-line file) at ``root/target_name``."""
    root = Path(root)
    fd, tmp = tempfile.mkstemp(prefix=".current.", dir=root)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(target_name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / "current")


def resolve_current(root: Path) -> Path | None:
    pointer = Path(root) / "current"
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    return Path(root) / name if name else None
