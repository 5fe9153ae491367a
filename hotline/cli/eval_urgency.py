"""`hotline eval urgency`: urgent (紧急) recall and precision of the urgency
levels (settings' [dispatch.urgency], else the shipped rules and learned
signal), of the rules alone and of a keyword-only baseline, from the same run,
on the tuning set (training/data/urgency_dev, _test, _test2, _probes, pooled)
and the two test sets written blind (urgency_test3.csv, urgency_test4.csv),
or on the files given."""
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("urgency", help="urgent recall/precision of the urgency levels vs keywords")
    p.add_argument("--data", type=Path, action="append",
                   help="CSV with id,text,urgent; may be repeated (default: urgency_dev, "
                        "_test, _test2 and _probes as tuning; urgency_test3 and _test4 as tests)")
    p.add_argument("--errors", action="store_true",
                   help="also list the urgent errors (never on the test sets: they are "
                        "not for tuning)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    from dispatch.evaluate import TEST_DATA, TUNING_DATA, evaluate, read_sets, to_text

    sets, paths = read_sets(args.data or [*TUNING_DATA, *TEST_DATA])
    report = evaluate(sets, (settings.dispatch or {}).get("urgency"))
    print(to_text(report, paths))
    if args.errors:
        for e in report["errors"]:
            print(f"{e['set']}\t{e['id']}\tgold={e['gold']}\tpred={e['pred']}\t{e['text']}")
    return 0
