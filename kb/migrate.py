"""Versioned KB schema migrations: numbered SQL files per backend
(``kb/migrations/<dialect>/NNNN_name.sql``). The version a database is at lives
in ``meta.schema_version``; opening a store applies the missing files in order,
in one write transaction (two replicas starting at once: the second waits for the
write lock, then finds nothing left to do). A database at a version newer than
the newest file here was written by newer software and is refused.
"""
from __future__ import annotations

import re
from pathlib import Path

from kb.errors import KBError

MIGRATIONS = Path(__file__).with_name("migrations")


def migrations(dialect: str) -> list[tuple[int, Path]]:
    out = []
    for path in sorted((MIGRATIONS / dialect).glob("*.sql")):
        m = re.match(r"(\d+)_", path.name)
        if m:
            out.append((int(m.group(1)), path))
    return out


def statements(path: Path) -> list[str]:
    """The file's statements: ``--`` comments dropped, split at ``;`` (the
    migration files hold plain DDL, no strings with either in them)."""
    text = "\n".join(line.split("--", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]


def latest(dialect: str) -> int:
    return max((n for n, _ in migrations(dialect)), default=0)


def current_version(db, con) -> int | None:
    """None for an empty database (no meta table, or no version in it)."""
    if not db.has_table(con, "meta"):
        return None
    row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else None


def _refuse_newer(db, version: int) -> None:
    code = latest(db.dialect)
    if version > code:
        raise KBError(f"the KB database {db.location} has schema version {version}, newer than "
                      f"this software's version {code}; upgrade hotline (or open a backup "
                      "made for this version)")


def migrate(db) -> tuple[int | None, int]:
    """Bring ``db`` to the newest schema; returns (version before, version after).
    Only takes the write lock when something is to be done, so readers open a
    store while an import holds the lock."""
    with db.read() as con:
        before = current_version(db, con)
    target = latest(db.dialect)
    if before is not None:
        _refuse_newer(db, before)
        if before == target:
            return before, before
    with db.write() as con:
        version = current_version(db, con)   # again, under the lock
        if version is not None:
            _refuse_newer(db, version)
        for number, path in migrations(db.dialect):
            if version is not None and number <= version:
                continue
            for stmt in statements(path):
                con.execute(stmt)
            con.execute("DELETE FROM meta WHERE key='schema_version'")
            con.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(number),))
            version = number
    return before, target
