"""Knowledge base: entries with revisions and validity, a SQLite store with a
change log, and lossless CSV / JSONL / XLSX import and export."""
from kb.entry import Entry, applies_to_region, is_valid_at
from kb.store import Change, ImportReport, KBStore, Revision

__all__ = ["Entry", "KBStore", "Change", "Revision", "ImportReport", "is_valid_at",
           "applies_to_region", "open_store"]


def open_store(settings, taxonomy="auto") -> KBStore:
    """The product's KB at ``settings.kb_path``. ``taxonomy="auto"`` checks
    departments against ``settings.taxonomy_file`` when that file exists; pass
    a path, a Taxonomy, or None to choose explicitly."""
    if taxonomy == "auto":
        path = settings.taxonomy_file
        taxonomy = path if path.is_file() else None
    return KBStore(settings.kb_path, taxonomy=taxonomy)
