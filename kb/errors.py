"""Errors of the knowledge base. Every one derives from ``foundation.errors`` so
the HTTP layer maps them without knowing this package."""
from __future__ import annotations

from dataclasses import dataclass

from foundation.errors import Conflict, HotlineError, InvalidInput, NotFound, NotReady


class KBError(HotlineError):
    code = "kb_error"


@dataclass(frozen=True)
class RowError:
    """One problem with one entry. ``row`` is the spreadsheet-style row number
    in the source file (header = row 1; JSONL: line number), or None when the
    entry did not come from a file."""

    row: int | None
    id: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "entry"
        ident = f" (id {self.id!r})" if self.id else ""
        return f"{where}{ident}: {self.field}: {self.message}"


class ValidationError(KBError, InvalidInput):
    """One or more entries are invalid; ``errors`` lists every problem found."""

    code = "kb_validation_error"

    def __init__(self, errors: list[RowError], summary: str | None = None):
        self.errors = list(errors)
        head = summary or f"{len(self.errors)} invalid field(s)"
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f"; ... {len(self.errors) - 5} more" if len(self.errors) > 5 else ""
        super().__init__(f"{head}: {shown}{more}" if self.errors else head)


class ImportRejected(ValidationError):
    """A whole import was rejected (all-or-nothing); the KB was not touched."""

    code = "kb_import_rejected"


class UnsupportedFormat(KBError, InvalidInput):
    code = "kb_unsupported_format"


class TaxonomyError(KBError, InvalidInput):
    """The department taxonomy file is missing, malformed or inconsistent."""

    code = "kb_taxonomy_error"


class KBBusy(KBError, NotReady):
    """Another writer held the KB longer than the store's timeout."""

    code = "kb_busy"


class EntryNotFound(KBError, NotFound):
    code = "kb_entry_not_found"


class KBFileNotFound(KBError, NotFound):
    code = "kb_file_not_found"


class EntryExists(KBError, Conflict):
    code = "kb_entry_exists"


class RevisionConflict(KBError, Conflict):
    """An update was based on a revision that is no longer current; nothing was written."""

    code = "kb_revision_conflict"

    def __init__(self, entry_id: str, base_revision: int, current_revision: int):
        self.entry_id = entry_id
        self.base_revision = base_revision
        self.current_revision = current_revision
        super().__init__(
            f"entry {entry_id!r} was changed by someone else: update based on revision "
            f"{base_revision}, current revision is {current_revision}; reload and retry")
