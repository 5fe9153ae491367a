"""`hotline eval search`: R@1, R@5, MRR@10 of dense-only, lexical-only and fused
search on LCQMC paraphrase retrieval and the demo KB query set; writes
HOME/reports/search_eval.{json,md}."""


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
    p.add_argument("--task", choices=("lcqmc", "demo"), action="append",
                   help="run only this task (repeatable; default both)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    from training import eval_search

    report = eval_search.run(settings, tune=not args.no_tune, limit=args.limit,
                             demo_entries=args.demo_entries, kb_size=args.kb_size,
                             tasks=tuple(args.task or ("lcqmc", "demo")))
    jp, mp = eval_search.write_report(settings, report)
    print(eval_search.to_markdown(report))
    print(f"wrote {jp} and {mp}")
    return 0
