"""Dispatch rules: China's working-day calendar, reply deadlines and urgency.

Sits on ``foundation`` (errors, settings) and ``index`` (text normalisation)
only; ``hotline`` builds one :class:`Dispatch` from the settings and uses it
for every request.
"""
from dispatch.calendar import CalendarNotCovered, WorkCalendar
from dispatch.deadlines import (Deadline, DeadlineRuleError, DeadlineRules, ExtensionLimit)
from dispatch.errors import DispatchError
from dispatch.rules import Dispatch
from dispatch.urgency import LEVELS, UrgencyResult, UrgencyRuleError, UrgencyRules

__all__ = ["CalendarNotCovered", "Deadline", "DeadlineRuleError", "DeadlineRules", "Dispatch",
           "DispatchError", "ExtensionLimit", "LEVELS", "UrgencyResult", "UrgencyRuleError",
           "UrgencyRules", "WorkCalendar"]
