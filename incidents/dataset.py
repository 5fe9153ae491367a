"""Labelled incident sets: CSV with columns report_id, incident, time, region, text
(training/data/incidents/dev.csv and test.csv)."""
from __future__ import annotations

import csv
from pathlib import Path

from foundation.errors import InvalidInput
from incidents.reports import BadTime, Report, parse_time

COLUMNS = ("report_id", "incident", "time", "region", "text")


def read_labelled(path: Path) -> tuple[list[str], list[Report], list[str]]:
    """(report ids, reports, gold incident ids), in file order."""
    path = Path(path)
    try:
        fh = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(f"{path} lacks the column(s) {missing}; expected {list(COLUMNS)}")
        ids, reports, gold = [], [], []
        for n, row in enumerate(reader, start=1):
            try:
                t = parse_time(row["time"])
            except BadTime as exc:
                raise BadTime(f"{path} row {n}: {exc}") from None
            ids.append(row["report_id"])
            reports.append(Report(t, row["region"], row["text"]))
            gold.append(row["incident"])
    return ids, reports, gold
