"""The token buckets of :mod:`hotline.http.ratelimit` in a database table, shared
by every process that opens the same database: the gunicorn workers of one
server (the default SQLite file ``HOME/run/ratelimit.sqlite3``) or replicas on
several machines (``rate_limit_url`` = the PostgreSQL database they share).

Same semantics as the in-process :class:`~hotline.http.ratelimit.RateLimiter`
(cost, debt, ``paid``, Retry-After): each check is **one** statement,
``INSERT … ON CONFLICT DO UPDATE … RETURNING``, which refills the bucket, takes
the cost when it is there and says whether it did, atomically (a row lock on
PostgreSQL, the write lock on SQLite), in autocommit: no read-then-write race
between processes and a single round trip. Time is the wall clock
(``time.time``), the one clock that processes and machines share; a replica
whose clock is behind never makes a bucket refill twice (``at`` only moves
forward).

Why not flask-limiter / ``limits``: their strategies are fixed or sliding
windows of request counts, with no debt for a request dearer than the whole
allowance (a 1,000-item batch against a smaller limit), and ``limits`` has no
SQL storage, so the bucket would still need this table.

If the database cannot be reached the request passes (logged at most once a
minute): the limiter guards against runaway clients and must not take the API
down with it.
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from foundation.db import sqlite_wal
from foundation.errors import ConfigError
from hotline.http.ratelimit import refuse

log = logging.getLogger("hotline.ratelimit")
TABLE = "hotline_ratelimit"
SWEEP_SECONDS = 60.0

_CREATE = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    bucket VARCHAR(200) PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    ok INTEGER NOT NULL)"""
# The bucket as it stands at :now: refilled by the time since ``at`` (never
# negative), at most :cap.
_ELAPSED = f"(CASE WHEN :now > {TABLE}.at THEN :now - {TABLE}.at ELSE 0 END)"
_FILLED = f"({TABLE}.tokens + {_ELAPSED} * :rate)"
_REFILLED = f"(CASE WHEN {_FILLED} > :cap THEN :cap ELSE {_FILLED} END)"
_AT = f"CASE WHEN :now > {TABLE}.at THEN :now ELSE {TABLE}.at END"
# A key without a row has a full bucket, which always holds ``need`` (<= cap).
_HIT = f"""
INSERT INTO {TABLE} (bucket, tokens, at, ok) VALUES (:key, :cap - :cost, :now, 1)
ON CONFLICT (bucket) DO UPDATE SET
    tokens = CASE WHEN {_REFILLED} >= :need THEN {_REFILLED} - :cost ELSE {_REFILLED} END,
    ok = CASE WHEN {_REFILLED} >= :need THEN 1 ELSE 0 END,
    at = {_AT}
RETURNING tokens, ok"""
_CHARGE = f"""
INSERT INTO {TABLE} (bucket, tokens, at, ok) VALUES (:key, :cap - :cost, :now, 1)
ON CONFLICT (bucket) DO UPDATE SET tokens = {_REFILLED} - :cost, ok = 1, at = {_AT}
RETURNING tokens, ok"""
_SWEEP = f"DELETE FROM {TABLE} WHERE tokens + (:now - at) * :rate >= :cap"
_COUNT = f"SELECT COUNT(*) FROM {TABLE}"


