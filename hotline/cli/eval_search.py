"""`hotline eval search` (not built yet)."""


def register(sub) -> None:
    p = sub.add_parser("search", help="(not built yet)")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    print("hotline eval search: not built yet")
    return 2
