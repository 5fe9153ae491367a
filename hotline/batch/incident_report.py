"""The `hotline incidents --report DIR` summary: biggest and fastest-growing
incidents, counts by district, reports per day (Markdown and JSON)."""
from __future__ import annotations

import datetime as _dt
from collections import Counter, defaultdict
from pathlib import Path

from foundation.artifacts import write_json_atomic

_EPOCH = _dt.datetime(1970, 1, 1)


def _stamp(hours: float) -> str:
    return (_EPOCH + _dt.timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M")


def summarize(rows, top: int = 10) -> dict:
    """``rows``: (incident_id, size, time in hours, region) per report."""
    times = defaultdict(list)
    region_of = {}
    for inc, _, t, region in rows:
        times[inc].append(t)
        region_of.setdefault(inc, region)
    incidents = []
    for inc, ts in times.items():
        ts.sort()
        first_hour = sum(1 for t in ts if t - ts[0] <= 1.0)
        incidents.append({"incident_id": inc, "size": len(ts), "region": region_of[inc],
                          "first": _stamp(ts[0]), "last": _stamp(ts[-1]),
                          "reports_in_first_hour": first_hour})
    multi = [i for i in incidents if i["size"] > 1]
    by_region = Counter(i["region"] for i in multi)
    per_day = Counter(_stamp(t)[:10] for _, _, t, _ in rows)
    return {
        "reports": len(rows), "incidents": len(incidents), "multi_report": len(multi),
        "biggest": sorted(multi, key=lambda i: (-i["size"], i["first"]))[:top],
        "fastest_growing": sorted(multi, key=lambda i: (-i["reports_in_first_hour"],
                                                        i["first"]))[:top],
        "multi_report_incidents_by_region": dict(by_region.most_common()),
        "reports_per_day": dict(sorted(per_day.items())),
    }


def write_report(directory: Path, rows) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    s = summarize(rows)
    write_json_atomic(directory / "incidents.json", s)
    lines = ["# Incidents", "",
             f"{s['reports']} reports, {s['incidents']} incidents, {s['multi_report']} with "
             "more than one report.", "", "## Biggest", "",
             "| incident | reports | region | first | last |", "|---|---|---|---|---|"]
    lines += [f"| {i['incident_id']} | {i['size']} | {i['region']} | {i['first']} | {i['last']} |"
              for i in s["biggest"]]
    lines += ["", "## Fastest growing (reports in the first hour)", "",
              "| incident | first hour | reports | region | first |", "|---|---|---|---|---|"]
    lines += [f"| {i['incident_id']} | {i['reports_in_first_hour']} | {i['size']} | {i['region']} "
              f"| {i['first']} |" for i in s["fastest_growing"]]
    lines += ["", "## Multi-report incidents by region", "", "| region | incidents |", "|---|---|"]
    lines += [f"| {r or '(none)'} | {n} |" for r, n in s["multi_report_incidents_by_region"].items()]
    lines += ["", "## Reports per day", "", "| day | reports |", "|---|---|"]
    lines += [f"| {d} | {n} |" for d, n in s["reports_per_day"].items()]
    md = directory / "incidents.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return md
