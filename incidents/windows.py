"""Incident windows set by the centre: the settings' ``[incidents.window_hours]``.

How long an incident stays open (counted from its first report) is per problem
class, the linker's own notion of the incident's type (``problems.LEXICON``:
water_outage, power_outage, noise ...), because that is what the report's text
tells both the batch (`hotline incidents`, whose input has no type column) and
``/v1/analyze`` (whose order type, consult or complaint, says nothing about how
long a burst main stays a burst main). The fitted linker brings a window per
class seen in its dev set and a default for the rest and for reports naming
none; a centre overrides any of them::

    [incidents.window_hours]
    water_outage = 24      # a main is repaired within the day here
    noise = 336
    default = 72           # classes without their own window, reports naming none

Nothing set: the fitted windows (incidents/data/default/params.json) apply.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from foundation.errors import ConfigError
from incidents.problems import LEXICON

DEFAULT = "default"
_KEYS = ("window_hours",)


def window_hours(table: Mapping[str, Any] | None) -> dict[str, float]:
    """``[incidents]`` as read from the TOML file -> {class or "default": hours},
    checked: known classes, positive finite numbers. Empty when nothing is set."""
    table = table or {}
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(f"[incidents]: unknown key(s) {unknown}; expected some of {list(_KEYS)}")
    raw = table.get("window_hours", {})
    if not isinstance(raw, Mapping):
        raise ConfigError(f"[incidents] window_hours = {raw!r}: expected a table "
                          "such as [incidents.window_hours] water_outage = 48")
    known = set(LEXICON) | {DEFAULT}
    out: dict[str, float] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"[incidents.window_hours] {key!r} is not a problem class; "
                              f"expected {DEFAULT!r} or one of {sorted(LEXICON)}")
        # bool is an int to Python; "true hours" is a mistake, not 1 h
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value <= 0):
            raise ConfigError(f"[incidents.window_hours] {key} = {value!r}: expected a "
                              "positive number of hours, e.g. 48")
        out[key] = float(value)
    return out


def from_settings(settings) -> dict[str, float]:
    return window_hours(getattr(settings, "incidents", None))
