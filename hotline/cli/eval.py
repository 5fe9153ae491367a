"""`hotline eval` (not built yet)."""


def register(sub) -> None:
    p = sub.add_parser("eval", help="(not built yet)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    print("hotline eval: not built yet")
    return 2
