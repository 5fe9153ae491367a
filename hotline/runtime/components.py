"""How each component of a snapshot is loaded, and how to tell cheaply whether
what it would load has changed (a *probe*: file identities of the artifact
pointers, no parsing). The engine reloads a component only when its probe moved.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

from foundation.artifacts import read_manifest, resolve_current
from foundation.errors import NotReady


def _manifest_version(directory) -> str:
    m = read_manifest(directory)
    ident = m.get("version") or m.get("identity") or m.get("data_hash") or ""
    return f"{directory.name}@{m.get('built_at', '?')}" + (f" {ident}" if ident else "")


def open_store(settings):
    import kb

    # Opening creates an empty KB on a fresh home, so editors can start adding entries.
    store = kb.open_store(settings)
    return store, str(settings.kb_path.name) if settings.kb_is_sqlite else store.location


def load_search(settings):
    from index.search import SearchService

    # Check the pointer first: loading the service loads the embedder into the
    # process-wide cache, and while `hotline serve` is still exporting it that
    # would pin the slow fallback backend.
    current = resolve_current(settings.index_root)
    if current is None or not current.is_dir():
        raise NotReady(f"no search index under {settings.index_root}; run `hotline index build`")
    service = SearchService(settings, index_dir=current)
    m = service.manifest
    return service, f"{current.name} ({m.get('embedder')}, {m.get('n_entries', '?')} entries)"


def load_classifier(settings):
    from classifier import load_bundle

    directory = resolve_current(settings.models_root)
    if directory is None or not directory.is_dir():
        raise NotReady(f"no model published under {settings.models_root}; run `hotline train`")
    # The home's department list is the list in force: edits to it route at once
    # on top of the trained head (classifier.list_updates), no retraining.
    taxonomy = settings.taxonomy_file if settings.taxonomy_file.is_file() else None
    return (load_bundle(directory, taxonomy=taxonomy, settings=settings),
            _manifest_version(directory))


def load_taxonomy(settings):
    from kb.taxonomy import load_departments

    path = settings.taxonomy_file
    if not path.is_file():
        return {}, "none"
    out = {}
    for d in load_departments(path):
        d = d if isinstance(d, Mapping) else dataclasses.asdict(d)
        out[d["name"]] = d
    return out, f"{path.name} ({len(out)} departments)"


LOADERS: dict[str, Callable] = {
    "kb": open_store, "search": load_search, "classifier": load_classifier,
    "taxonomy": load_taxonomy,
}


def _stamp(path, inode_only: bool = False) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path}:{st.st_ino}" + ("" if inode_only else f":{st.st_mtime_ns}:{st.st_size}")


def probe_store(settings) -> str:
    # The file itself, not its contents: writes go through the open store and
    # reach the index through the change log. A database server has no file: its
    # identity is the URL (a changed kb_url means another KB); its contents are
    # followed through the change log like the file's.
    if not settings.kb_is_sqlite:
        from foundation.db import redact

        return redact(settings.kb_database_url)
    return _stamp(settings.kb_path, inode_only=True)


def probe_search(settings) -> str:
    current = resolve_current(settings.index_root)
    parts = [_stamp(current / "manifest.json") if current else "none"]
    # A re-exported embedder means a new SearchService around the new model.
    parts += sorted(_stamp(p) for p in settings.embedders_root.glob("*/manifest.json"))
    return "|".join(parts)


def probe_classifier(settings) -> str:
    # The department list is part of the classifier (list_updates): an edit reloads it.
    current = resolve_current(settings.models_root)
    return ((_stamp(current / "manifest.json") if current else "none") + "|"
            + _stamp(settings.taxonomy_file))


def probe_taxonomy(settings) -> str:
    return _stamp(settings.taxonomy_file)


PROBES: dict[str, Callable] = {
    "kb": probe_store, "search": probe_search, "classifier": probe_classifier,
    "taxonomy": probe_taxonomy,
}


def missing(settings) -> list[str]:
    """What ``training.prepare.ensure_all`` would build (cheap: file checks, and
    one query when the KB is on a database server)."""
    from kb import kb_exists

    out = []
    if not kb_exists(settings):
        out.append("kb")
    current = resolve_current(settings.index_root)
    if current is None or not current.is_dir():
        out.append("index")
    current = resolve_current(settings.models_root)
    if current is None or not current.is_dir():
        out.append("models")
    return out
