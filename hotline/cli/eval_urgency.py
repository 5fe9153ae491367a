"""`hotline eval urgency`: urgent (紧急) recall and precision of the urgency
rules (settings' [dispatch.urgency], else the shipped ones) beside a
keyword-only baseline from the same run, on the tuning set
(training/data/urgency_dev.csv + urgency_test.csv, pooled) and the test set
written before the rules were read (training/data/urgency_test2.csv), or on
the files given."""
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("urgency", help="urgent recall/precision of the urgency rules vs keywords")
    p.add_argument("--data", type=Path, action="append",
                   help="CSV with id,text,urgent; may be repeated (default: "
                        "urgency_dev.csv + urgency_test.csv as tuning, urgency_test2.csv as test)")
    p.add_argument("--errors", action="store_true",
                   help="also list the rules' urgent errors (never on the test set: it is "
                        "not for tuning)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    from dispatch.evaluate import TEST_DATA, TUNING_DATA, evaluate, read_sets, to_text

    sets, paths = read_sets(args.data or [*TUNING_DATA, TEST_DATA])
    report = evaluate(sets, (settings.dispatch or {}).get("urgency"))
    print(to_text(report, paths))
    if args.errors:
        for e in report["errors"]:
            print(f"{e['set']}\t{e['id']}\tgold={e['gold']}\tpred={e['pred']}\t{e['text']}")
    return 0
