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


def timeline_png(rows, ids, path: Path) -> None:
    """Cumulative reports against hours since each incident's first report, one
    line per incident (ids are ASCII: no CJK font needed)."""
    from hotline.batch.plots import _plt

    times = defaultdict(list)
    for inc, _, t, _ in rows:
        if inc in ids:
            times[inc].append(t)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for inc in ids:
        ts = sorted(times[inc])
        ax.step([t - ts[0] for t in ts], range(1, len(ts) + 1), where="post", label=inc)
    ax.set_xlabel("hours since the first report")
    ax.set_ylabel("reports")
    ax.set_title("biggest incidents")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(directory: Path, rows, plot: bool = True) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    s = summarize(rows)
    png = None
    if plot and s["biggest"]:
        try:
            timeline_png(rows, [i["incident_id"] for i in s["biggest"][:6]],
                         directory / "timeline.png")
            png = "timeline.png"
        except ImportError:   # matplotlib is optional for the report
            png = None
    write_json_atomic(directory / "incidents.json", s)
    lines = ["# Incidents", "",
             f"{s['reports']} reports, {s['incidents']} incidents, {s['multi_report']} with "
             "more than one report.", "", "## Biggest", "",
             "| incident | reports | region | first | last |", "|---|---|---|---|---|"]
    lines += [f"| {i['incident_id']} | {i['size']} | {i['region']} | {i['first']} | {i['last']} |"
              for i in s["biggest"]]
    if png:
        lines += ["", f"![cumulative reports of the biggest incidents]({png})"]
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
