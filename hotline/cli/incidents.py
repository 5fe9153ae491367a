"""`hotline incidents IN --out OUT`: group reports of one incident (many callers,
one burst main); adds incident_id and incident_size. See docs/incidents.md."""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "incidents", help="link reports of the same incident in a CSV/JSONL/XLSX file",
        description="Writes every input row, in input order, plus incident_id (equal ids: one "
                    "incident) and incident_size. The input need not be sorted by time.")
    p.add_argument("input", help="input file: .csv, .jsonl or .xlsx")
    p.add_argument("--out", required=True, help="output .csv")
    p.add_argument("--text-col", default="text", help="column with the report text (default text)")
    p.add_argument("--time-col", default="time",
                   help="column with the call time, e.g. 2026-05-01 08:30 (default time)")
    p.add_argument("--region-col", default="region",
                   help="district column; reports link only within one (default region; "
                        "'' for none)")
    p.add_argument("--params", help="fitted linker directory (default: the shipped one, "
                   "fitted on training/data/incidents/dev.csv)")
    p.add_argument("--report", metavar="DIR", help="also write a summary (Markdown, JSON) to DIR")
    p.add_argument("--workers", type=int, default=2,
                   help="worker processes (default 2): each links whole districts (incidents "
                        "never span districts), or, when one district holds most rows, they "
                        "prepare the reports while this process links")
    p.add_argument("--encoding", default="auto", help="CSV/JSONL encoding (default auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    from pathlib import Path

    from foundation.errors import InvalidInput
    from hotline.batch.incidents import link_file
    from incidents.linker import IncidentLinker
    from incidents.windows import from_settings

    if args.workers < 1:
        raise InvalidInput(f"--workers {args.workers}: expected a positive integer")
    # the home's [incidents.window_hours] over the fitted windows, as the server does
    linker = IncidentLinker.load(Path(args.params) if args.params else None)
    linker = linker.with_windows(from_settings(settings))
    summary, rows = link_file(Path(args.input), Path(args.out), args.text_col, args.time_col,
                              args.region_col or None, linker=linker, encoding=args.encoding,
                              progress=not args.no_progress, workers=args.workers)
    print(f"{summary.rows} rows -> {summary.incidents} incidents ({summary.multi_report} with "
          f"more than one report, largest {summary.largest}) in {summary.seconds:.1f} s "
          f"({summary.rows_per_second:.0f} rows/s): {summary.output}", file=sys.stderr)
    if args.report:
        from hotline.batch.incident_report import write_report

        md = write_report(Path(args.report), rows)
        print(f"report: {md}", file=sys.stderr)
    print(json.dumps({"rows": summary.rows, "incidents": summary.incidents,
                      "multi_report": summary.multi_report, "largest": summary.largest,
                      "seconds": round(summary.seconds, 2), "output": summary.output},
                     ensure_ascii=False))
    return 0
