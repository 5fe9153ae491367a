"""Validate the incident-linking CSVs and print their counts (stdlib only).

Usage: python training/data/incidents/check.py [dev.csv test.csv ...]
Exits 1 if any file breaks the format described in README.md.
"""
import collections
import csv
import re
import sys
from datetime import datetime
from pathlib import Path

COLUMNS = ["report_id", "incident", "time", "region", "text"]
HERE = Path(__file__).resolve().parent


def check(path):
    errors = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    if header != COLUMNS:
        errors.append(f"header {header!r}, expected {COLUMNS!r}")
        return errors, {}
    prefix = path.stem[0]  # d for dev, t for test
    seen, times = set(), []
    for n, row in enumerate(rows, 2):
        if len(row) != len(COLUMNS):
            errors.append(f"line {n}: {len(row)} fields, expected {len(COLUMNS)}")
            continue
        rid, inc, time, region, text = row
        if not re.fullmatch(prefix + r"\d{4}", rid):
            errors.append(f"line {n}: report_id {rid!r}, expected {prefix}NNNN")
        if rid in seen:
            errors.append(f"line {n}: duplicate report_id {rid!r}")
        seen.add(rid)
        if not re.fullmatch(prefix.upper() + r"\d{3}", inc):
            errors.append(f"line {n}: incident {inc!r}, expected {prefix.upper()}NNN")
        try:
            if not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", time):
                raise ValueError
            times.append(datetime.strptime(time, "%Y-%m-%d %H:%M"))
        except ValueError:
            errors.append(f"line {n}: time {time!r}, expected YYYY-MM-DD HH:MM")
        if not region.endswith("区"):
            errors.append(f"line {n}: region {region!r}, expected a district name ending in 区")
        if not text.strip():
            errors.append(f"line {n}: empty text")
    if times != sorted(times):
        errors.append("rows are not sorted by time")
    sizes = collections.Counter(r[1] for r in rows if len(r) == len(COLUMNS))
    regions_per_inc = collections.defaultdict(set)
    for r in rows:
        if len(r) == len(COLUMNS):
            regions_per_inc[r[1]].add(r[3])
    for inc, regs in regions_per_inc.items():
        if len(regs) > 1:
            errors.append(f"incident {inc} spans regions {sorted(regs)}")
    multi = [s for s in sizes.values() if s > 1]
    stats = {
        "reports": len(rows),
        "incidents": len(sizes),
        "multi_report_incidents": len(multi),
        "single_report_incidents": len(sizes) - len(multi),
        "reports_in_multi": sum(multi),
        "largest": max(sizes.values(), default=0),
        "size_distribution": dict(sorted(collections.Counter(sizes.values()).items())),
        "regions": dict(sorted(collections.Counter(r[3] for r in rows if len(r) == len(COLUMNS)).items())),
        "time_span": f"{min(times):%Y-%m-%d %H:%M} .. {max(times):%Y-%m-%d %H:%M}" if times else "",
    }
    return errors, stats


def main(argv):
    paths = [Path(a) for a in argv] or [p for p in (HERE / "dev.csv", HERE / "test.csv") if p.exists()]
    bad = False
    regions = {}
    for path in paths:
        errors, stats = check(path)
        print(f"== {path.name}")
        for k, v in stats.items():
            print(f"  {k}: {v}")
        for e in errors:
            print(f"  ERROR {e}")
        bad |= bool(errors)
        regions[path.name] = set(stats.get("regions", {}))
    if "dev.csv" in regions and "test.csv" in regions and regions["dev.csv"] & regions["test.csv"]:
        print(f"  ERROR dev and test share districts {sorted(regions['dev.csv'] & regions['test.csv'])}")
        bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
