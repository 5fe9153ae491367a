"""`hotline bench` (not built yet)."""


def register(sub) -> None:
    p = sub.add_parser("bench", help="(not built yet)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    print("hotline bench: not built yet")
    return 2
