"""`hotline eval search`: R@1, R@5, MRR@10 of dense-only, lexical-only and fused
search on LCQMC paraphrase retrieval and the demo KB query set (default), or
the NCP policy KB with the project's written rewrites (``--task ncp``); writes
HOME/reports/search_eval.{json,md} (search_eval_ncp.* for --task ncp alone)."""
import sys


def register(sub) -> None:
    p = sub.add_parser("search", help="evaluate KB search (dense, lexical, fused)")
    p.add_argument("--no-tune", action="store_true", help="use the default fusion weights")
    p.add_argument("--limit", type=int, help="evaluate on the first N LCQMC queries only")
    p.add_argument("--kb-size", type=int, default=0,
                   help="LCQMC task on a seeded sample of N KB sentences, queries whose "
                        "paraphrase is in it (default 0: all 8,003)")
    p.add_argument("--demo-entries", type=int, default=0,
                   help="demo task on the queried entries plus a sample of others, N in all "
                        "(default 0: the whole KB)")
    p.add_argument("--task", choices=("lcqmc", "demo", "ncp"), action="append",
                   help="run only this task (repeatable; default lcqmc and demo)")
    p.add_argument("--rewrites", metavar="FILE",
                   help="ncp task: the rewrites CSV (id, style, query; default "
                        "training/data/ncp_rewrites/dev.csv)")
    p.add_argument("--export", metavar="DIR",
                   help="ncp task: also write DIR/kb.csv, queries.txt and gold.json for the "
                        "external protocol (kb import, index build, search --json; "
                        "score with `python -m training.eval_ncp score DIR RESULTS`)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    from pathlib import Path

    from training import eval_search

    tasks = tuple(args.task or ("lcqmc", "demo"))
    if (args.rewrites or args.export) and "ncp" not in tasks:
        print("error: --rewrites and --export belong to --task ncp", file=sys.stderr)
        return 2
    report = eval_search.run(settings, tune=not args.no_tune, limit=args.limit,
                             demo_entries=args.demo_entries, kb_size=args.kb_size, tasks=tasks,
                             ncp_rewrites=Path(args.rewrites) if args.rewrites else None,
                             ncp_export=Path(args.export) if args.export else None)
    # the NCP task alone has its own report, so it does not replace the LCQMC/demo one
    name = "search_eval_ncp" if tasks == ("ncp",) else "search_eval"
    jp, mp = eval_search.write_report(settings, report, name)
    print(eval_search.to_markdown(report))
    print(f"wrote {jp} and {mp}")
    return 0
