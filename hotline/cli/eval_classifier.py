"""`hotline eval classifier`: per-class P/R/F1, macro-F1, confusion matrix (JSON,
Markdown, PNG), coverage at the target precision and ECE on honest splits of
the shared data, beside a TF-IDF + LinearSVC baseline from the same run."""


def register(sub) -> None:
    p = sub.add_parser("classifier", help="evaluate the classifier heads on the shared data")
    p.add_argument("--head", choices=("type", "department", "both"), default="both")
    p.add_argument("--folds", type=int, default=4, help="CV folds for the type head (default 4)")
    p.add_argument("--recipe", choices=("gov",),
                   help="gov: the `hotline train --recipe gov` models trained on the train side "
                        "of every source and scored on held-out dev sets (training/eval_gov.py)")
    p.add_argument("--min-class-count", type=int,
                   help="passed to training (rare-label handling; default as `hotline train`)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    if args.recipe:
        import time

        from training.eval_gov import run as run_gov

        out = settings.home / "reports" / f"gov-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        out.mkdir(parents=True, exist_ok=True)
        run_gov(settings, out)
        print((out / "report.md").read_text(encoding="utf-8"))
        print(f"report: {out}")
        return 0
    from training.eval_classifier import run_eval

    heads = ("department", "type") if args.head == "both" else (args.head,)
    out = run_eval(settings, heads=heads, folds=args.folds,
                   min_class_count=args.min_class_count)
    print((out / "report.md").read_text(encoding="utf-8"))
    print(f"report: {out}")
    return 0
