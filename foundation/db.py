"""Database URLs to SQLAlchemy engines, for every store that can live in a shared
database (the KB, its feedback table, and others that follow the same setting).

``create_engine_for(url)`` takes the URL forms the settings accept:
``sqlite:///PATH`` and ``postgresql://user[:password]@host:port/db`` (driven by
psycopg 3). Engines are made with ``pool_pre_ping`` so a connection broken by a
database restart is replaced at its next checkout instead of failing a request.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from foundation.errors import ConfigError

POSTGRES_PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def is_postgres(url: str) -> bool:
    return str(url).startswith(POSTGRES_PREFIXES)


def create_engine_for(url: str, **kwargs):
    """A SQLAlchemy engine for a ``sqlite:///`` or ``postgresql://`` URL;
    ``kwargs`` go to ``sqlalchemy.create_engine`` (pool sizes, echo)."""
    import sqlalchemy

    url = str(url)
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    elif not url.startswith(("postgresql+psycopg://", "sqlite:")):
        raise ConfigError(f"database URL {redact(url)!r} is not supported; expected "
                          "sqlite:///PATH or postgresql://user@host:port/db")
    kwargs.setdefault("pool_pre_ping", True)
    return sqlalchemy.create_engine(url, **kwargs)


def shared_or_local(kb_url: str, local_file) -> str:
    """Where a store that replicas must share lives: the KB's database when that is
    a PostgreSQL (every replica reaches it), else a SQLite file of this home."""
    return str(kb_url) if is_postgres(kb_url) else f"sqlite:///{local_file}"


def sqlite_wal(con, timeout: float = 30.0) -> None:
    """Put a SQLite connection's database in WAL mode, waiting out other processes.

    Switching a new file to WAL takes an exclusive lock, and SQLite answers
    "database is locked" at once instead of calling the busy handler when another
    connection holds one: two server workers opening a fresh file at the same
    moment made one of them fail to boot. So retry until ``timeout``."""
    import sqlite3
    import time

    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def redact(url: str) -> str:
    """The URL without its password, for messages, logs and /readyz."""
    parts = urlsplit(str(url))
    if parts.password is None:
        return str(url)
    netloc = f"{parts.username}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
