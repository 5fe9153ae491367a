"""The read-only endpoints behind the analysts' dashboard (docs/dashboard.md):
incident aggregates (``GET /v1/incidents/stats``) and the reclassification change
reports of the home (``GET /v1/reports/changes``, ``/v1/reports/changes/{id}``).

Analysts see what the incident list shows, so every view needs the incident
list's role (:data:`DASHBOARD_ROLE`). The counting is ``incidents.stats`` (pure);
the report files are read by ``hotline.change_reports`` (ids only, no paths).
"""
from __future__ import annotations

import re
import threading
import time

from flask import jsonify, request

from foundation.errors import InvalidInput
from hotline import change_reports
from hotline.http.errors import WrongType
from hotline.http.incidents import _int
from incidents import stats as incident_stats

DASHBOARD_ROLE = "agent"   # the role GET /v1/incidents needs
MAX_DAYS = 31
MAX_OPEN = 100_000         # open incidents counted per district (far beyond a real day)
STATS_TTL_S = 5.0


def register(api, desks, settings) -> None:
    # One answer per (days, tz) per process for STATS_TTL_S: every open dashboard asks
    # each 30 s, and with 50,000 orders in two weeks counting costs ~0.5 s (SQLite).
    cache: dict = {}
    cache_lock = threading.Lock()

    @api("/v1/incidents/stats", ["GET"], DASHBOARD_ROLE)
    def incident_stats_view():
        days = _int(request.args.get("days"), "days", 7, 1, MAX_DAYS)
        tz = request.args.get("tz")
        tz_minutes = 480 if tz is None else _signed(tz, "tz", -720, 840)
        desk = desks()
        key = (days, tz_minutes)
        with cache_lock:
            hit = cache.get(key)
            if hit and time.monotonic() - hit[0] < STATS_TTL_S:
                return jsonify(hit[1])
        now_h = desk.clock()
        orders = desk.store.orders_since(now_h - 2 * days * 24)
        open_rows = desk.store.incidents("open", now_h=now_h, limit=MAX_OPEN)
        answer = incident_stats.summary(orders, open_rows, now_h, days, tz_minutes)
        with cache_lock:
            cache[key] = (time.monotonic(), answer)
        return jsonify(answer)

    @api("/v1/reports/changes", ["GET"], DASHBOARD_ROLE)
    def change_report_list():
        return jsonify({"items": change_reports.list_reports(settings.home)})

    @api("/v1/reports/changes/<report_id>", ["GET"], DASHBOARD_ROLE)
    def change_report(report_id):
        return jsonify(change_reports.load_report(settings.home, report_id))


def _signed(raw: str, name: str, lo: int, hi: int) -> int:
    text = raw.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,5}", text):
        raise WrongType(f"query parameter {name}={raw[:40]!r} is not an integer "
                        "(minutes east of UTC, e.g. 480)")
    value = int(text)
    if not lo <= value <= hi:
        raise InvalidInput(f"query parameter {name}={value} is out of range [{lo}, {hi}]")
    return value
