"""The KB's database connection, SQLite or PostgreSQL, behind one small interface.

The store writes its SQL once, with ``?`` placeholders, against a DB-API-like
connection (``execute`` returning a cursor, ``executemany``). :class:`SQLiteDB`
is today's embedded file (WAL, one connection per thread, ``BEGIN IMMEDIATE``
writes); :class:`PostgresDB` checks connections out of a SQLAlchemy pool
(``foundation.db.create_engine_for``, with ``pool_pre_ping``: a connection
broken by a database restart is replaced on the next checkout, no manual
action) and translates placeholders.

Writers are serialised on both backends. SQLite does it with its one write
lock. PostgreSQL takes a transaction-level advisory lock (``WRITE_LOCK``) as
the first statement of every write transaction, and holds it until COMMIT.
That keeps the two behaviours identical, and it is what makes the change log
safe for followers: ``changes.seq`` comes from a sequence, and without the lock
transaction A could take seq 10, B seq 11, B commit first, and a follower that
read ``seq > 9`` and saw 11 would never look at 10 again. With one writer at a
time, seqs become visible in increasing order (a rolled-back write leaves a
hole, never a late row). It also makes If-Match exact: the revision is read
after the lock, so of two replicas updating one entry from the same base
revision exactly one commits, the other reads the new revision and gets
RevisionConflict (HTTP 409). KB edits are few and short; imports are one
transaction either way.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

from foundation.db import create_engine_for, is_postgres, redact, sqlite_wal
from kb.errors import KBBusy, KBError

# Any constant works; this one spells "hotlinKB". Other users of the database
# (the incident store) can pick their own key.
WRITE_LOCK = 0x686F746C696E4B42 & 0x7FFFFFFFFFFFFFFF


class SQLiteDB:
    dialect = "sqlite"

    def __init__(self, path: str | Path, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = timeout
        self.location = str(self.path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def con(self) -> sqlite3.Connection:
        # One connection per thread and per process (a forked server worker must
        # not reuse its parent's connection).
        con = getattr(self._local, "con", None)
        if con is None or self._local.pid != os.getpid():
            con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                  check_same_thread=False)
            con.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            sqlite_wal(con, self.timeout)
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con, self._local.pid = con, os.getpid()
            self._all.append(con)
        return con

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        yield self.con()   # autocommit: each statement reads a consistent WAL snapshot

    @contextlib.contextmanager
    def write(self, lock: bool = True) -> Iterator[sqlite3.Connection]:
        con = self.con()   # SQLite has one write lock whatever ``lock`` says
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise KBBusy(f"the KB {self.path} is locked by another writer (waited "
                             f"{self.timeout:g} s); retry later") from None
            raise
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def has_table(self, con, name: str) -> bool:
        return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                           (name,)).fetchone() is not None

    def close(self) -> None:
        for con in self._all:
            with contextlib.suppress(sqlite3.Error):
                con.close()
        self._all.clear()
        self._local = threading.local()


class _PGCon:
    """A pooled psycopg connection that speaks the store's ``?`` SQL."""

    def __init__(self, raw):
        self.raw = raw

    def execute(self, sql: str, args=()):
        cur = self.raw.cursor()
        cur.execute(sql.replace("?", "%s"), tuple(args))
        return cur

    def executemany(self, sql: str, rows):
        rows = [tuple(r) for r in rows]
        if rows:
            self.raw.cursor().executemany(sql.replace("?", "%s"), rows)


class PostgresDB:
    dialect = "postgresql"

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url
        self.timeout = timeout
        self.location = redact(url)
        self.path = None
        self._engine = None
        self._pid = None
        self._lock = threading.Lock()

    def engine(self):
        # A forked worker gets its own pool; the parent's sockets stay the parent's.
        if self._engine is None or self._pid != os.getpid():
            with self._lock:
                if self._engine is None or self._pid != os.getpid():
                    if self._engine is not None:
                        self._engine.dispose(close=False)
                    self._engine = create_engine_for(self.url, pool_size=4, max_overflow=16)
                    self._pid = os.getpid()
        return self._engine

    @contextlib.contextmanager
    def _connection(self, lock: bool) -> Iterator[_PGCon]:
        import psycopg

        try:
            raw = self.engine().raw_connection()
        except Exception as exc:   # sqlalchemy.exc.OperationalError: server down
            raise KBError(f"cannot reach the KB database {self.location}: "
                          f"{str(exc).splitlines()[0]}") from None
        try:
            con = _PGCon(raw)
            if lock:
                con.execute(f"SET LOCAL lock_timeout = '{int(self.timeout * 1000)}ms'")
                try:
                    con.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
                except psycopg.errors.LockNotAvailable:
                    raise KBBusy(f"the KB {self.location} is locked by another writer (waited "
                                 f"{self.timeout:g} s); retry later") from None
            yield con
            raw.commit()
        except psycopg.OperationalError as exc:   # the server went away mid-transaction
            with contextlib.suppress(Exception):
                raw.rollback()
            raise KBError(f"the KB database {self.location} failed: "
                          f"{str(exc).strip().splitlines()[0]}") from exc
        except BaseException:
            with contextlib.suppress(Exception):
                raw.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                raw.close()   # back to the pool (a broken one is discarded)

    def read(self):
        return self._connection(lock=False)

    def write(self, lock: bool = True):
        """A transaction; ``lock``: holding the KB write lock (see the module
        docstring). Tables other than the KB's (feedback) need no lock."""
        return self._connection(lock=lock)

    def has_table(self, con, name: str) -> bool:
        return con.execute("SELECT to_regclass(?)", (name,)).fetchone()[0] is not None

    def close(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None


def open_db(url_or_path: str | Path, timeout: float = 30.0):
    """A :class:`SQLiteDB` for a path or ``sqlite:///`` URL, a :class:`PostgresDB`
    for a ``postgresql://`` URL."""
    text = str(url_or_path)
    if is_postgres(text):
        return PostgresDB(text, timeout)
    if text.startswith("sqlite:///"):
        return SQLiteDB(text[len("sqlite:///"):], timeout)
    if "://" in text or text.startswith("sqlite:"):
        raise KBError(f"KB URL {redact(text)!r} is not supported; expected sqlite:///PATH "
                      "or postgresql://user@host:port/db")
    return SQLiteDB(text, timeout)
