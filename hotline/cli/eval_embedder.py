"""`hotline eval embedder` (not built yet)."""


def register(sub) -> None:
    p = sub.add_parser("embedder", help="(not built yet)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    print("hotline eval embedder: not built yet")
    return 2
