"""`hotline eval urgency`: urgent (紧急) recall and precision of the urgency
rules (settings' [dispatch.urgency], else the shipped ones) on the tuning and
held-out halves of a labelled set, beside a keyword-only baseline."""
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("urgency", help="urgent recall/precision of the urgency rules vs keywords")
    p.add_argument("--data", type=Path,
                   help="CSV with id,text,urgent (default training/data/urgency_dev.csv)")
    p.add_argument("--errors", action="store_true",
                   help="also list the rules' urgent errors on the tuning half")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    from dispatch.evaluate import DEFAULT_DATA, evaluate, read_set, to_text

    data = args.data or DEFAULT_DATA
    report = evaluate(read_set(data), (settings.dispatch or {}).get("urgency"))
    print(to_text(report, data))
    if args.errors:
        for e in report["errors"]:
            print(f"{e['id']}\tgold={e['gold']}\tpred={e['pred']}\t{e['text']}")
    return 0
