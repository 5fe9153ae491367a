"""Deployed model versions under ``settings.models_root``: each version is a
bundle directory ``v<UTC timestamp>``; ``current`` (foundation.artifacts pointer)
names the deployed one; ``history.json`` lists promotions so rollback can
step back."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from classifier.errors import BadModel
from foundation.artifacts import point_current, read_manifest, resolve_current, write_json_atomic
from foundation.errors import NotFound

HISTORY = "history.json"


def new_version_dir(root: Path) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = "v" + time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name, i = base, 1
    while (root / name).exists():
        i += 1
        name = f"{base}-{i}"
    return root / name


def _history(root: Path) -> list[str]:
    p = Path(root) / HISTORY
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else []


def list_versions(root: Path) -> list[dict]:
    root = Path(root)
    current = resolve_current(root)
    out = []
    for d in sorted(root.glob("v*")) if root.is_dir() else []:
        if not d.is_dir():
            continue
        try:
            m = read_manifest(d)
        except Exception:  # noqa: BLE001 - an incomplete version is listed as such
            m = {}
        out.append({"name": d.name, "current": current is not None and current.name == d.name,
                    "built_at": m.get("built_at"), "heads": sorted((m.get("heads") or {}))})
    return out


def promote(root: Path, version: str) -> str:
    """Make ``version`` (a name under root, or a bundle directory elsewhere,
    which is copied in as a new version) the current model."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    src = Path(version)
    if (root / version).is_dir() and "/" not in version:
        target = root / version
    elif src.is_dir():
        target = new_version_dir(root)
        shutil.copytree(src, target)
    else:
        raise NotFound(f"model version {version!r} is neither a version under {root} "
                       f"nor a bundle directory")
    manifest = read_manifest(target)
    if manifest.get("kind") != "classifier_bundle":
        raise BadModel(f"{target} is a {manifest.get('kind')!r} artifact, not a classifier bundle")
    from classifier.bundle import load_bundle
    load_bundle(target)  # refuse to deploy what cannot be loaded
    point_current(root, target.name)
    write_json_atomic(root / HISTORY, _history(root) + [target.name])
    return target.name


def rollback(root: Path) -> str:
    """Point ``current`` at the version promoted before it."""
    root = Path(root)
    hist = _history(root)
    current = resolve_current(root)
    while hist and (current is None or hist[-1] == current.name):
        hist.pop()
        if hist and (root / hist[-1]).is_dir():
            break
    if not hist:
        raise NotFound(f"no earlier model version to roll back to under {root}")
    point_current(root, hist[-1])
    write_json_atomic(root / HISTORY, hist)
    return hist[-1]
