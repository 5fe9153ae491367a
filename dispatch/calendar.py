"""Working days on China's official calendar.

Statutory holidays and the make-up working days around them (调休: a Saturday
or Sunday worked in exchange) come from the maintained ``chinese-calendar``
package, which is updated each year once the State Council publishes the
next year's schedule. A year it does not cover raises
:class:`CalendarNotCovered`: a Monday–Friday guess would put deadlines inside
the Spring Festival week without anyone noticing. A centre that has the new
schedule before the package does adds the year in settings
(``[dispatch.calendar.years.2027]``, docs/dispatch.md).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from dispatch.errors import DispatchConfigError, DispatchError


class CalendarNotCovered(DispatchError):
    code = "calendar_not_covered"


def _library():
    import chinese_calendar
    from chinese_calendar import constants

    years = sorted({d.year for d in constants.holidays} | {d.year for d in constants.workdays})
    version = getattr(chinese_calendar, "__version__", "?")
    return chinese_calendar, (years[0], years[-1]), version


def _dates(year: int, key: str, values: Any) -> frozenset[dt.date]:
    where = f"[dispatch.calendar.years.{year}] {key}"
    if not isinstance(values, list):
        raise DispatchConfigError(f"{where} = {values!r}: expected a list of dates")
    out = set()
    for v in values:
        try:
            d = v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))
        except ValueError:
            raise DispatchConfigError(f"{where}: {v!r} is not a date (YYYY-MM-DD)") from None
        if d.year != year:
            raise DispatchConfigError(f"{where}: {d} is not in {year}")
        out.add(d)
    return frozenset(out)


class WorkCalendar:
    """``is_workday(date)`` and ``add_working_days(start, n)`` on the official
    calendar; ``extra_years`` maps a year to ``{"holidays": [...], "workdays":
    [...]}`` (the published schedule: holidays off, listed weekend days worked,
    other days Monday–Friday) for years the package does not cover yet."""

    def __init__(self, extra_years: Mapping | None = None):
        self.extra_years = extra_years or {}
        self._lib, self.library_years, self.library_version = _library()
        self._extra: dict[int, tuple[frozenset, frozenset]] = {}
        self._added: dict[tuple[dt.date, int], dt.date] = {}   # add_working_days, remembered
        for key, table in self.extra_years.items():
            try:
                year = int(key)
            except (TypeError, ValueError):
                raise DispatchConfigError(
                    f"[dispatch.calendar.years]: {key!r} is not a year") from None
            if not isinstance(table, Mapping):
                raise DispatchConfigError(f"[dispatch.calendar.years.{year}] must be a table")
            unknown = set(table) - {"holidays", "workdays"}
            if unknown:
                raise DispatchConfigError(f"[dispatch.calendar.years.{year}]: unknown key(s) "
                                          f"{sorted(unknown)}; expected holidays, workdays")
            holidays = _dates(year, "holidays", table.get("holidays", []))
            workdays = _dates(year, "workdays", table.get("workdays", []))
            both = sorted(holidays & workdays)
            if both:
                raise DispatchConfigError(f"[dispatch.calendar.years.{year}]: {both[0]} is both "
                                          f"a holiday and a working day")
            self._extra[year] = (holidays, workdays)

    @property
    def source(self) -> str:
        lo, hi = self.library_years
        extra = f" + settings for {sorted(self._extra)}" if self._extra else ""
        return f"chinese-calendar {self.library_version} ({lo}-{hi}){extra}"

    def covers(self, year: int) -> bool:
        lo, hi = self.library_years
        return year in self._extra or lo <= year <= hi

    def is_workday(self, day: dt.date) -> bool:
        if day.year in self._extra:  # settings win: a centre may correct the package
            holidays, workdays = self._extra[day.year]
            return day in workdays or (day.weekday() < 5 and day not in holidays)
        if not self.covers(day.year):
            lo, hi = self.library_years
            raise CalendarNotCovered(
                f"the working-day calendar does not cover {day.year} (needed for {day}): "
                f"chinese-calendar {self.library_version} covers {lo}-{hi}; upgrade the "
                f"chinese-calendar package or add [dispatch.calendar.years.{day.year}] "
                f"with that year's published holidays and make-up working days")
        return bool(self._lib.is_workday(day))

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The ``days``-th working day after ``start`` (the day of receipt is not
        counted, whether or not it is a working day); ``start`` itself for 0."""
        if days < 0:
            raise ValueError(f"days={days}: expected a non-negative number of working days")
        key = (start, days)
        got = self._added.get(key)
        if got is None:
            # Remembered: every request received on a day asks the same few questions
            # (a chinese-calendar lookup per day walked cost ~0.2 ms a request).
            d = start
            while days > 0:
                d += dt.timedelta(days=1)
                if self.is_workday(d):
                    days -= 1
            got = d
            if len(self._added) >= 1024:
                self._added.clear()
            self._added[key] = got
        return got
