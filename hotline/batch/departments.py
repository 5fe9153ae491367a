"""`hotline reclassify --departments FILE`: route by a department list.

A centre on day one has no labelled history, only its departments'
responsibility list (权责清单). With ``--departments`` the run routes by that
list (``classifier.coldstart``: similarity to each department's name,
responsibilities and keywords) instead of any trained department head, and
keeps the type head of ``--model`` or of the current model when there is one.

The run's model is a bundle directory built here, inside the run's work
directory, so that workers (local or distributed) load it like any other
model. The router is fitted on a sample of the run's own input (its first
``SAMPLE_ROWS`` good texts: transductive IDF and a self-trained head, see
``classifier.coldstart``) and saved in the bundle, so every worker routes with
the same fitted model; a resumed run reuses the bundle its first part built.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from classifier.bundle import (COLDSTART_DIR, TAXONOMY_FILE, load_departments_file,
                               write_bundle_manifest)
from classifier.coldstart import ColdStartRouter
from foundation.artifacts import file_hash

# Enough rows for the IDF to learn a centre's vocabulary; bounded so that
# fitting stays a fraction of the run. The self-trained head itself sees at most
# classifier.coldstart.SELF_TRAIN_MAX_ROWS of them (5k input: ~10 s fit; a 20k
# sample of near-duplicate rows: ~100 s, liblinear converging slowly).
SAMPLE_ROWS = 20_000


def identity(departments: Path) -> str:
    """What a resumed run must share: the list's content (checked on load)."""
    load_departments_file(departments)   # a bad list stops the run before any worker starts
    return file_hash(departments)


def sample_hash(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:16]


def build(departments: Path, base_model: Path | None, target: Path,
          sample: list[str] | None = None, reuse: bool = False) -> Path:
    """A bundle at ``target``: the type head of ``base_model`` (if any), the
    department list as its taxonomy and, with ``sample``, the router fitted on
    it; no department head, so the list routes. ``reuse``: keep a bundle built
    earlier from the same list and sample (a resumed run)."""
    fields = {"departments_file": str(departments), "departments_sha256": file_hash(departments),
              "type_head_from": str(base_model) if base_model else None,
              "sample_rows": len(sample or []),
              "sample_sha256": sample_hash(sample) if sample else None}
    if reuse and _same(target, fields):
        return target
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if base_model is not None and (base_model / "type").is_dir():
        shutil.copytree(base_model / "type", target / "type")
    shutil.copyfile(departments, target / TAXONOMY_FILE)
    if sample:
        ColdStartRouter(load_departments_file(departments)).fit(sample).save(target / COLDSTART_DIR)
    write_bundle_manifest(target, **fields)
    return target


def _same(target: Path, fields: dict) -> bool:
    try:
        m = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(m.get(k) == v for k, v in fields.items())
