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


def redact(url: str) -> str:
    """The URL without its password, for messages, logs and /readyz."""
    parts = urlsplit(str(url))
    if parts.password is None:
        return str(url)
    netloc = f"{parts.username}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
