"""`hotline train`: train one classifier head into a model bundle directory,
(`--recipe gov`) both production heads for the shared gov data, or (`--demo`)
both heads on the demo work orders as the current model."""
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("train", help="train a classifier head (type or department)")
    p.add_argument("--head", choices=("type", "department"), help="which head to train")
    p.add_argument("--data", type=Path, help="training CSV")
    p.add_argument("--text-cols", default="title,detail",
                   help="comma-separated text columns; the first is the title (default title,detail)")
    p.add_argument("--label-col", help="label column (default: the head name)")
    p.add_argument("--out", type=Path, help="model bundle directory (the head goes to OUT/<head>/)")
    p.add_argument("--taxonomy", type=Path,
                   help="departments.json to ship with the bundle (evidence keywords, reply days)")
    p.add_argument("--target-precision", type=float,
                   help="precision the review thresholds aim for (default: settings.target_precision)")
    p.add_argument("--min-class-count", type=int,
                   help="labels with fewer rows are relabelled from an 'alt' column or dropped "
                        "(default: 7.5 %% of the rows for type, i.e. 30 of 400; 5 otherwise)")
    p.add_argument("--review-labels", default="",
                   help="with --head type: comma-separated labels the head learns but never "
                        "answers: a text most like one of them goes to review with the reason "
                        "type:<label> and the nearest other label (e.g. other: proposals and "
                        "thanks; the gov recipe and --demo do this for other). Default: none")
    p.add_argument("--recipe", choices=("gov", "own"),
                   help="gov: both heads from the shared gov data (setting shared_data), the "
                        "project's labels and phone-style calls, into --out; with --encoder: "
                        "fine-tune on the shared data + the project's own (gov) or on the "
                        "project's own data only (own)")
    p.add_argument("--encoder", action="store_true",
                   help="fine-tune the e5 sentence encoder into HOME/embedders/e5-hotline and make "
                        "it this home's embedder (rebuilds an existing index)")
    p.add_argument("--epochs", type=int, default=1, help="with --encoder: epochs (default 1)")
    p.add_argument("--pairs-per-source", type=int, default=1000,
                   help="with --encoder: training pairs drawn from each source (default 1000)")
    p.add_argument("--resume", action="store_true",
                   help="with --encoder: continue from the last epoch checkpoint")
    p.add_argument("--max-minutes", type=float, default=50.0,
                   help="with --encoder: time budget of the training steps; the steps left "
                        "are skipped and the model trained so far is exported (default 50, "
                        "so the whole command fits its hour on a slow machine)")
    p.add_argument("--select", choices=("measured", "tuned"), default="measured",
                   help="with --encoder: which encoder the home serves afterwards. measured "
                        "(default): the fine-tuned model or its base e5, whichever searches "
                        "the NCP dev set better, and for `hotline embed` whichever scores the "
                        "sts_zh dev pairs better (fine-tuned when there is no shared data); "
                        "tuned: the fine-tuned model for both")
    p.add_argument("--demo", action="store_true",
                   help="train both heads on HOME/demo/work_orders.csv and make them current")
    p.add_argument("--include-feedback", action="store_true",
                   help="with --demo: add agents' corrections from HOME/feedback.sqlite3 "
                        "(the KB database's feedback table when kb_url is PostgreSQL)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    import json

    from training.train_classifier import train_demo, train_head
    from training.weak_labels import unlabeled_pool

    if args.encoder:
        return run_encoder(args, settings)
    if args.demo:
        out = train_demo(settings, include_feedback=args.include_feedback, progress=True)
        print(f"trained both heads into {out}; it is now the current model")
        return 0
    if args.recipe:
        if args.out is None:
            print("hotline train: --recipe needs --out DIR")
            return 2
        from training.train_classifier import train_gov

        manifests = train_gov(settings, args.out)
        print(json.dumps({name: {"out": str(args.out / name), "rows": m["n_rows"],
                                 "labels": m["labels"],
                                 "review_labels": m.get("review_labels", []),
                                 "sources": [f"{x['name']}: {x['rows']}" for x in m["sources"]],
                                 "oof_macro_f1": m["metrics"].get("macro_f1"),
                                 "ece": m["metrics"].get("ece"),
                                 "coverage": m["metrics"].get("coverage"),
                                 "seconds": m["train_seconds"]}
                          for name, m in manifests.items()}, ensure_ascii=False, indent=2))
        return 0
    missing = [f"--{n}" for n in ("head", "data", "out") if getattr(args, n) is None]
    if missing:
        print(f"hotline train: {', '.join(missing)} required (or use --demo)")
        return 2
    if args.review_labels.strip() and args.head != "type":
        print(f"hotline train: --review-labels applies to --head type only, not {args.head!r}")
        return 2
    m = train_head(args.head, args.data, args.out,
                   [c.strip() for c in args.text_cols.split(",") if c.strip()],
                   args.label_col or args.head,
                   target_precision=args.target_precision or settings.target_precision,
                   min_class_count=args.min_class_count, taxonomy=args.taxonomy,
                   unlabeled=unlabeled_pool(settings, args.data),
                   review_labels=tuple(x.strip() for x in args.review_labels.split(",")
                                       if x.strip()))
    metrics = m.get("metrics", {})
    print(json.dumps({"head": args.head, "out": str(args.out / args.head), "rows": m["n_rows"],
                      "labels": m["labels"], "review_labels": m.get("review_labels", []),
                      "cleaning": m["cleaning"],
                      "oof_macro_f1": metrics.get("macro_f1"), "ece": metrics.get("ece"),
                      "coverage": metrics.get("coverage"),
                      "precision_automatic": metrics.get("precision_automatic"),
                      "seconds": m["train_seconds"]}, ensure_ascii=False, indent=2))
    return 0


def run_encoder(args, settings) -> int:
    import json

    from training.encoder_finetune import NAME, RECIPES, fine_tune, select_for_home

    recipe = args.recipe or "gov"
    if recipe == "gov" and not (settings.shared_data / "sts_zh").is_dir():
        print(f"hotline train --encoder --recipe gov: no shared data at {settings.shared_data} "
              f"(setting shared_data); use --recipe own to fine-tune on the project's own data only")
        return 2
    if args.max_minutes <= 0:
        print(f"hotline train: --max-minutes {args.max_minutes}: expected a positive number")
        return 2
    out = settings.embedders_root / NAME
    m = fine_tune(settings, out, epochs=args.epochs, cap=args.pairs_per_source, sources=RECIPES[recipe],
                  resume=args.resume, max_seconds=args.max_minutes * 60)
    serve, why, dev = _measured_choice(settings, NAME, args.select)
    path, warning = select_for_home(settings, serve)
    similar, similar_why, similar_dev = _similarity_choice(settings, NAME, args.select)
    _, similar_warning = select_for_home(settings, similar, key="similarity_embedder")
    t = m["training"]
    print(json.dumps({"out": str(out), "recipe": recipe, "seconds": t["seconds"], "steps": t["steps"],
                      "planned_steps": t["planned_steps"],
                      "stopped_by_time_budget": t["stopped_by_time_budget"],
                      "final_loss": t["loss_curve"][-1]["loss"] if t["loss_curve"] else None,
                      "sources": [f"{s['name']}: {s['rows']}" for s in t["sources"]],
                      "parity_int8_mean_cos": m["parity"]["onnx_int8_vs_torch"]["mean_cos"],
                      "dev": dev, "serves": serve, "why": why,
                      "similarity": {"dev": similar_dev, "serves": similar, "why": similar_why},
                      "selected_in": str(path)}, ensure_ascii=False, indent=2))
    for w in (warning, similar_warning):
        if w:
            print(f"warning: {w}")
    from foundation.artifacts import read_manifest, resolve_current
    from foundation.errors import ArtifactError

    current = resolve_current(settings.index_root)
    if current is not None:
        from hotline.cli.index import build

        try:
            built_with = read_manifest(current).get("embedder")
        except (ArtifactError, OSError):
            built_with = None
        if built_with != serve or serve == NAME:   # a new fine-tuned model: new vectors
            print(f"rebuilding the search index with {serve} (the current one was built with "
                  f"{built_with})")
            return build(settings.replace(embedder=serve))
    return 0


def _similarity_choice(settings, tuned: str, select: str) -> tuple[str, str, dict | None]:
    """(encoder `hotline embed` serves, why, the sts_zh figures or None)."""
    from training.encoder_select import choose_similarity, similarity_scores, sts_available

    return _choice(tuned, select, sts_available(settings),
                   f"no sts_zh pairs here (shared data at {settings.shared_data})",
                   "scoring the sts_zh dev pairs with the fine-tuned encoder and its base …",
                   lambda: similarity_scores(settings, tuned, "e5", progress=True),
                   choose_similarity)


def _measured_choice(settings, tuned: str, select: str) -> tuple[str, str, dict | None]:
    """(encoder the home serves, why, the dev figures or None)."""
    from training.encoder_select import choose, dev_available, dev_scores

    return _choice(tuned, select, dev_available(settings),
                   f"no NCP dev set here (shared data at {settings.shared_data})",
                   "searching the NCP dev set with the fine-tuned encoder and its base …",
                   lambda: dev_scores(settings, (tuned, "e5"), progress=True), choose)


def _choice(tuned: str, select: str, available: bool, missing: str, doing: str, measure,
            choose) -> tuple[str, str, dict | None]:
    """One role's encoder: the fine-tuned one or its base e5, measured when the
    data is here and ``--select measured``."""
    if select == "tuned":
        return tuned, "--select tuned", None
    if not available:
        return tuned, f"{missing}: {tuned} is served unmeasured", None
    print(doing, flush=True)
    scores = measure()
    serve, why = choose(scores, tuned, "e5")
    return serve, why, scores
