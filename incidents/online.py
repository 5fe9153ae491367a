"""Online incident linking: does this call report an open incident?

:class:`OnlineIndex` keeps the open incidents of the store in memory, in the
batch linker's own structures (``linker._Stream``: an inverted index by region
and blocking key - place keys, problem classes, topic bigrams - over
``features.Incident`` profiles), and decides with the batch linker's decision
(:meth:`IncidentLinker.best`: the same features, weights, per-class windows and
threshold). It follows the store's audit log (``IncidentStore.changes``), so
what other workers and replicas write (orders, links, unlinks, merges, marks,
closes) reaches every process's index: new orders are added in place, the other
changes rebuild the incidents they touch from the store.

:class:`IncidentDesk` is what a service calls: match a call, record an order,
link, unlink, mark "not the same", merge, close, list.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Callable

from foundation.errors import InvalidInput
from incidents.features import Incident
from incidents.linker import IncidentLinker
from incidents.places import Place
from incidents.problems import families
from incidents.reports import Prepared, Report, parse_time, prepare
from incidents.store import IncidentStore

EXAMPLES = 3
# Audit ids are taken before commit: on PostgreSQL a transaction that commits after a
# later one is seen would be skipped by "id > last". Each catch-up re-reads this many ids
# below the last one and skips those already applied.
_LAG = 64
_PRUNE_EVERY_H = 0.25   # drop incidents past the longest window this often


def now_hours() -> float:
    return time.time() / 3600.0


def text_hash(normalised: str) -> str:
    return hashlib.sha256(normalised.strip().encode("utf-8")).hexdigest()[:32]


def hours_of(value, clock: Callable[[], float] = now_hours) -> float:
    """A request's ``time``: ISO 8601 (an offset is honoured; a naive time is UTC);
    None is now."""
    if value is None:
        return clock()
    return parse_time(str(value))


def _features_json(r: Prepared) -> dict:
    topic = {g: round(v, 4) for g, v in r.topic.items()}
    return {"places": json.dumps([[p.kind, p.core, p.text, p.start, p.end] for p in r.places],
                                 ensure_ascii=False),
            "classes": json.dumps(sorted(r.classes)),
            "topic": json.dumps(topic, ensure_ascii=False)}


def prepared_of(row: dict) -> Prepared:
    """The linker's view of a stored order, without segmenting its text again."""
    places = tuple(Place(*p) for p in json.loads(row["places"]))
    classes = frozenset(json.loads(row["classes"]))
    return Prepared(time=row["time_h"], region=row["region"], places=places,
                    keys=frozenset(p.key for p in places), classes=classes,
                    families=families(classes), topic=json.loads(row["topic"]))


