"""`hotline eval classifier`: per-class P/R/F1, macro-F1, confusion matrix (JSON,
Markdown, PNG), coverage at the target precision and ECE on honest splits of
the shared data, beside a TF-IDF + LinearSVC baseline from the same run."""


def register(sub) -> None:
    p = sub.add_parser("classifier", help="evaluate the classifier heads on the shared data")
    p.add_argument("--head", choices=("type", "department", "both"), default="both")
    p.add_argument("--folds", type=int, default=4, help="CV folds for the type head (default 4)")
    p.add_argument("--min-class-count", type=int,
                   help="passed to training (rare-label handling; default as `hotline train`)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    from training.eval_classifier import run_eval

    heads = ("department", "type") if args.head == "both" else (args.head,)
    out = run_eval(settings, heads=heads, folds=args.folds,
                   min_class_count=args.min_class_count)
    print((out / "report.md").read_text(encoding="utf-8"))
    print(f"report: {out}")
    return 0
