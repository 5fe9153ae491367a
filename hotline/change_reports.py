"""The reclassification change reports an analyst can open from the dashboard.

``hotline reclassify --compare-col COL`` writes a change report directory
(``report.json``, ``report.md``, ``changed_rows.csv``, plots; the format is
``hotline.batch.compare``) next to its output, or where ``--report-dir`` says.
The dashboard lists those under the home's reports folder, ``HOME/reports/``
(where the evaluation commands write too): each direct subdirectory whose
``report.json`` is a change report. Run ``--report-dir "$HOTLINE_HOME/reports/NAME"``
to publish one.

A report is named by its directory's name (its id) and found by looking the id
up among the listed directories: an id never becomes a path by itself, so
nothing outside the folder (``..``, absolute paths, links' targets' siblings)
can be asked for.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from foundation.errors import InvalidInput, NotFound

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
MAX_LISTED = 200
TOP = 20
_KEYS = ("rows_compared", "changed", "transitions", "shifts")


def reports_root(home: Path) -> Path:
    return Path(home) / "reports"


def _read(report_dir: Path) -> dict | None:
    """The change report's figures, or None when the directory holds none (another
    kind of report, a half-written one, unreadable JSON)."""
    path = report_dir / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not all(k in data for k in _KEYS):
        return None
    return data


def _entry(rid: str, report_dir: Path, data: dict) -> dict:
    written = (report_dir / "report.json").stat().st_mtime
    return {"id": rid,
            "written_at": dt.datetime.fromtimestamp(written, dt.timezone.utc)
            .isoformat(timespec="seconds"),
            "column": data.get("column"), "head": data.get("head"),
            "rows_compared": data["rows_compared"], "changed": data["changed"],
            "changed_pct": data.get("changed_pct"), "agreement": data.get("agreement")}


def _scan(root: Path) -> list[tuple[str, Path, dict]]:
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if not child.is_dir() or not ID.fullmatch(child.name):
            continue
        data = _read(child)
        if data is not None:
            found.append((child.name, child, data))
    return found


def list_reports(home: Path) -> list[dict]:
    """The change reports under ``HOME/reports/``, newest first (at most 200)."""
    items = [_entry(rid, d, data) for rid, d, data in _scan(reports_root(home))]
    items.sort(key=lambda e: (e["written_at"], e["id"]), reverse=True)
    return items[:MAX_LISTED]


def load_report(home: Path, rid: str) -> dict:
    """One report's summary for the dashboard: the listing's fields, the biggest
    old → new moves, the labels that shift most, changes by predicted department
    and the most confident changes (the likeliest misroutes), each cut to 20."""
    if not ID.fullmatch(rid or ""):
        raise InvalidInput(f"report id {rid[:40]!r} is not a report name; expected letters, "
                           "digits, '.', '_' or '-' (an id from GET /v1/reports/changes)")
    match = next(((d, data) for r, d, data in _scan(reports_root(home)) if r == rid), None)
    if match is None:
        raise NotFound(f"no change report {rid!r} under the home's reports folder")
    report_dir, data = match
    shifts = sorted(data.get("shifts") or [], key=lambda s: (-abs(s.get("delta") or 0),
                                                             str(s.get("label"))))
    return {**_entry(rid, report_dir, data),
            "rows_without_old_label": data.get("rows_without_old_label"),
            "transitions": [{"old": o, "new": n, "rows": c}
                            for o, n, c in (data.get("transitions") or [])[:TOP]],
            "transitions_total": len(data.get("transitions") or []),
            "shifts": shifts[:TOP],
            "changes_by_predicted_department":
                (data.get("changes_by_predicted_department") or [])[:TOP],
            "most_confident_changes": (data.get("most_confident_changes") or [])[:TOP]}
