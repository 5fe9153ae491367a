"""The incident store: recent orders, incidents, "not the same" marks and an audit
log, in SQL through SQLAlchemy Core, so one code path serves SQLite (the home's
file, the default) and PostgreSQL (a URL).

Every change is one transaction that also writes its audit row; the audit log's
ids only grow, so it doubles as the change feed that every serving process reads
(``changes(after)``) to keep its in-memory candidate index (``incidents.online``)
in step with what other workers and replicas wrote.

Times: ``time_h`` / ``first_seen`` / ``last_seen`` / ``closes_at`` are hours since
1970 UTC (the linker's unit, ``incidents.reports.parse_time``); ``at`` and
``created_at`` are Unix seconds. An order keeps the linker's features of its text
(places, problem classes, topic n-grams) as JSON, so an index is rebuilt without
segmenting the texts again; the text itself is stored masked (phone and ID numbers).
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterable

import sqlalchemy as sa

from foundation.db import sqlite_wal
from foundation.errors import Conflict, InvalidInput, NotFound

metadata = sa.MetaData()

orders = sa.Table(
    "incident_orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, nullable=False, index=True),
    sa.Column("time_h", sa.Float, nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("text", sa.Text, nullable=False),          # masked, normalised
    sa.Column("text_hash", sa.String(32), nullable=False, index=True),
    sa.Column("type", sa.String(200)),
    sa.Column("department", sa.String(200)),
    sa.Column("region", sa.String(200), nullable=False, index=True),
    sa.Column("places", sa.Text, nullable=False),        # JSON [[kind, core, text, start, end]]
    sa.Column("classes", sa.Text, nullable=False),       # JSON [class]
    sa.Column("topic", sa.Text, nullable=False),         # JSON {n-gram: weight}
    sa.Column("window_h", sa.Float),                     # its classes' window; NULL: none named
    sa.Column("note", sa.Text),
    sa.Column("by", sa.String(200), nullable=False),
)
incidents = sa.Table(
    "incidents", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # open, closed, merged
    sa.Column("region", sa.String(200), nullable=False, index=True),
    sa.Column("type", sa.String(200)),
    sa.Column("department", sa.String(200)),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("closes_at", sa.Float, nullable=False, index=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("note", sa.Text),                          # the latest agent note
    sa.Column("note_order_id", sa.Integer),              # the order that note came with
    sa.Column("last_order_id", sa.Integer),              # the order linked last
    sa.Column("merged_into", sa.Integer),
    sa.Column("created_at", sa.Float, nullable=False),
)
marks = sa.Table(
    "incident_marks", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, nullable=False, index=True),
    sa.Column("order_id", sa.Integer),
    sa.Column("text_hash", sa.String(32)),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)
audit = sa.Table(
    "incident_audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("incident_id", sa.Integer),
    sa.Column("order_id", sa.Integer),
    sa.Column("detail", sa.Text),                        # JSON
)
MAX_ID = 2**31 - 1     # ids beyond this are nobody's (and overflow some databases)
ACTIONS = ("record", "link", "move", "unlink", "mark", "merge", "close")


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout, as several
    workers write one file."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(conn, _record):
            sqlite_wal(conn)   # waits out another worker switching the fresh file
            cur = conn.cursor()
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
        return engine
    from foundation.db import create_engine_for

    return create_engine_for(url)   # postgresql:// → psycopg 3, pool_pre_ping


class IncidentStore:
    """``engine``: an SQLAlchemy engine or URL. ``default_window_h``: the window of
    orders that name no problem class (the linker's default)."""

    def __init__(self, engine: sa.Engine | str, default_window_h: float = 168.0):
        self.engine = make_engine(engine) if isinstance(engine, str) else engine
        self.default_window_h = float(default_window_h)
        try:
            metadata.create_all(self.engine)
        except sa.exc.DBAPIError:
            # several workers start at once: another one created a table between
            # the check and the CREATE; the second pass finds them all
            metadata.create_all(self.engine)

    # ------------------------------------------------------------------ writes
    def record(self, order: dict, by: str, incident_id: int | None = None,
               region: str | None = None) -> tuple[int, int]:
        """Insert an order (the keys of ``orders`` but id/incident_id/by/created_at)
        into ``incident_id``, or into a new incident when None. Returns
        (order id, incident id)."""
        now = time.time()
        with self.engine.begin() as conn:
            if incident_id is None:
                incident_id = conn.execute(incidents.insert().values(
                    status="open", region=order["region"], type=order.get("type"),
                    department=order.get("department"), first_seen=order["time_h"],
                    last_seen=order["time_h"], closes_at=order["time_h"], size=0,
                    created_at=now)).inserted_primary_key[0]
                action = "record"
            else:
                self._open_incident(conn, incident_id)
                action = "link"
            order_id = conn.execute(orders.insert().values(
                **order, incident_id=incident_id, by=by, created_at=now)).inserted_primary_key[0]
            values = {"last_order_id": order_id}
            if order.get("note"):
                values.update(note=order["note"], note_order_id=order_id)
            conn.execute(incidents.update().where(incidents.c.id == incident_id).values(**values))
            self._refresh(conn, incident_id)
            self._audit(conn, by, action, incident_id, order_id)
        return order_id, incident_id

    def move(self, order_id: int, incident_id: int, by: str, note: str | None = None) -> int:
        """Move a recorded order into ``incident_id`` (an agent's link)."""
        with self.engine.begin() as conn:
            self._open_incident(conn, incident_id)
            old = self._order(conn, order_id)["incident_id"]
            values = {"incident_id": incident_id}
            if note:
                values["note"] = note
            conn.execute(orders.update().where(orders.c.id == order_id).values(**values))
            inc = {"last_order_id": order_id}
            if note:
                inc.update(note=note, note_order_id=order_id)
            conn.execute(incidents.update().where(incidents.c.id == incident_id).values(**inc))
            self._refresh(conn, incident_id)
            if old != incident_id:
                self._refresh(conn, old)
            self._audit(conn, by, "move", incident_id, order_id, {"from": old})
        return incident_id

    def unlink(self, incident_id: int, order_id: int, by: str) -> int:
        """Take an order out of ``incident_id`` into an incident of its own, and
        remember that it is not that incident. Returns the new incident's id."""
        with self.engine.begin() as conn:
            row = self._order(conn, order_id)
            if row["incident_id"] != incident_id:
                raise InvalidInput(f"order {order_id} is not in incident {incident_id} "
                                   f"(it is in {row['incident_id']})")
            self._incident(conn, incident_id)
            new_id = conn.execute(incidents.insert().values(
                status="open", region=row["region"], type=row["type"],
                department=row["department"], first_seen=row["time_h"],
                last_seen=row["time_h"], closes_at=row["time_h"], size=0,
                last_order_id=order_id, created_at=time.time())).inserted_primary_key[0]
            conn.execute(orders.update().where(orders.c.id == order_id)
                         .values(incident_id=new_id))
            self._refresh(conn, new_id)
            self._refresh(conn, incident_id)
            conn.execute(marks.insert().values(incident_id=incident_id, order_id=order_id,
                                               text_hash=row["text_hash"], by=by,
                                               at=time.time()))
            self._audit(conn, by, "unlink", incident_id, order_id, {"to": new_id})
        return new_id

    def mark(self, incident_id: int, by: str, order_id: int | None = None,
             text_hash: str | None = None) -> None:
        """"Not the same": the order (or any call with this normalised text) is not
        proposed for ``incident_id`` again."""
        if order_id is None and text_hash is None:
            raise InvalidInput("a mark needs an order id or a text")
        with self.engine.begin() as conn:
            self._incident(conn, incident_id)
            if order_id is not None:
                text_hash = text_hash or self._order(conn, order_id)["text_hash"]
            conn.execute(marks.insert().values(incident_id=incident_id, order_id=order_id,
                                               text_hash=text_hash, by=by, at=time.time()))
            self._audit(conn, by, "mark", incident_id, order_id, {"text_hash": text_hash})

    def merge(self, into: int, other: int, by: str) -> None:
        """Move every order of ``other`` into ``into``; ``other`` becomes merged."""
        if into == other:
            raise InvalidInput(f"cannot merge incident {into} into itself")
        with self.engine.begin() as conn:
            self._open_incident(conn, into)
            src = self._incident(conn, other)
            if src["status"] == "merged":
                raise Conflict(f"incident {other} was already merged into "
                                   f"{src['merged_into']}")
            conn.execute(orders.update().where(orders.c.incident_id == other)
                         .values(incident_id=into))
            conn.execute(incidents.update().where(incidents.c.id == other)
                         .values(status="merged", merged_into=into, size=0))
            self._refresh(conn, into)
            self._audit(conn, by, "merge", into, None, {"other": other})

    def close(self, incident_id: int, by: str) -> None:
        with self.engine.begin() as conn:
            self._incident(conn, incident_id)
            conn.execute(incidents.update().where(incidents.c.id == incident_id)
                         .values(status="closed"))
            self._audit(conn, by, "close", incident_id, None)

    # ------------------------------------------------------------------ reads
    def incident(self, incident_id: int) -> dict:
        with self.engine.connect() as conn:
            return self._incident(conn, incident_id)

    def incidents(self, status: str | None = None, region: str | None = None,
                  now_h: float | None = None, limit: int = 50, offset: int = 0) -> list[dict]:
        """Newest activity first. ``status="open"`` means not closed or merged and
        still inside its window at ``now_h``."""
        q = sa.select(incidents).where(incidents.c.size > 0)
        if status == "open":
            q = q.where(incidents.c.status == "open")
            if now_h is not None:
                q = q.where(incidents.c.closes_at >= now_h)
        elif status is not None:
            q = q.where(incidents.c.status == status)
        if region is not None:
            q = q.where(incidents.c.region == region)
        q = q.order_by(incidents.c.last_seen.desc(), incidents.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def orders_of(self, incident_ids: Iterable[int], limit: int | None = None,
                  newest_first: bool = False) -> list[dict]:
        ids = list(incident_ids)
        order = (orders.c.time_h.desc(), orders.c.id.desc()) if newest_first else \
            (orders.c.time_h, orders.c.id)
        q = sa.select(orders).where(orders.c.incident_id.in_(ids)).order_by(*order)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def order(self, order_id: int) -> dict:
        with self.engine.connect() as conn:
            return self._order(conn, order_id)

    def recent_orders(self, since_h: float) -> list[dict]:
        """Orders of open incidents that may still link (their incident's first
        report at or after ``since_h``), in time order: what an index starts from."""
        q = (sa.select(orders).join(incidents, incidents.c.id == orders.c.incident_id)
             .where(incidents.c.status == "open", incidents.c.first_seen >= since_h)
             .order_by(orders.c.time_h, orders.c.id))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def orders_since(self, since_h: float) -> list[dict]:
        """Every order at or after ``since_h``, in no order (time, region, department,
        type, problem classes, incident; no text): what the dashboard's aggregates
        (``incidents.stats``) are counted from."""
        q = (sa.select(orders.c.id, orders.c.incident_id, orders.c.time_h, orders.c.region,
                       orders.c.department, orders.c.type, orders.c.classes)
             .where(orders.c.time_h >= since_h))   # unordered: counting needs no order
        with self.engine.connect() as conn:
            raw = conn.execute(q).all()
        parsed: dict = {}   # few distinct class lists: parse each once (50,000 rows: 3x faster)
        keys = ("id", "incident_id", "time_h", "region", "department", "type")
        return [{**dict(zip(keys, r[:6])),
                 "classes": parsed[r[6]] if r[6] in parsed else
                 parsed.setdefault(r[6], json.loads(r[6]) if r[6] else [])} for r in raw]

    def marks_of(self, incident_ids: Iterable[int] | None = None) -> list[dict]:
        q = sa.select(marks)
        if incident_ids is not None:
            q = q.where(marks.c.incident_id.in_(list(incident_ids)))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def last_change(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit.c.id), 0))).scalar()

    def changes(self, after: int, limit: int = 10_000) -> list[dict]:
        """Audit rows with id > ``after``, oldest first: the change feed."""
        q = sa.select(audit).where(audit.c.id > after).order_by(audit.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def audit_log(self, incident_id: int | None = None, limit: int = 100) -> list[dict]:
        q = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
        if incident_id is not None:
            q = q.where(audit.c.incident_id == incident_id)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        for r in rows:
            r["detail"] = json.loads(r["detail"]) if r["detail"] else {}
        return rows

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _row(conn, table: sa.Table, what: str, row_id: int) -> dict:
        """One row by id, or NotFound (ids outside the column's range included)."""
        if not 0 < row_id <= MAX_ID:
            raise NotFound(f"no {what} {row_id}")
        row = conn.execute(sa.select(table).where(table.c.id == row_id)).first()
        if row is None:
            raise NotFound(f"no {what} {row_id}")
        return dict(row._mapping)

    def _incident(self, conn, incident_id: int) -> dict:
        return self._row(conn, incidents, "incident", incident_id)

    def _open_incident(self, conn, incident_id: int) -> dict:
        row = self._incident(conn, incident_id)
        if row["status"] != "open":
            raise Conflict(f"incident {incident_id} is {row['status']}"
                               + (f" into {row['merged_into']}" if row["merged_into"] else "")
                               + "; link to an open incident")
        return row

    def _order(self, conn, order_id: int) -> dict:
        return self._row(conn, orders, "order", order_id)

    def _refresh(self, conn, incident_id: int) -> None:
        """Size, first/last seen and the closing time from the incident's orders."""
        agg = conn.execute(sa.select(
            sa.func.count(orders.c.id), sa.func.min(orders.c.time_h),
            sa.func.max(orders.c.time_h), sa.func.max(orders.c.window_h))
            .where(orders.c.incident_id == incident_id)).first()
        size, first, last, window = agg
        values: dict[str, Any] = {"size": size}
        if size:
            values.update(first_seen=first, last_seen=last,
                          closes_at=first + (window or self.default_window_h))
        conn.execute(incidents.update().where(incidents.c.id == incident_id).values(**values))

    @staticmethod
    def _audit(conn, actor: str, action: str, incident_id, order_id, detail=None) -> None:
        conn.execute(audit.insert().values(
            at=time.time(), actor=actor, action=action, incident_id=incident_id,
            order_id=order_id, detail=json.dumps(detail, ensure_ascii=False) if detail else None))
