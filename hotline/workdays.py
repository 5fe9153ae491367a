"""Reply deadlines in working days."""
from __future__ import annotations

import datetime as dt


def add_working_days(start: dt.date, days: int) -> dt.date:
    """Reply deadlines count working days (Monday–Friday); public holidays are
    not modelled."""
    d = start
    while days > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            days -= 1
    return d
