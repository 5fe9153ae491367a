"""Aggregates for the analysts' dashboard: reports per hour and per day, hot spots
by district, and what rises period over period. Pure functions over store rows
(``IncidentStore.orders_since`` and ``IncidentStore.incidents``); no HTTP, no clock.

Times are the store's hours since 1970 UTC. Days are counted in a fixed offset
from UTC (``tz_minutes``, the hotline's zone: 480 for China, which keeps no
daylight saving), so "today" is the analysts' day, not UTC's.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Iterable

from incidents.problems import LEXICON

TOP_RISING = 10
NO_DEPARTMENT = "（未填部门）"
NO_PROBLEM = "（未识别问题）"


def _iso_hour(hour: float, tz_minutes: int) -> str:
    zone = dt.timezone(dt.timedelta(minutes=tz_minutes))
    return dt.datetime.fromtimestamp(hour * 3600.0, zone).isoformat(timespec="minutes")


def buckets(times_h: Iterable[float], now_h: float, days: int, tz_minutes: int = 480) -> dict:
    """Reports per hour (``days * 24`` hours ending with the current one) and per
    local day (``days`` days ending today), oldest first, zeros included."""
    offset = tz_minutes / 60.0
    this_hour = math.floor(now_h)
    first_hour = this_hour - days * 24 + 1
    today = math.floor((now_h + offset) / 24.0)
    first_day = today - days + 1
    per_hour = [0] * (days * 24)
    per_day = [0] * days
    for t in times_h:
        h = math.floor(t) - first_hour
        if 0 <= h < len(per_hour):
            per_hour[h] += 1
        d = math.floor((t + offset) / 24.0) - first_day
        if 0 <= d < days:
            per_day[d] += 1
    return {
        "per_hour": [{"start": _iso_hour(first_hour + i, tz_minutes), "reports": n}
                     for i, n in enumerate(per_hour)],
        "per_day": [{"day": dt.date.fromordinal(dt.date(1970, 1, 1).toordinal() + first_day + i)
                     .isoformat(), "reports": n} for i, n in enumerate(per_day)],
    }


def districts(open_incidents: Iterable[dict], orders: Iterable[dict], since_h: float) -> list[dict]:
    """Per district: open incidents, the reports in them, the incidents among them
    with more than one report, and every report since ``since_h``; busiest first
    (most reports in open incidents, then most recent reports)."""
    rows: dict[str, dict] = {}

    def row(region):
        name = region or ""
        return rows.setdefault(name, {"region": name or None, "open_incidents": 0,
                                      "open_reports": 0, "multi_report": 0, "reports": 0})
    for inc in open_incidents:
        r = row(inc["region"])
        r["open_incidents"] += 1
        r["open_reports"] += inc["size"]
        r["multi_report"] += inc["size"] > 1
    for o in orders:
        if o["time_h"] >= since_h:
            row(o["region"])["reports"] += 1
    return sorted(rows.values(), key=lambda r: (-r["open_reports"], -r["reports"],
                                                r["region"] or ""))


def rising(orders: Iterable[dict], now_h: float, period_h: float, key: str,
           top: int = TOP_RISING) -> list[dict]:
    """Counts of ``key`` ("department" or "problem": the problem classes the
    report names) in the last ``period_h`` hours against the period before;
    those that grew, most growth first (ties: the larger now, then the name)."""
    this, last = Counter(), Counter()
    for o in orders:
        age = now_h - o["time_h"]
        if age < 0 or age >= 2 * period_h:
            continue
        bucket = this if age < period_h else last
        if key == "department":
            bucket[o.get("department") or NO_DEPARTMENT] += 1
        elif key == "problem":
            for c in o.get("classes") or [NO_PROBLEM]:
                bucket[c] += 1
        else:
            raise ValueError(f"rising by {key!r}: expected 'department' or 'problem'")
    out = [{"key": k, "this": this[k], "last": last[k], "delta": this[k] - last[k],
            "growth_pct": round(100.0 * (this[k] - last[k]) / last[k], 1) if last[k] else None}
           for k in this if this[k] > last[k]]
    out.sort(key=lambda r: (-r["delta"], -r["this"], r["key"]))
    if key == "problem":   # a word to show: the class's first lexicon word (停水, 电梯...)
        for r in out:
            r["label"] = LEXICON[r["key"]][1][0] if r["key"] in LEXICON else r["key"]
    return out[:top]


def summary(orders: list[dict], open_incidents: list[dict], now_h: float, days: int,
            tz_minutes: int = 480) -> dict:
    """Everything ``GET /v1/incidents/stats`` answers. ``orders``: those of the
    last ``2 * days`` days (the previous period feeds "rising")."""
    period_h = days * 24.0
    since_h = now_h - period_h
    recent = [o for o in orders if since_h <= o["time_h"] <= now_h]
    previous = sum(1 for o in orders if since_h - period_h <= o["time_h"] < since_h)
    return {
        "days": days, "tz_minutes": tz_minutes,
        "totals": {"reports": len(recent), "reports_previous": previous,
                   "open_incidents": len(open_incidents),
                   "open_reports": sum(i["size"] for i in open_incidents)},
        **buckets((o["time_h"] for o in recent), now_h, days, tz_minutes),
        "districts": districts(open_incidents, recent, since_h),
        "rising": {"department": rising(orders, now_h, period_h, "department"),
                   "problem": rising(orders, now_h, period_h, "problem")},
    }
