"""`hotline reclassify IN --text-cols title,detail --out OUT`: run the current (or
a given) model over a file of past work orders; see docs/reclassify.md."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "reclassify",
        help="classify a CSV/JSONL/XLSX file of messages in bulk (parallel, resumable)",
        description="Writes every input column plus pred_type, pred_type_conf, pred_department, "
                    "pred_department_conf, pred_needs_review, pred_department_top3, "
                    "pred_urgency (紧急/较急/一般), pred_lead_department, pred_co_departments "
                    "(;-joined; docs/dispatch.md). Formats follow the "
                    "extensions (.csv, .jsonl, .xlsx).")
    p.add_argument("input", help="input file: .csv, .jsonl or .xlsx")
    p.add_argument("--out", required=True, help="output file: .csv, .jsonl or .xlsx")
    p.add_argument("--text-cols", required=True,
                   help="comma-separated columns joined into the message text, e.g. title,detail")
    p.add_argument("--model", help="model bundle directory (default: the current model)")
    p.add_argument("--departments", metavar="DEPTS.json",
                   help="route departments by this list of {name, responsibilities, keywords} "
                        "(cold start, no trained department head needed; the type head comes "
                        "from --model or the current model when there is one)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes, or Ray actors with --engine ray (default 1)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where predictions run: local processes (default) or Ray Data "
                        "(needs the ray extra; same output)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --engine ray: the cluster's head, HOST:PORT, ray://HOST:PORT or "
                        "auto (default: start a local Ray with --workers CPUs)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its checkpoint")
    p.add_argument("--compare-col",
                   help="existing label column: write a change report (Markdown, JSON, PNG)")
    p.add_argument("--compare-head", choices=("auto", "department", "type"), default="auto",
                   help="which prediction --compare-col is compared with (default: guessed "
                        "from the labels)")
    p.add_argument("--report-dir", help="where the change report goes (default OUT-stem.report/)")
    # Accepted so existing scripts keep working; the heads have one tier.
    p.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--errors", help="errors file (default OUT-stem.errors.csv)")
    p.add_argument("--chunk-size", type=int, default=512, help="rows per task (default 512)")
    p.add_argument("--encoding", default="auto",
                   help="input text encoding for CSV/JSONL (default: auto, UTF-8 or GB18030)")
    p.add_argument("--sheet", help="XLSX sheet name (default: the first sheet)")
    p.add_argument("--checkpoint-every", type=float, default=2.0, metavar="SECONDS",
                   help="seconds between checkpoints (default 2; 0 = after every chunk)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    from hotline.batch import Options, reclassify
    from foundation.errors import InvalidInput

    if args.workers < 1 or args.chunk_size < 1:
        raise InvalidInput(f"--workers {args.workers} / --chunk-size {args.chunk_size}: "
                           "expected positive integers")
    if args.fast:
        print("note: --fast has no effect (the classifier heads have a single tier)",
              file=sys.stderr)
    opts = Options(
        input=Path(args.input), out=Path(args.out),
        text_cols=[c.strip() for c in args.text_cols.split(",") if c.strip()],
        model_dir=Path(args.model) if args.model else None, workers=args.workers,
        resume=args.resume, compare_col=args.compare_col, compare_head=args.compare_head,
        report_dir=Path(args.report_dir) if args.report_dir else None,
        errors=Path(args.errors) if args.errors else None, chunk_size=args.chunk_size,
        encoding=args.encoding, sheet=args.sheet, progress=not args.no_progress,
        checkpoint_every=args.checkpoint_every, engine=args.engine,
        ray_address=args.ray_address,
        departments=Path(args.departments) if args.departments else None)
    try:
        summary = reclassify(settings, opts)
    except FileNotFoundError as exc:
        raise InvalidInput(str(exc)) from None
    s = summary
    bad = ", ".join(f"{k} {v}" for k, v in sorted(s.bad_by_code.items())) or "none"
    print(f"{s.rows_written} rows written to {s.output} in {s.seconds:.1f} s "
          f"({s.rows_per_second:.0f} rows/s); bad rows: {s.rows_bad} ({bad}) -> {s.errors_file}",
          file=sys.stderr)
    if s.resumed_at_row:
        print(f"resumed after row {s.resumed_at_row}", file=sys.stderr)
    if s.truncated:
        print(f"{s.truncated} texts were cut to {settings.max_text_chars} characters",
              file=sys.stderr)
    if s.report_dir:
        print(f"change report: {s.report_dir}/report.md ({s.changed} rows change, "
              f"{s.changed_pct}%)", file=sys.stderr)
    print(json.dumps(s.to_dict(), ensure_ascii=False))
    return 0
