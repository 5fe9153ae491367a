"""`hotline reclassify --departments FILE`: route by a department list.

A centre on day one has no labelled history, only its departments'
responsibility list (权责清单). With ``--departments`` the run routes by that
list (``classifier.coldstart``: similarity to each department's name,
responsibilities and keywords) instead of any trained department head, and
keeps the type head of ``--model`` or of the current model when there is one.

The run's model is a bundle directory built here, inside the run's work
directory, so that workers (local or distributed) load it like any other
model and a resumed run rebuilds the same one.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from classifier.bundle import TAXONOMY_FILE, load_departments_file, write_bundle_manifest
from foundation.artifacts import file_hash


def identity(departments: Path) -> str:
    """What a resumed run must share: the list's content (checked on load)."""
    load_departments_file(departments)   # a bad list stops the run before any worker starts
    return file_hash(departments)


def build(departments: Path, base_model: Path | None, target: Path) -> Path:
    """A bundle at ``target``: the type head of ``base_model`` (if any) and the
    department list as its taxonomy; no department head, so the list routes."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if base_model is not None and (base_model / "type").is_dir():
        shutil.copytree(base_model / "type", target / "type")
    shutil.copyfile(departments, target / TAXONOMY_FILE)
    write_bundle_manifest(target, departments_file=str(departments),
                          departments_sha256=file_hash(departments),
                          type_head_from=str(base_model) if base_model else None)
    return target
