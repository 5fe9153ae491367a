"""Reply deadlines from rules a centre configures (``[dispatch.deadlines]``).

The shipped defaults follow the published shape of 12345 hotline handling
rules: an urgent call is handled within 30 minutes; a consultation is answered
within 3 working days; a general request (complaint, fault) within 5 working
days; an order sent to the wrong department goes back within 1 working day;
a deadline may be extended at most three times, by 3 working days each.

Which rule applies, first match wins: urgency level > department (settings) >
request type > the department's ``reply_days`` in the taxonomy > default.
Every :class:`Deadline` names the rule that produced it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any, Mapping

from dispatch.calendar import WorkCalendar
from dispatch.errors import DispatchConfigError, DispatchError

UNITS = ("minutes", "hours", "working_days")
DEFAULTS: dict[str, Any] = {
    "default": {"working_days": 5},
    "misroute": {"working_days": 1},
    "extension": {"working_days": 3, "max": 3},
    "urgency": {"紧急": {"minutes": 30}, "较急": {"hours": 24}},
    "type": {"consult": {"working_days": 3}, "complaint": {"working_days": 5},
             "fault": {"working_days": 5}},
    "department": {},
}


class DeadlineRuleError(DispatchConfigError):
    """A deadline rule in settings that does not validate."""


class ExtensionLimit(DispatchError):
    code = "extension_limit"


@dataclass(frozen=True)
class Span:
    """One rule's time allowance: a number of minutes, hours or working days."""

    unit: str
    amount: int

    def describe(self) -> str:
        name = {"minutes": "minute", "hours": "hour", "working_days": "working day"}[self.unit]
        return f"{self.amount} {name}{'' if self.amount == 1 else 's'}"


@dataclass(frozen=True)
class Deadline:
    due: dt.datetime
    rule: str
    unit: str
    amount: int
    extensions: int = 0

    @property
    def working_days(self) -> int | None:
        return self.amount if self.unit == "working_days" else None

    def to_dict(self) -> dict:
        return {"due": self.due.isoformat(timespec="minutes"), "rule": self.rule,
                "unit": self.unit, "amount": self.amount, "extensions": self.extensions}


def _span(where: str, spec: Any, extra: tuple[str, ...] = ()) -> Span:
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = {"working_days": spec}  # `consult = 3` is short for 3 working days
    if not isinstance(spec, Mapping):
        raise DeadlineRuleError(f"{where} = {spec!r}: expected a table such as "
                                f"{{ working_days = 3 }} or {{ minutes = 30 }}")
    unknown = set(spec) - set(UNITS) - set(extra)
    if unknown:
        raise DeadlineRuleError(f"{where}: unknown key(s) {sorted(unknown)}; expected one of "
                                f"{list(UNITS)}{' and ' + ', '.join(extra) if extra else ''}")
    given = [u for u in UNITS if u in spec]
    if len(given) != 1:
        raise DeadlineRuleError(f"{where} = {dict(spec)!r}: expected exactly one of {list(UNITS)}")
    amount = spec[given[0]]
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise DeadlineRuleError(f"{where}.{given[0]} = {amount!r}: expected a positive integer")
    return Span(given[0], amount)


def _table(where: str, value: Any) -> Mapping:
    if not isinstance(value, Mapping):
        raise DeadlineRuleError(f"{where} = {value!r}: expected a table")
    return value


