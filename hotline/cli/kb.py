"""`hotline kb`: maintain the knowledge base (a thin layer over kb.KBStore)."""
from __future__ import annotations

import argparse
import json
import sys

_FIELD_FLAGS = (  # (flag, entry field, is_list)
    ("--question", "question", False), ("--answer", "answer", False),
    ("--similar", "similar_questions", True), ("--department", "department", True),
    ("--category", "category", True), ("--tags", "tags", True), ("--region", "region", False),
    ("--valid-from", "valid_from", False), ("--valid-to", "valid_to", False),
    ("--status", "status", False), ("--source", "source", False),
)


def _field_options(p, required_question: bool = False) -> None:
    for flag, name, is_list in _FIELD_FLAGS:
        if is_list:
            p.add_argument(flag, dest=name, action="append", metavar="TEXT",
                           help=f"{name} item (repeat the flag, or join items with '|'); "
                                "an empty value clears the list")
        else:
            p.add_argument(flag, dest=name, metavar="TEXT",
                           required=required_question and name == "question")
    p.add_argument("--from-json", metavar="FILE", help="read fields from a JSON object ('-' = stdin); "
                   "flags override it")


class _Sub:
    """Adds the shared options (--taxonomy, --no-taxonomy, --by) to every action."""

    def __init__(self, sub, common):
        self.sub, self.common = sub, common

    def add_parser(self, name, **kw):
        return self.sub.add_parser(name, parents=[self.common], **kw)


def register(sub) -> None:
    p = sub.add_parser("kb", help="knowledge base: import/export, edit, history, stats, demo")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--taxonomy", metavar="FILE", help="departments.json to check departments "
                        "against (default HOME/demo/departments.json when it exists)")
    common.add_argument("--no-taxonomy", action="store_true", help="do not check departments")
    common.add_argument("--by", help="who makes the change (default cli:$USER)")
    kb = _Sub(p.add_subparsers(dest="kb_command", metavar="ACTION"), common)
    kb.sub.required = True

    x = kb.add_parser("import", help="import a .csv, .jsonl or .xlsx file (all-or-nothing by default)")
    x.add_argument("file")
    x.add_argument("--mode", choices=("upsert", "replace"), default="upsert",
                   help="upsert: add/update the file's entries; replace: the KB becomes the file "
                        "(entries not in it are deleted)")
    x.add_argument("--skip-invalid", action="store_true",
                   help="import the valid rows and write a report of the rejected ones")
    x.add_argument("--report", metavar="FILE", help="where --skip-invalid writes its report "
                   "(default HOME/reports/import-<name>-<time>.csv); a rejected import lists "
                   "every problem there too")
    x.add_argument("--no-progress", action="store_true")
    x.add_argument("--json", action="store_true", help="print the import report as JSON")

    x = kb.add_parser("export", help="export to a .csv, .jsonl or .xlsx file")
    x.add_argument("file")
    x.add_argument("--status", choices=("draft", "published", "retired"))

    x = kb.add_parser("get", help="show one entry")
    x.add_argument("id")
    x.add_argument("--revision", type=int, help="an earlier revision")
    x.add_argument("--json", action="store_true")

    x = kb.add_parser("add", help="add an entry")
    x.add_argument("--id", required=True)
    _field_options(x)
    x.add_argument("--json", action="store_true")

    x = kb.add_parser("update", help="update an entry based on the revision you read")
    x.add_argument("id")
    x.add_argument("--base-revision", type=int, required=True,
                   help="revision your edit is based on; a stale one fails with a conflict")
    _field_options(x)
    x.add_argument("--json", action="store_true")

    x = kb.add_parser("retire", help="retire an entry (kept, no longer served)")
    x.add_argument("id")
    x.add_argument("--base-revision", type=int, required=True)

    x = kb.add_parser("history", help="revisions of an entry")
    x.add_argument("id")
    x.add_argument("--json", action="store_true")

    x = kb.add_parser("diff", help="fields that differ between two revisions")
    x.add_argument("id")
    x.add_argument("rev_a", type=int)
    x.add_argument("rev_b", type=int)
    x.add_argument("--json", action="store_true")

    x = kb.add_parser("changes", help="the change log after a sequence number")
    x.add_argument("--since", type=int, default=0)
    x.add_argument("--limit", type=int, default=50)

    x = kb.add_parser("stats", help="counts")
    x.add_argument("--json", action="store_true")

    kb.add_parser("migrate", help="create or upgrade the KB's schema (also done when the KB is opened)")
    kb.add_parser("demo", help="build the deterministic ~23,000-entry demo KB, taxonomy and work orders")
    p.set_defaults(func=run)


def _who(args) -> str:
    if args.by:
        return args.by
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:   # no user database entry (containers)
        return "cli"


def _open(args, settings):
    import kb

    taxonomy = None if args.no_taxonomy else (args.taxonomy or "auto")
    return kb.open_store(settings, taxonomy=taxonomy)


def _fields(args) -> dict:
    out = {}
    if args.from_json:
        fh = sys.stdin if args.from_json == "-" else open(args.from_json, encoding="utf-8")
        with fh:
            out.update(json.load(fh))
    for _, name, is_list in _FIELD_FLAGS:
        value = getattr(args, name)
        if value is None:
            continue
        if is_list:
            value = [item for v in value for item in v.split("|")]
        elif name in ("valid_from", "valid_to") and value == "":
            value = None
        out[name] = value
    return out


