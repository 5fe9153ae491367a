"""Incident linking: many reports of one incident (a burst main, a dead transformer,
a factory that stopped paying wages) grouped together. See docs/incidents.md.

Sits on ``foundation`` and ``index`` only; ``hotline`` (CLI, batch) uses it."""
from incidents.linker import IncidentLinker
from incidents.metrics import bcubed, pairwise, scores
from incidents.reports import Report, parse_time

__all__ = ["IncidentLinker", "Report", "parse_time", "bcubed", "pairwise", "scores"]
