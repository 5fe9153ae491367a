"""`hotline eval incidents`: B-cubed and pairwise scores of the incident linker, the
TF-IDF baseline and all-singletons on a labelled set (docs/incidents.md)."""


def register(sub) -> None:
    p = sub.add_parser("incidents", help="evaluate incident linking (linker vs baselines)")
    p.add_argument("--data", help="labelled CSV: report_id, incident, time, region, text "
                   "(default training/data/incidents/test.csv)")
    p.add_argument("--params", help="fitted linker directory (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    import json

    from incidents.evaluate import evaluate, to_markdown
    from incidents.linker import IncidentLinker

    report = evaluate(args.data, IncidentLinker.load(args.params))
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else to_markdown(report))
    return 0