class DeadlineRules:
    """Validated deadline rules over a :class:`WorkCalendar`. ``end_of_day``
    is the time of day a working-day deadline falls due."""

    def __init__(self, rules: Mapping | None = None, calendar: WorkCalendar | None = None,
                 end_of_day: dt.time = dt.time(18, 0), urgency_levels=("紧急", "较急", "一般")):
        raw = dict(DEFAULTS)
        for key, value in (rules or {}).items():
            if key not in DEFAULTS:
                raise DeadlineRuleError(f"[dispatch.deadlines]: unknown key {key!r}; expected "
                                        f"some of {sorted(DEFAULTS)}")
            # Per-key tables merge over the defaults (a centre adds one type
            # without restating the others); single rules replace them.
            raw[key] = ({**DEFAULTS[key], **_table(f"[dispatch.deadlines.{key}]", value)}
                        if key in ("urgency", "type", "department") else value)
        self.calendar = calendar or WorkCalendar()
        self.end_of_day = end_of_day
        self.default = _span("[dispatch.deadlines] default", raw["default"])
        self.misroute_span = _span("[dispatch.deadlines] misroute", raw["misroute"])
        ext = _table("[dispatch.deadlines] extension", raw["extension"])
        self.extension_span = _span("[dispatch.deadlines] extension", ext, extra=("max",))
        self.max_extensions = ext.get("max", 3)
        if (isinstance(self.max_extensions, bool) or not isinstance(self.max_extensions, int)
                or self.max_extensions < 0):
            raise DeadlineRuleError(f"[dispatch.deadlines] extension.max = "
                                    f"{self.max_extensions!r}: expected an integer >= 0")
        self.by_urgency = {}
        for level, spec in raw["urgency"].items():
            if level not in urgency_levels:
                raise DeadlineRuleError(f"[dispatch.deadlines.urgency]: unknown level {level!r}; "
                                        f"expected one of {list(urgency_levels)}")
            self.by_urgency[level] = _span(f"[dispatch.deadlines.urgency] {level}", spec)
        self.by_type = {str(k): _span(f"[dispatch.deadlines.type] {k}", v)
                        for k, v in raw["type"].items()}
        self.by_department = {str(k): _span(f"[dispatch.deadlines.department] {k}", v)
                              for k, v in raw["department"].items()}

    # ------------------------------------------------------------ computing
    def _due(self, start: dt.datetime, span: Span) -> dt.datetime:
        if span.unit == "minutes":
            return start + dt.timedelta(minutes=span.amount)
        if span.unit == "hours":
            return start + dt.timedelta(hours=span.amount)
        day = self.calendar.add_working_days(start.date(), span.amount)
        return dt.datetime.combine(day, self.end_of_day, tzinfo=start.tzinfo)

    def _make(self, start: dt.datetime, span: Span, rule: str, extensions: int = 0) -> Deadline:
        return Deadline(self._due(start, span), f"{rule}: {span.describe()}", span.unit,
                        span.amount, extensions)

    def deadline(self, received: dt.datetime, type: str | None = None,
                 department: str | None = None, urgency: str | None = None,
                 department_days: int | None = None) -> Deadline:
        """The deadline of an order received at ``received``; ``department_days``
        is the taxonomy's (or classifier's) reply days for the department."""
        if urgency in self.by_urgency:
            return self._make(received, self.by_urgency[urgency], f"urgency={urgency}")
        if department in self.by_department:
            return self._make(received, self.by_department[department], f"department={department}")
        if type in self.by_type:
            return self._make(received, self.by_type[type], f"type={type}")
        if department_days:
            span = _span(f"taxonomy reply_days of {department}", int(department_days))
            return self._make(received, span, f"taxonomy department={department}")
        return self._make(received, self.default, "default")

    def extend(self, deadline: Deadline) -> Deadline:
        """The deadline after one more extension, counted from the current due
        date; :class:`ExtensionLimit` once ``max`` extensions were granted."""
        if deadline.extensions >= self.max_extensions:
            raise ExtensionLimit(
                f"deadline due {deadline.due.isoformat(timespec='minutes')} was already extended "
                f"{deadline.extensions} time(s); at most {self.max_extensions} extensions of "
                f"{self.extension_span.describe()} are allowed")
        n = deadline.extensions + 1
        due = self._due(deadline.due, self.extension_span)
        rule = (f"{deadline.rule}; extension {n}/{self.max_extensions}: "
                f"+{self.extension_span.describe()}")
        return replace(deadline, due=due, rule=rule, extensions=n)

    def misroute(self, received: dt.datetime) -> Deadline:
        """When a department that received a misrouted order must send it back."""
        return self._make(received, self.misroute_span, "misroute")

    def describe(self) -> dict:
        return {"default": self.default.describe(), "misroute": self.misroute_span.describe(),
                "extension": f"{self.extension_span.describe()}, at most {self.max_extensions}",
                "urgency": {k: v.describe() for k, v in self.by_urgency.items()},
                "type": {k: v.describe() for k, v in self.by_type.items()},
                "department": {k: v.describe() for k, v in self.by_department.items()},
                "calendar": self.calendar.source}