def _print_entry(entry, as_json: bool) -> None:
    if as_json:
        print(json.dumps(entry.to_dict(), ensure_ascii=False, indent=2))
        return
    d = entry.to_dict()
    width = max(len(k) for k in d)
    for key, value in d.items():
        if isinstance(value, list):
            value = " | ".join(value)
        text = "" if value is None else str(value)
        print(f"{key:<{width}}  {text.replace(chr(10), chr(10) + ' ' * (width + 2))}")


# Problems printed for a rejected import or an invalid entry; `import --report FILE`
# writes them all.
MAX_ERROR_LINES = 20


def run(args, settings) -> int:
    from kb.errors import ValidationError

    try:
        return _dispatch(args, settings)
    except ValidationError as exc:   # one problem per line, the first MAX_ERROR_LINES
        print(f"error: {str(exc).split(': row ')[0].split(': entry')[0]}", file=sys.stderr)
        for err in exc.errors[:MAX_ERROR_LINES]:
            print(f"  {err}", file=sys.stderr)
        more = len(exc.errors) - MAX_ERROR_LINES
        report = getattr(args, "report", None) if args.kb_command == "import" else None
        if report:
            from kb.io import write_report

            print(f"  all {len(exc.errors):,} problem(s) are listed in {write_report(report, exc.errors)}",
                  file=sys.stderr)
        elif more > 0:
            hint = " (`--report FILE` lists them all)" if args.kb_command == "import" else ""
            print(f"  ... and {more:,} more{hint}", file=sys.stderr)
        return 1


def _dispatch(args, settings) -> int:
    cmd = args.kb_command
    if cmd == "demo":
        return _demo(settings)
    if cmd == "migrate":
        return _migrate(settings)
    store = _open(args, settings)
    if cmd == "import":
        return _import(args, settings, store)
    if cmd == "export":
        n = store.export_file(args.file, status=args.status)
        print(f"exported {n} entries to {args.file}")
    elif cmd == "get":
        entry = store.revision(args.id, args.revision) if args.revision else store.get(args.id)
        _print_entry(entry, args.json)
    elif cmd == "add":
        entry = store.add({"id": args.id, **_fields(args)}, by=_who(args))
        _print_entry(entry, args.json)
    elif cmd == "update":
        entry = store.update(args.id, _fields(args), args.base_revision, by=_who(args))
        _print_entry(entry, args.json)
    elif cmd == "retire":
        entry = store.retire(args.id, args.base_revision, by=_who(args))
        print(f"retired {entry.id} at revision {entry.revision}")
    elif cmd == "history":
        revs = store.history(args.id)
        if args.json:
            print(json.dumps([{"seq": r.seq, "revision": r.revision, "op": r.op, "at": r.at,
                               "by": r.by, "entry": r.entry.to_dict()} for r in revs],
                             ensure_ascii=False, indent=2))
        else:
            for r in revs:
                print(f"rev {r.revision:<4} seq {r.seq:<8} {r.op:<7} {r.at}  {r.by}  "
                      f"[{r.entry.status}] {r.entry.question}")
    elif cmd == "diff":
        changes = store.diff(args.id, args.rev_a, args.rev_b)
        if args.json:
            print(json.dumps({k: {"a": a, "b": b} for k, (a, b) in changes.items()},
                             ensure_ascii=False, indent=2))
        else:
            for key, (a, b) in changes.items():
                print(f"{key}:\n  - {a!r}\n  + {b!r}")
    elif cmd == "changes":
        for c in store.changes_since(args.since, limit=args.limit):
            print(f"{c.seq}\t{c.op}\t{c.entry_id}\t{c.revision}")
    elif cmd == "stats":
        stats = store.stats()
        if args.json:
            print(json.dumps(stats, ensure_ascii=False, indent=2))
        else:
            for key, value in stats.items():
                print(f"{key:<12} {value}")
    return 0


def _migrate(settings) -> int:
    from kb import kb_target
    from kb.db import open_db
    from kb.migrate import migrate

    db = open_db(kb_target(settings))
    try:
        before, after = migrate(db)
    finally:
        db.close()
    if before == after:
        print(f"KB {db.location}: schema version {after}, up to date")
    else:
        print(f"KB {db.location}: schema version {before or 'none'} -> {after}")
    return 0


def _import(args, settings, store) -> int:
    import time
    from pathlib import Path

    report_path = args.report
    if args.skip_invalid and not report_path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        report_path = Path(settings.home) / "reports" / f"import-{Path(args.file).stem}-{stamp}.csv"
    report = store.import_file(args.file, mode=args.mode, skip_invalid=args.skip_invalid,
                               report_path=report_path, progress=not args.no_progress,
                               by=_who(args))
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        rate = report.rows / report.seconds if report.seconds else 0
        print(f"imported {args.file} ({report.mode}): {report.rows} rows, {report.added} added, "
              f"{report.updated} updated, {report.unchanged} unchanged, {report.deleted} deleted, "
              f"{len(report.rejected)} rejected problem(s) in {report.seconds:.2f} s "
              f"({rate:,.0f} rows/s); change log now at seq {report.last_seq}")
    if report.rejected:
        print(f"skipped rows are listed in {report.report_path}", file=sys.stderr)
    return 0


def _demo(settings) -> int:
    try:
        from kb.demo import build_demo
    except ImportError as exc:   # package missing, or present without build_demo yet
        if exc.name != "kb.demo":
            raise
        print("hotline kb demo: the demo KB generator (kb/demo, kb.demo.build_demo) is not "
              "in this build yet; import your own file with `hotline kb import FILE`.",
              file=sys.stderr)
        return 2
    result = build_demo(settings)
    if result is not None:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str)
              if isinstance(result, dict) else result)
    return 0
