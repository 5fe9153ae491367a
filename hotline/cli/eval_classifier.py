"""`hotline eval classifier` (not built yet)."""


def register(sub) -> None:
    p = sub.add_parser("classifier", help="(not built yet)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    print("hotline eval classifier: not built yet")
    return 2
