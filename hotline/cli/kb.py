"""`hotline kb` (not built yet)."""


def register(sub) -> None:
    p = sub.add_parser("kb", help="(not built yet)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    print("hotline kb: not built yet")
    return 2