class OnlineIndex:
    """Open incidents in memory, following the store. Thread-safe."""

    def __init__(self, store: IncidentStore, linker: IncidentLinker,
                 clock: Callable[[], float] = now_hours, refresh_s: float = 0.0):
        """``refresh_s``: a decision reads the change feed only if the last read is
        older than this (0: every decision); writes through this index always read it."""
        self.store, self.linker, self.clock = store, linker, clock
        self.refresh_s = refresh_s
        self._read_at = time.monotonic()               # the load below is a read
        self.params = linker._params()
        self._lock = threading.Lock()
        self._stream = linker.stream()
        self._live: dict[int, Incident] = {}          # incident id -> its current profile
        self._marks: dict[int, set] = {}              # incident id -> {order ids, text hashes}
        # audit ids applied, within (last - _LAG, last]; what the load below reads
        # may be applied again by the first catch-up: adding an order is idempotent
        recent = [c["id"] for c in store.changes(max(0, store.last_change() - _LAG))]
        self._last = max(recent, default=0)
        self._applied: set[int] = set(recent)
        self._pruned_at = self.clock()
        self._load(self.store.recent_orders(self.clock() - self._stream.reach))
        for m in store.marks_of():
            self._mark(m)

    # ------------------------------------------------------------------ state
    def _load(self, rows: list[dict]) -> None:
        for row in rows:
            self._add(row)

    def _add(self, row: dict) -> None:
        r = prepared_of(row)
        inc = self._live.get(row["incident_id"])
        if inc is not None and row["id"] in inc.members:
            return
        if inc is None:
            self._live[row["incident_id"]] = self._stream.open(r, row["id"], row["incident_id"])
        else:
            self._stream.join(inc, r, row["id"])

    def _rebuild(self, incident_id: int | None) -> None:
        """Drop the incident's profile (stale copies in the buckets are skipped:
        only ``_live`` counts) and build it again from its stored orders."""
        if incident_id is None:
            return
        self._live.pop(incident_id, None)
        try:
            row = self.store.incident(incident_id)
        except LookupError:
            return
        if row["status"] != "open":
            return
        for order in self.store.orders_of([incident_id]):
            self._add(order)

    def _mark(self, m: dict) -> None:
        s = self._marks.setdefault(m["incident_id"], set())
        if m.get("order_id") is not None:
            s.add(m["order_id"])
        if m.get("text_hash"):
            s.add(m["text_hash"])

    def catch_up(self) -> int:
        """Apply the store's changes since the last seen audit id; returns how many."""
        with self._lock:
            return self._catch_up()

    def _catch_up(self) -> int:
        self._read_at = time.monotonic()
        changes = [c for c in self.store.changes(max(0, self._last - _LAG))
                   if c["id"] not in self._applied and c["id"] > self._last - _LAG]
        for c in changes:
            self._applied.add(c["id"])
            self._last = max(self._last, c["id"])
            action, iid, oid = c["action"], c["incident_id"], c["order_id"]
            detail = json.loads(c["detail"]) if c["detail"] else {}
            if action in ("record", "link"):
                self._add(self.store.order(oid))
            elif action == "mark":
                self._mark({"incident_id": iid, "order_id": oid,
                            "text_hash": detail.get("text_hash")})
            elif action == "unlink":
                self._mark({"incident_id": iid, "order_id": oid})
                self._rebuild(iid)
                self._rebuild(detail.get("to"))
            elif action == "move":
                self._rebuild(iid)
                self._rebuild(detail.get("from"))
            elif action == "merge":
                self._live.pop(detail.get("other"), None)
                self._rebuild(iid)
            elif action == "close":
                self._live.pop(iid, None)
        if changes:
            floor = self._last - _LAG
            self._applied = {i for i in self._applied if i > floor}
        now = self.clock()
        if now - self._pruned_at > _PRUNE_EVERY_H:   # a long-running process forgets
            self._pruned_at = now                      # what no call can link to again
            oldest = now - self._stream.reach
            self._live = {i: inc for i, inc in self._live.items() if inc.first_time >= oldest}
            self._marks = {i: m for i, m in self._marks.items() if i in self._live}
        return len(changes)

    # ------------------------------------------------------------------ decision
    def decide(self, r: Prepared, order_id: int | None = None, hash_: str | None = None,
               fresh: bool = False) -> tuple[int | None, float]:
        """(incident id, probability) of the open incident ``r`` reports, or
        (None, the best probability below the threshold). ``fresh``: read the
        change feed whatever ``refresh_s`` says (before recording an order)."""
        with self._lock:
            if fresh or time.monotonic() - self._read_at >= self.refresh_s:
                self._catch_up()
            live, marks = self._live, self._marks

            def skip(inc: Incident) -> bool:
                if live.get(inc.id) is not inc:      # closed, merged or rebuilt since
                    return True
                m = marks.get(inc.id)
                return bool(m) and (order_id in m or hash_ in m)

            best, p = self.linker.best(r, self._stream.candidates(r), self.params, skip)
            return (best.id if best is not None else None), p

    def __len__(self) -> int:
        return len(self._live)


