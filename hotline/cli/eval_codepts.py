"""`hotline eval codepts`: lead-department accuracy and co-handler precision/recall
of dispatch.codepts (issue clauses scored by the current model's department head,
or the cold-start router) on the project's compound/single-issue sets, beside a
same-run baseline of keyword rules alone (the department list's keywords)."""
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("codepts", help="lead and co-handling departments vs keyword rules")
    p.add_argument("--model", dest="model_dir", type=Path,
                   help="model directory (default: the current model)")
    p.add_argument("--departments", type=Path,
                   help="route by this department list alone (cold-start router, no trained "
                        "head) instead of the model")
    p.add_argument("--data", type=Path, action="append",
                   help="CSV with id,text,lead,co,kind (repeatable; default "
                        "training/data/compound/dev.csv and test.csv)")
    p.add_argument("--errors", action="store_true", help="also list the model's errors on dev")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    import json

    from classifier import load_bundle
    from dispatch.codepts_eval import DATA_DIR, evaluate, read_set, to_text
    from hotline.batch import resolve_model

    paths = args.data or [DATA_DIR / "dev.csv", DATA_DIR / "test.csv"]
    sets = {Path(p).stem: read_set(Path(p)) for p in paths}
    if args.departments:
        from classifier import ClassifierBundle
        from classifier.bundle import load_departments_file

        model_dir = f"cold-start router over {args.departments}"
        bundle = ClassifierBundle({}, departments=load_departments_file(args.departments))
    else:
        model_dir = resolve_model(settings, args.model_dir)
        bundle = load_bundle(model_dir)
    departments = list(bundle.departments.values())
    # The whole text's scores as /v1/analyze and reclassify have them: the
    # prediction's top 3 (the head alone), so the eval runs the served code path.
    report = evaluate(sets, bundle.department_scores, departments,
                      whole=lambda texts: bundle.department_scores(texts, k=3, router_weight=0))
    if args.json:
        print(json.dumps({f"{s}/{m}": {k: v for k, v in r.items() if k != "errors"}
                          for (s, m), r in report.items()}, ensure_ascii=False, indent=2))
    else:
        print(f"model {model_dir}; {len(departments)} departments in its list")
        print(to_text(report))
    if args.errors:
        for e in report.get((Path(paths[0]).stem, "model"), {}).get("errors", []):
            print(f"{e['id']}\tlead {e['gold_lead']} -> {e['lead']}\tco {e['gold_co']} -> "
                  f"{e['co']}\t{e['text']}")
    return 0
