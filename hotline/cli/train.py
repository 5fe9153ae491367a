"""`hotline train` (not built yet)."""


def register(sub) -> None:
    p = sub.add_parser("train", help="(not built yet)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    print("hotline train: not built yet")
    return 2
