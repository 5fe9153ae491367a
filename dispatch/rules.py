"""One :class:`Dispatch` per settings: the calendar, the deadline rules and the
urgency rules, validated together when the service (or a command) starts."""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from dispatch.calendar import CalendarNotCovered, WorkCalendar
from dispatch.deadlines import DeadlineRules
from dispatch.errors import DispatchConfigError
from dispatch.urgency import LEVELS, UrgencyResult, UrgencyRules

_KEYS = {"timezone", "end_of_day", "calendar", "deadlines", "urgency"}


def _timezone(name: Any) -> dt.tzinfo:
    if not isinstance(name, str):
        raise DispatchConfigError(f"[dispatch] timezone = {name!r}: expected a name such as "
                                  f"'Asia/Shanghai'")
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # no tz database on this machine: China has one offset, no DST
        if name in ("Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "PRC"):
            return dt.timezone(dt.timedelta(hours=8), name)
        raise DispatchConfigError(f"[dispatch] timezone = {name!r}: not a known time zone") from None


def _time(value: Any) -> dt.time:
    try:
        return value if isinstance(value, dt.time) else dt.time.fromisoformat(str(value))
    except ValueError:
        raise DispatchConfigError(f"[dispatch] end_of_day = {value!r}: expected HH:MM") from None


class Dispatch:
    """``raw`` is the settings' ``[dispatch]`` table."""

    def __init__(self, raw: Mapping | None = None):
        raw = dict(raw or {})
        unknown = set(raw) - _KEYS
        if unknown:
            raise DispatchConfigError(f"[dispatch]: unknown key(s) {sorted(unknown)}; expected "
                                      f"some of {sorted(_KEYS)}")
        self.timezone = _timezone(raw.get("timezone", "Asia/Shanghai"))
        cal = raw.get("calendar") or {}
        if not isinstance(cal, Mapping) or set(cal) - {"years"}:
            raise DispatchConfigError(f"[dispatch.calendar] = {cal!r}: expected a table with "
                                      f"only 'years'")
        self.calendar = WorkCalendar(cal.get("years"))
        deadlines = raw.get("deadlines") or {}
        if not isinstance(deadlines, Mapping):
            raise DispatchConfigError(f"[dispatch.deadlines] = {deadlines!r}: expected a table")
        self.deadlines = DeadlineRules(deadlines, self.calendar,
                                       _time(raw.get("end_of_day", "18:00")), LEVELS)
        urgency = raw.get("urgency") or {}
        if not isinstance(urgency, Mapping):
            raise DispatchConfigError(f"[dispatch.urgency] = {urgency!r}: expected a table")
        self.urgency = UrgencyRules.from_mapping(urgency)

    @classmethod
    def from_settings(cls, settings) -> "Dispatch":
        return cls(getattr(settings, "dispatch", None))

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.timezone).replace(second=0, microsecond=0)

    def assess(self, text: str, type: str | None = None, department: str | None = None,
               department_days: int | None = None, received: dt.datetime | None = None) -> dict:
        """Urgency and deadline fields of one classified text (what responses
        show). ``reply_days``/``reply_deadline`` stay for older clients. A year
        the calendar does not cover leaves the deadline empty and says why."""
        found: UrgencyResult = self.urgency.assess(text)
        received = received or self.now()
        out = {"urgency": found.to_dict()}
        try:
            d = self.deadlines.deadline(received, type=type, department=department,
                                        urgency=found.level, department_days=department_days)
        except CalendarNotCovered as exc:
            return {**out, "reply_days": None, "reply_deadline": None, "deadline": None,
                    "deadline_rule": None, "deadline_error": str(exc)}
        return {**out, "reply_days": d.working_days if d.unit == "working_days" else 0,
                "reply_deadline": d.due.date().isoformat(), "deadline": d.to_dict(),
                "deadline_rule": d.rule, "deadline_error": None}
