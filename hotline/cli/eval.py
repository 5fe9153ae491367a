"""`hotline eval embedder|search|classifier|urgency|incidents|coldstart|codepts`: each target lives in
hotline.cli.eval_<target>."""
import importlib

TARGETS = ("embedder", "search", "classifier", "urgency", "incidents", "coldstart", "codepts")


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate embedders, search, the classifier, the urgency rules "
                       "incident linking, cold-start routing or lead/co-handling departments")
    targets = p.add_subparsers(dest="eval_target", metavar="TARGET")
    for name in TARGETS:
        importlib.import_module(f"hotline.cli.eval_{name}").register(targets)
    p.set_defaults(func=lambda args, settings: p.print_help() or 2)