def _for_driver(sql: str, paramstyle: str) -> str:
    """``:name`` parameters as the DBAPI driver takes them (sqlite3: as written;
    psycopg: ``%(name)s``)."""
    if paramstyle in ("named", "qmark"):     # sqlite3 takes :name whatever SQLAlchemy uses
        return sql
    if paramstyle == "pyformat":
        return re.sub(r":(\w+)", r"%(\1)s", sql)
    raise ConfigError(f"rate_limit_url: a driver with paramstyle {paramstyle!r} is not "
                      f"supported; expected sqlite:/// or postgresql+psycopg://")


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=5000")
    # WAL: workers check while others write (sqlite_wal waits out another worker
    # switching the fresh file); NORMAL: a power cut may lose the last few
    # charges, which only refills some buckets early.
    sqlite_wal(dbapi_conn, 5.0)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def open_engine(url: str) -> sa.Engine:
    """An autocommit engine on ``url`` with the bucket table in it."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(f"setting rate_limit_url={url!r} is not a database URL; expected "
                          f"e.g. sqlite:///HOME/run/ratelimit.sqlite3 or "
                          f"postgresql+psycopg://user@host/db") from None
    if parsed.drivername == "postgresql":   # as kb_url is written: psycopg 3, not psycopg2
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {}
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg":
        # No WAL flush wait per check (3.6 ms -> ~0.25 ms a check on the busy
        # 2-core box, loopback): a crash
        # may lose the last few charges, which only refills some buckets early.
        connect_args["options"] = "-c synchronous_commit=off"
    engine = sa.create_engine(parsed, isolation_level="AUTOCOMMIT", connect_args=connect_args)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect() as conn:
            try:
                conn.exec_driver_sql(_CREATE)
            except sa.exc.DBAPIError:
                # Workers starting together on a fresh PostgreSQL race on
                # CREATE TABLE IF NOT EXISTS (a unique violation in pg_type).
                if not sa.inspect(conn).has_table(TABLE):
                    raise
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise ConfigError(f"rate_limit_url {parsed.render_as_string(hide_password=True)}: "
                          f"cannot open the shared rate-limit store: "
                          f"{str(exc.orig).strip().splitlines()[0]}") from None
    return engine


class SharedRateLimiter:
    """``rate_limit_store = "shared"``: the interface of ``RateLimiter`` over ``url``
    (any SQLAlchemy URL: ``sqlite:///…``, ``postgresql+psycopg://…``) or an engine."""

    def __init__(self, per_minute: int, url: "str | sa.Engine", clock=time.time):
        self.per_minute = int(per_minute)
        self.capacity = float(self.per_minute)
        self.rate = self.per_minute / 60.0
        self._clock = clock
        self.engine = url if isinstance(url, sa.Engine) else open_engine(url)
        style = self.engine.dialect.paramstyle
        self._sql = {name: _for_driver(sql, style) for name, sql in
                     (("hit", _HIT), ("charge", _CHARGE), ("sweep", _SWEEP), ("count", _COUNT))}
        self._errors = self.engine.dialect.loaded_dbapi.Error
        # Idle DBAPI connections (SQLAlchemy's pool hands them out; we keep them):
        # the driver's cursor directly is ~20 µs a check, SQLAlchemy's execute ~65.
        self._idle: list = []
        self._lock = threading.Lock()
        self._swept = clock()
        self._warned = -math.inf

    def _run(self, name: str, **params):
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(self._sql[name], params)
            row = cur.fetchone() if cur.description is not None else None   # DELETE: none
            cur.close()
        except BaseException:
            conn.invalidate()   # a broken connection: the next check opens a new one
            raise
        with self._lock:
            self._idle.append(conn)
        return row

    def _checked(self, name: str, now: float, **params):
        """(tokens, ok) from the table, or None when the database fails (the
        request then passes)."""
        try:
            row = self._run(name, now=now, cap=self.capacity, rate=self.rate, **params)
            if now - self._swept >= SWEEP_SECONDS:
                self._swept = now
                self._run("sweep", now=now, cap=self.capacity, rate=self.rate)
            return float(row[0]), bool(row[1])
        except (self._errors, sa.exc.SQLAlchemyError) as exc:
            if now - self._warned >= 60.0:
                self._warned = now
                log.warning("rate limit store unreachable, requests pass unlimited: %s",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return None

    def hit(self, key: str, cost: float = 1.0, paid: float = 0.0) -> float:
        """As ``RateLimiter.hit``: take ``cost`` or raise RateLimited taking nothing."""
        if self.per_minute <= 0:
            return math.inf
        need = min(float(cost), max(self.capacity - paid, 0.0))
        got = self._checked("hit", self._clock(), key=key, cost=float(cost), need=need)
        if got is None:
            return math.inf
        tokens, ok = got
        if not ok:
            refuse(self.per_minute, self.rate, tokens, need)
        return tokens

    def charge(self, key: str, cost: float) -> float:
        """As ``RateLimiter.charge``: take ``cost`` whatever the bucket holds."""
        if self.per_minute <= 0:
            return math.inf
        got = self._checked("charge", self._clock(), key=key, cost=float(cost))
        return math.inf if got is None else got[0]

    def __len__(self) -> int:
        return int(self._run("count")[0])

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        self.engine.dispose()