class IncidentDesk:
    """The online operations over one store and one index."""

    def __init__(self, store: IncidentStore, linker: IncidentLinker | None = None,
                 clock: Callable[[], float] = now_hours, refresh_s: float = 0.0):
        self.linker = linker or IncidentLinker.load()
        self.store = store
        self.index = OnlineIndex(store, self.linker, clock, refresh_s)
        self.clock = clock

    @classmethod
    def open(cls, url_or_engine, params_dir=None, clock=now_hours,
             refresh_s: float = 0.0, window_hours: dict | None = None) -> "IncidentDesk":
        """``window_hours``: the settings' windows over the fitted ones
        (``incidents.windows``); the store's default window follows them."""
        linker = IncidentLinker.load(params_dir).with_windows(window_hours)
        store = IncidentStore(url_or_engine, default_window_h=linker._params()[2])
        return cls(store, linker, clock, refresh_s)

    # ------------------------------------------------------------------ reading a call
    def prepare(self, text: str, region: str | None, time_h: float | None = None) -> Prepared:
        return prepare(Report(time=self.clock() if time_h is None else time_h,
                              region=region or "", text=text))

    def match(self, text: str, region: str | None, time_h: float | None = None) -> dict | None:
        """The open incident this call reports, with a confidence, or None."""
        r = self.prepare(text, region, time_h)
        incident_id, p = self.index.decide(r, hash_=text_hash(text))
        if incident_id is None:
            return None
        return {**self.summary(self.store.incident(incident_id)), "confidence": round(p, 4)}

    # ------------------------------------------------------------------ writes
    def _order(self, fields: dict, r: Prepared) -> dict:
        from index.text import mask_field

        return {"time_h": r.time, "text": mask_field(fields["text"]),
                "text_hash": text_hash(fields["text"]), "type": fields.get("type"),
                "department": fields.get("department"), "region": r.region,
                "window_h": self.linker.window_of(r.classes), "note": fields.get("note"),
                **_features_json(r)}

    def record(self, fields: dict, by: str, new: bool = False) -> dict:
        """Record an order: it joins the open incident it reports (unless marked
        not to, or ``new``), else opens one. ``fields``: text (normalised), region,
        type, department, time (ISO, optional), note."""
        r = self.prepare(fields["text"], fields.get("region"), hours_of(fields.get("time"), self.clock))
        matched, p = (None, 0.0) if new else self.index.decide(
            r, hash_=text_hash(fields["text"]), fresh=True)
        order_id, incident_id = self.store.record(self._order(fields, r), by, matched)
        self.index.catch_up()
        return {"order_id": order_id, "linked": matched is not None,
                "confidence": round(p, 4), "incident": self.get(incident_id)}

    def link(self, incident_id: int, by: str, order_id: int | None = None,
             fields: dict | None = None) -> dict:
        """Put an order into ``incident_id``: a recorded one (``order_id``) moves,
        a new one (``fields``) is recorded there."""
        if order_id is not None:
            self.store.move(order_id, incident_id, by, note=(fields or {}).get("note"))
        elif fields and fields.get("text"):
            # the agent says it is this incident: it is filed under the incident's
            # region (a caller's district may be missing or differ)
            region = self.store.incident(incident_id)["region"]
            r = self.prepare(fields["text"], region, hours_of(fields.get("time"), self.clock))
            order_id, _ = self.store.record(self._order(fields, r), by, incident_id)
        else:
            raise InvalidInput("link needs an order_id or the order's text")
        self.index.catch_up()
        return {"order_id": order_id, "incident": self.get(incident_id)}

    def unlink(self, incident_id: int, order_id: int, by: str) -> dict:
        new_id = self.store.unlink(incident_id, order_id, by)
        self.index.catch_up()
        return {"order_id": order_id, "incident": self.get(incident_id),
                "new_incident": self.get(new_id)}

    def not_same(self, incident_id: int, by: str, order_id: int | None = None,
                 text: str | None = None) -> dict:
        self.store.mark(incident_id, by, order_id=order_id,
                        text_hash=text_hash(text) if text else None)
        self.index.catch_up()
        return {"incident": self.get(incident_id)}

    def merge(self, into: int, other: int, by: str) -> dict:
        self.store.merge(into, other, by)
        self.index.catch_up()
        return {"incident": self.get(into)}

    def close(self, incident_id: int, by: str) -> dict:
        self.store.close(incident_id, by)
        self.index.catch_up()
        return {"incident": self.get(incident_id)}

    # ------------------------------------------------------------------ reads
    def summary(self, row: dict, examples: int = EXAMPLES) -> dict:
        """An incident as the API shows it."""
        recent = self.store.orders_of([row["id"]], limit=examples, newest_first=True)
        linked = next((o for o in recent if o["id"] == row["last_order_id"]), None)
        if linked is None and row["last_order_id"] is not None:
            try:
                linked = self.store.order(row["last_order_id"])
            except LookupError:
                linked = None
        is_open = row["status"] == "open" and row["closes_at"] >= self.clock()
        return {"id": row["id"], "status": "open" if is_open else (
                    "closed" if row["status"] == "open" else row["status"]),
                "size": row["size"], "region": row["region"] or None,
                "first_seen": _iso(row["first_seen"]), "last_seen": _iso(row["last_seen"]),
                "closes_at": _iso(row["closes_at"]), "department": row["department"],
                "type": row["type"], "merged_into": row["merged_into"],
                "note": row["note"],
                "last_order": _order_view(linked) if linked else None,
                "examples": [_order_view(o) for o in recent]}

    def get(self, incident_id: int) -> dict:
        return self.summary(self.store.incident(incident_id))

    def list(self, status: str | None = "open", region: str | None = None,
             limit: int = 50, offset: int = 0) -> list[dict]:
        rows = self.store.incidents(status, region, now_h=self.clock(), limit=limit,
                                    offset=offset)
        return [self.summary(r) for r in rows]

    def orders(self, incident_id: int) -> list[dict]:
        self.store.incident(incident_id)
        return [_order_view(o) for o in self.store.orders_of([incident_id])]


def _order_view(o: dict) -> dict:
    return {"id": o["id"], "time": _iso(o["time_h"]), "text": o["text"], "type": o["type"],
            "department": o["department"], "region": o["region"] or None, "note": o["note"],
            "by": o["by"]}


def _iso(hours: float | None) -> str | None:
    import datetime as dt

    if hours is None:
        return None
    return dt.datetime.fromtimestamp(hours * 3600.0, dt.timezone.utc).isoformat(timespec="seconds")
