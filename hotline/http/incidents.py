"""The incident endpoints (docs/api.md, "Incidents") and the ``incident`` field of
``/v1/analyze``.

Analysing a call records nothing (agents analyse while typing); an order is
recorded when the agent records, links or creates. Agents record, link, unlink
and mark "not the same"; editors merge and close. Every change is written with an
audit row naming the caller (``api:ROLE:KEY_ID``).

The store lives at :func:`store_url` (one place to change where it lives); each
serving process keeps one :class:`incidents.online.IncidentDesk`, opened on first
use, whose index follows the store's change feed (other workers write too).
"""
from __future__ import annotations

import logging
import threading

from flask import jsonify, request

from foundation import timing
from foundation.errors import InvalidInput
from hotline import service
from hotline.http.errors import WrongType

log = logging.getLogger("hotline.server")
MERGE_ROLE = "editor"   # merging and closing change what every agent sees
# /v1/analyze reads the store's change feed at most this often per process (one
# query: ~0.1 ms on SQLite, ~1.5 ms to a PostgreSQL server); recording an order
# and every change read it first anyway.
REFRESH_S = 0.25


def store_url(settings) -> str:
    """Where the incident store lives: the KB's database when that is a shared
    PostgreSQL (``kb_url``: every replica sees the same incidents), else the
    home's own SQLite file beside the KB's."""
    from foundation.db import shared_or_local

    return shared_or_local(settings.kb_database_url, settings.home / "incidents.sqlite3")


class Desks:
    """One desk per process, opened on first use (the app starts without it), or
    in the background by :meth:`warm` (``hotline serve`` does, per worker)."""

    def __init__(self, settings):
        from incidents.windows import from_settings

        self.settings = settings
        # checked now: a bad [incidents.window_hours] stops the app from starting,
        # not the first call that opens the desk (in a background thread)
        self.window_hours = from_settings(settings)
        self._desk = None
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self._desk is not None

    def warm(self) -> None:
        """Open the desk in a background thread (building the index from a store of
        50,000 orders takes seconds), unless it is open or opening."""
        if self._desk is None and (self._warming is None or not self._warming.is_alive()):
            def run():
                try:
                    self()
                except Exception:   # noqa: BLE001 - retried at the next call
                    log.exception("cannot open the incident store")
            self._warming = threading.Thread(target=run, name="incident-desk", daemon=True)
            self._warming.start()

    def __call__(self):
        if self._desk is None:
            with self._lock:
                if self._desk is None:
                    from incidents.online import IncidentDesk

                    self.settings.home.mkdir(parents=True, exist_ok=True)
                    self._desk = IncidentDesk.open(store_url(self.settings),
                                                   refresh_s=REFRESH_S,
                                                   window_hours=self.window_hours)
        return self._desk


def match(desks: Desks, result: dict) -> dict | None:
    """The open incident an analysed call reports (``/v1/analyze``'s ``incident``),
    or None. A store that cannot be read, or an index still loading, costs the
    field, not the analysis (nor its latency)."""
    if not desks.ready:
        desks.warm()
        return None
    try:
        with timing.phase("incident"):
            return desks().match(result["text"], result.get("region"))
    except Exception:   # noqa: BLE001 - the analysis stands without the link
        log.exception("incident match failed")
        return None


def register(api, body, by, engine, desks: Desks) -> None:
    """Add the /v1/incidents views through the app's ``api`` decorator."""

    def fields(data: dict) -> dict:
        out = {k: data.get(k) for k in ("region", "type", "department", "time", "note")}
        out["text"] = service.checked_text(engine.snapshot, data["text"])
        return out

    def created(payload: dict):
        resp = jsonify(payload)
        resp.status_code = 201
        return resp

    @api("/v1/incidents", ["GET"], "agent")
    def list_incidents():
        status = request.args.get("status", "open")
        if status not in ("open", "closed", "merged", "all"):
            raise InvalidInput(f"status {status[:40]!r} is not one of open, closed, merged, all")
        limit = _int(request.args.get("limit"), "limit", 50, 1, 500)
        offset = _int(request.args.get("offset"), "offset", 0, 0, 10**9)
        items = desks().list(None if status == "all" else status, request.args.get("region"),
                             limit=limit, offset=offset)
        return jsonify({"status": status, "offset": offset, "limit": limit, "items": items})

    @api("/v1/incidents/orders", ["POST"], "agent")
    def record_order():
        data = body("OrderRequest")
        return created(desks().record(fields(data), by(), new=bool(data.get("new"))))

    @api("/v1/incidents/<int:incident_id>", ["GET"], "agent")
    def get_incident(incident_id):
        desk = desks()
        return jsonify({**desk.get(incident_id), "orders": desk.orders(incident_id)})

    @api("/v1/incidents/<int:incident_id>/link", ["POST"], "agent")
    def link(incident_id):
        data = body("LinkRequest")
        order_id = data.get("order_id")
        if order_id is None and not data.get("text"):
            raise InvalidInput("send order_id (a recorded order) or text (a new order)")
        extra = fields(data) if data.get("text") else {"note": data.get("note")}
        return jsonify(desks().link(incident_id, by(), order_id=order_id, fields=extra))

    @api("/v1/incidents/<int:incident_id>/unlink", ["POST"], "agent")
    def unlink(incident_id):
        data = body("UnlinkRequest")
        return jsonify(desks().unlink(incident_id, data["order_id"], by()))

    @api("/v1/incidents/<int:incident_id>/not-same", ["POST"], "agent")
    def not_same(incident_id):
        data = body("NotSameRequest")
        if data.get("order_id") is None and not data.get("text"):
            raise InvalidInput("send order_id or text: what is not this incident")
        text = service.checked_text(engine.snapshot, data["text"]) if data.get("text") else None
        return jsonify(desks().not_same(incident_id, by(), order_id=data.get("order_id"),
                                        text=text))

    @api("/v1/incidents/<int:incident_id>/merge", ["POST"], MERGE_ROLE)
    def merge(incident_id):
        data = body("MergeRequest")
        return jsonify(desks().merge(incident_id, data["other"], by()))

    @api("/v1/incidents/<int:incident_id>/close", ["POST"], MERGE_ROLE)
    def close(incident_id):
        return jsonify(desks().close(incident_id, by()))

    @api("/v1/incidents/<int:incident_id>/audit", ["GET"], MERGE_ROLE)
    def audit(incident_id):
        desk = desks()
        desk.store.incident(incident_id)
        return jsonify({"id": incident_id, "items": desk.store.audit_log(incident_id)})


def _int(raw, name: str, default: int, lo: int, hi: int) -> int:
    if raw is None:
        return default
    if not raw.strip().isdigit() or len(raw) > 12:
        raise WrongType(f"query parameter {name}={raw[:40]!r} is not a non-negative integer")
    value = int(raw)
    if not lo <= value <= hi:
        raise InvalidInput(f"query parameter {name}={value} is out of range [{lo}, {hi}]")
    return value
