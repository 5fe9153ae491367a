"""`hotline model` (not built yet)."""


def register(sub) -> None:
    p = sub.add_parser("model", help="(not built yet)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    print("hotline model: not built yet")
    return 2
