"""`hotline eval coldstart --departments FILE [--data FILE]`: macro-F1 of routing
from a department list alone (no labelled history) on labelled messages, the
plain list router beside the router with the project's written examples and
with the input's own IDF and self-training, in the same run
(training/eval_coldstart.py)."""
from pathlib import Path

DEFAULT_DATA = "gov_messages/messages_train.csv"


def register(sub) -> None:
    p = sub.add_parser("coldstart", help="routing from a department list vs the plain list router")
    p.add_argument("--departments", type=Path, required=True,
                   help="department list JSON ([{name, responsibilities, keywords}])")
    p.add_argument("--data", type=Path,
                   help=f"CSV with title,detail,label_l1 (default SHARED_DATA/{DEFAULT_DATA})")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    import json

    from foundation.errors import InvalidInput
    from training.eval_coldstart import run as evaluate, to_text

    data = args.data or Path(settings.shared_data) / DEFAULT_DATA
    if not data.is_file():
        raise InvalidInput(f"labelled data {data} does not exist; expected a CSV with "
                           f"title,detail,label_l1 (pass --data FILE)")
    report = evaluate(args.departments, data)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else to_text(report))
    return 0
