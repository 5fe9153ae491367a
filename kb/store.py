"""Knowledge-base store, on SQLite (the default) or PostgreSQL (``kb_url``).

The SQL is written once; kb/db.py gives the connection for either backend, and
kb/migrate.py creates or upgrades the schema on open. On SQLite: one file
(``settings.kb_path``) in WAL mode, so readers in other processes (the
search index following ``changes_since``) never block and never see a
half-written transaction. Every write runs in one ``BEGIN IMMEDIATE``
transaction that updates ``entries`` (current state) and appends to
``changes`` (the append-only log; ``seq`` is its INTEGER PRIMARY KEY with
AUTOINCREMENT, so it only grows and reading ``seq > n`` is a rowid range scan).
The log row carries the full entry, which is what history and diff read.
On PostgreSQL the same holds with a sequence for ``seq`` and an advisory lock
serialising writers (kb/db.py says why that keeps followers from skipping rows).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from kb.entry import CONTENT_FIELDS, Entry, _as_date, applies_to_region, is_valid_at, parse_entry
from kb.errors import (EntryExists, EntryNotFound, ImportRejected, KBBusy, KBError, RevisionConflict,
                       RowError, ValidationError)
from kb.taxonomy import Taxonomy, load_taxonomy

SCHEMA_VERSION = 1   # SQLite's; each backend's newest is kb.migrate.latest(dialect)
OPS = ("add", "update", "retire", "delete")
_CHUNK = 2000

# The departments of all entries: the one statement whose JSON functions differ.
_DEPARTMENTS_SQL = {
    "sqlite": "SELECT COUNT(DISTINCT j.value) FROM entries, json_each(entries.data, '$.department') j",
    "postgresql": "SELECT COUNT(DISTINCT d) FROM entries, "
                  "jsonb_array_elements_text(entries.data::jsonb -> 'department') AS d",
}


class Change(NamedTuple):
    seq: int
    entry_id: str
    op: str          # add | update | retire | delete
    revision: int


class Revision(NamedTuple):
    seq: int
    revision: int
    op: str
    at: str
    by: str
    entry: Entry


@dataclass
class ImportReport:
    mode: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: list[RowError] = field(default_factory=list)
    first_seq: int = 0
    last_seq: int = 0
    seconds: float = 0.0
    report_path: str | None = None

    @property
    def imported(self) -> int:
        return self.added + self.updated + self.unchanged

    def to_dict(self) -> dict:
        return {"mode": self.mode, "rows": self.rows, "added": self.added,
                "updated": self.updated, "unchanged": self.unchanged, "deleted": self.deleted,
                "rejected": len(self.rejected), "first_seq": self.first_seq,
                "last_seq": self.last_seq, "seconds": round(self.seconds, 3),
                "report_path": self.report_path}


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(entry: Entry) -> str:
    return json.dumps(entry.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _loads(data: str) -> Entry:
    return Entry(**json.loads(data))


def _content(data: str) -> dict:
    d = json.loads(data)
    return {k: d[k] for k in CONTENT_FIELDS}


class KBStore:
    """The knowledge base. ``taxonomy`` (a Taxonomy, a list of Department, or a
    path to departments.json) makes every write check departments against it;
    aliases are stored under the canonical name."""

    def __init__(self, path: str | Path, taxonomy=None, timeout: float = 30.0):
        """``path``: a SQLite file, or a ``sqlite:///`` / ``postgresql://`` URL."""
        from kb.db import open_db
        from kb.migrate import migrate

        self.db = open_db(path, timeout)
        self.path = self.db.path          # the SQLite file; None on PostgreSQL
        self.location = self.db.location  # what messages name (no password)
        self.timeout = timeout
        if taxonomy is not None and not isinstance(taxonomy, Taxonomy):
            taxonomy = load_taxonomy(taxonomy) if isinstance(taxonomy, (str, Path)) else Taxonomy(taxonomy)
        self.taxonomy: Taxonomy | None = taxonomy
        # Readers (the search index, the server) open the store while an import
        # holds the write lock: only a new or older database takes the lock.
        migrate(self.db)

    def _read(self):
        return self.db.read()

    def _write(self):
        return self.db.write()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "KBStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ validation
    def check(self, entry: Entry | dict, row: int | None = None, *,
              strict_id: bool = True) -> tuple[Entry | None, list[RowError]]:
        """Canonicalise and validate, including departments against the taxonomy.
        ``strict_id=False``: the id is already stored (see ``parse_entry``)."""
        raw = entry.to_dict() if isinstance(entry, Entry) else entry
        parsed, errors = parse_entry(raw, row, strict_id=strict_id)
        if parsed is None or self.taxonomy is None:
            return parsed, errors
        canonical = []
        for name in parsed.department:
            resolved = self.taxonomy.resolve(name)
            if resolved is None:
                sample = ", ".join(self.taxonomy.names[:3])
                errors.append(RowError(row, parsed.id, "department",
                                       f"{name!r} is not in the department taxonomy "
                                       f"({len(self.taxonomy)} departments, e.g. {sample})"))
            elif resolved not in canonical:
                canonical.append(resolved)
        if errors:
            return None, errors
        parsed.department = canonical
        return parsed, []

    def _checked(self, entry, strict_id: bool = True) -> Entry:
        parsed, errors = self.check(entry, strict_id=strict_id)
        if errors:
            raise ValidationError(errors, f"invalid entry {errors[0].id!r}")
        return parsed

    # ------------------------------------------------------------ writes
    def _log(self, con, entry: Entry, op: str, data: str | None = None) -> int:
        return con.execute(
            "INSERT INTO changes(entry_id, op, revision, at, by, data) VALUES (?,?,?,?,?,?) "
            "RETURNING seq",
            (entry.id, op, entry.revision, entry.updated_at, entry.updated_by,
             data or _dumps(entry))).fetchone()[0]

    @staticmethod
    def _row(entry: Entry, data: str) -> tuple:
        return (entry.id, entry.revision, entry.status, entry.region,
                entry.valid_from, entry.valid_to, data)

    _UPSERT = ("INSERT INTO entries(id, revision, status, region, valid_from, valid_to, data) "
               "VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET revision=excluded.revision, "
               "status=excluded.status, region=excluded.region, valid_from=excluded.valid_from, "
               "valid_to=excluded.valid_to, data=excluded.data")

    def add(self, entry: Entry | dict, by: str = "system") -> Entry:
        """Insert a new entry at revision 1 (or one past its history, if it was deleted)."""
        entry = self._checked(entry)
        with self._write() as con:
            if con.execute("SELECT 1 FROM entries WHERE id=?", (entry.id,)).fetchone():
                raise EntryExists(f"entry {entry.id!r} already exists; use update")
            last = con.execute("SELECT MAX(revision) FROM changes WHERE entry_id=?",
                               (entry.id,)).fetchone()[0] or 0
            entry = entry.replace(revision=last + 1, updated_at=now_iso(), updated_by=by)
            data = _dumps(entry)
            con.execute(self._UPSERT, self._row(entry, data))
            self._log(con, entry, "add", data)
        return entry

    def update(self, id: str, changes: dict, base_revision: int, by: str = "system") -> Entry:
        """Apply ``changes`` (content fields) to the entry if it is still at
        ``base_revision``; otherwise RevisionConflict and nothing is written.
        An update that changes nothing returns the entry as it is."""
        bad = sorted(set(changes) - set(CONTENT_FIELDS) | ({"id"} & set(changes)))
        if bad:
            editable = ", ".join(f for f in CONTENT_FIELDS if f != "id")
            raise ValidationError([RowError(None, id, name, f"cannot be changed; editable fields: {editable}")
                                   for name in bad], f"invalid update of {id!r}")
        with self._write() as con:
            # Under the write lock (both backends): the revision read here is the
            # latest committed one, so two updates from one base cannot both pass.
            row = con.execute("SELECT data FROM entries WHERE id=?", (id,)).fetchone()
            if row is None:
                raise EntryNotFound(f"no entry with id {id!r}")
            current = _loads(row[0])
            if current.revision != base_revision:
                raise RevisionConflict(id, base_revision, current.revision)
            merged = {**current.to_dict(), **changes}
            # The id is not changed here: one stored before the id rule can still be
            # fixed or retired.
            new = self._checked(merged, strict_id=False)
            if new.content() == current.content():
                return current
            op = "retire" if new.status == "retired" and current.status != "retired" else "update"
            new = new.replace(revision=current.revision + 1, updated_at=now_iso(), updated_by=by)
            data = _dumps(new)
            con.execute(self._UPSERT, self._row(new, data))
            self._log(con, new, op, data)
        return new

    def retire(self, id: str, base_revision: int, by: str = "system") -> Entry:
        return self.update(id, {"status": "retired"}, base_revision, by=by)

    # ------------------------------------------------------------ reads
    def get(self, id: str) -> Entry:
        with self._read() as con:
            row = con.execute("SELECT data FROM entries WHERE id=?", (id,)).fetchone()
        if row is None:
            raise EntryNotFound(f"no entry with id {id!r}")
        return _loads(row[0])

    def find(self, id: str) -> Entry | None:
        with contextlib.suppress(EntryNotFound):
            return self.get(id)
        return None

    def get_many(self, ids: Iterable[str]) -> dict[str, Entry]:
        ids = list(dict.fromkeys(ids))
        out: dict[str, Entry] = {}
        with self._read() as con:
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                marks = ",".join("?" * len(part))
                for data, in con.execute(f"SELECT data FROM entries WHERE id IN ({marks})", part):
                    entry = _loads(data)
                    out[entry.id] = entry
        return out

    @staticmethod
    def _status_where(status: str | Iterable[str] | None) -> tuple[str, list]:
        if status is None:
            return "", []
        wanted = [status] if isinstance(status, str) else list(status)
        if not wanted:
            return " WHERE 1=0", []
        return f" WHERE status IN ({','.join('?' * len(wanted))})", wanted

    def iter_entries(self, status: str | Iterable[str] | None = None, *, valid_at: Any = None,
                     region: str | None = None) -> Iterator[Entry]:
        """Entries ordered by id; ``status`` is one status or several. ``valid_at``
        keeps those valid on that date (see ``is_valid_at``); ``region`` keeps
        city-wide ones and that district's."""
        where, args = self._status_where(status)
        with self._read() as con:
            rows = con.execute("SELECT data FROM entries" + where + " ORDER BY id", args)
            if self.db.dialect != "sqlite":
                rows = rows.fetchall()   # give the pooled connection back before yielding
        for data, in rows:
            entry = _loads(data)
            if valid_at is not None and not is_valid_at(entry, valid_at):
                continue
            if region is not None and not applies_to_region(entry, region):
                continue
            yield entry

    def count(self, status: str | Iterable[str] | None = None) -> int:
        where, args = self._status_where(status)
        with self._read() as con:
            return con.execute("SELECT COUNT(*) FROM entries" + where, args).fetchone()[0]

    def stats(self, now: Any = None) -> dict:
        day = _as_date(now)
        with self._read() as con:
            by_status = dict(con.execute("SELECT status, COUNT(*) FROM entries GROUP BY status").fetchall())
            valid = con.execute(
                "SELECT COUNT(*) FROM entries WHERE status='published' AND "
                "(valid_from IS NULL OR valid_from <= ?) AND (valid_to IS NULL OR valid_to > ?)",
                (day, day)).fetchone()[0]
            departments = con.execute(_DEPARTMENTS_SQL[self.db.dialect]).fetchone()[0]
            regional = con.execute("SELECT COUNT(*) FROM entries WHERE region != ''").fetchone()[0]
        total = sum(by_status.values())
        return {"total": total, "published": by_status.get("published", 0),
                "draft": by_status.get("draft", 0), "retired": by_status.get("retired", 0),
                "valid_today": valid, "today": day, "departments": departments,
                "city_wide": total - regional, "regional": regional,
                "last_seq": self.last_seq(), "path": self.location}

    # ------------------------------------------------------------ change log
    def last_seq(self) -> int:
        with self._read() as con:
            return con.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]

    def changes_since(self, seq: int, limit: int | None = None) -> list[Change]:
        sql = "SELECT seq, entry_id, op, revision FROM changes WHERE seq > ? ORDER BY seq"
        args: list = [int(seq)]
        if limit is not None:
            sql, args = sql + " LIMIT ?", args + [int(limit)]
        with self._read() as con:
            return [Change(*row) for row in con.execute(sql, args)]

    def history(self, id: str) -> list[Revision]:
        with self._read() as con:
            rows = con.execute(
                "SELECT seq, revision, op, at, by, data FROM changes WHERE entry_id=? ORDER BY seq",
                (id,)).fetchall()
        if not rows:
            raise EntryNotFound(f"no entry with id {id!r} has ever existed")
        return [Revision(seq, rev, op, at, by, _loads(data)) for seq, rev, op, at, by, data in rows]

    def revision(self, id: str, revision: int) -> Entry:
        with self._read() as con:
            row = con.execute(
                "SELECT data FROM changes WHERE entry_id=? AND revision=? ORDER BY seq DESC LIMIT 1",
                (id, int(revision))).fetchone()
        if row is None:
            known = sorted({r.revision for r in self.history(id)})
            raise EntryNotFound(f"entry {id!r} has no revision {revision}; it has {known}")
        return _loads(row[0])

    def diff(self, id: str, rev_a: int, rev_b: int) -> dict[str, tuple[Any, Any]]:
        """Fields that differ between two revisions: ``{field: (value_a, value_b)}``."""
        a, b = self.revision(id, rev_a).to_dict(), self.revision(id, rev_b).to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}

    # ------------------------------------------------------------ import / export
    def import_rows(self, rows: Iterable, mode: str = "upsert", skip_invalid: bool = False,
                    by: str = "import",
                    progress: Callable[[str, int, int | None], None] | None = None) -> ImportReport:
        from kb.importer import run_import

        return run_import(self, rows, mode=mode, skip_invalid=skip_invalid, by=by, progress=progress)

    def import_file(self, path: str | Path, mode: str = "upsert", skip_invalid: bool = False,
                    report_path: str | Path | None = None, progress: bool = True,
                    by: str = "import") -> ImportReport:
        from kb.importer import import_file

        return import_file(self, path, mode=mode, skip_invalid=skip_invalid,
                           report_path=report_path, progress=progress, by=by)

    def export_file(self, path: str | Path, status: str | None = None) -> int:
        from kb.io import write_entries

        return write_entries(path, self.iter_entries(status))


__all__ = ["KBStore", "Change", "Revision", "ImportReport", "is_valid_at", "applies_to_region",
           "ImportRejected", "OPS", "now_iso"]
