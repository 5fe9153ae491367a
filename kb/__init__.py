"""Knowledge base: entries with revisions and validity, a store with a change
log (SQLite by default, PostgreSQL with ``kb_url``), and lossless CSV / JSONL /
XLSX import and export."""
from kb.entry import Entry, applies_to_region, is_valid_at
from kb.store import Change, ImportReport, KBStore, Revision

__all__ = ["Entry", "KBStore", "Change", "Revision", "ImportReport", "is_valid_at",
           "applies_to_region", "open_store", "kb_exists", "kb_target"]


def open_store(settings, taxonomy="auto") -> KBStore:
    """The product's KB at ``settings.kb_database_url`` (the SQLite file
    ``settings.kb_path`` unless ``kb_url`` is set). ``taxonomy="auto"`` checks
    departments against ``settings.taxonomy_file`` when that file exists; pass
    a path, a Taxonomy, or None to choose explicitly."""
    if taxonomy == "auto":
        path = settings.taxonomy_file
        taxonomy = path if path.is_file() else None
    return KBStore(kb_target(settings), taxonomy=taxonomy)


def kb_target(settings):
    """What KBStore opens for these settings: the SQLite file, or the database URL."""
    return settings.kb_path if settings.kb_is_sqlite else settings.kb_database_url


def kb_exists(settings) -> bool:
    """Whether there is a KB to read: the SQLite file, or (PostgreSQL) a database
    whose schema has been created. Cheap for SQLite; one query for PostgreSQL."""
    if settings.kb_is_sqlite:
        return settings.kb_path.is_file()
    from kb.db import open_db
    from kb.migrate import current_version

    db = open_db(settings.kb_database_url)
    try:
        with db.read() as con:
            return current_version(db, con) is not None
    finally:
        db.close()
