"""`hotline bench NAME|all`: runs bench/bench_<NAME>.py's ``main(settings, argv)``.

Each benchmark prints medians and ratios against a baseline measured in the same
run, and writes its figures to bench/results/<NAME>.json.
"""
import argparse
import importlib
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def available() -> list[str]:
    return sorted(p.stem[len("bench_"):] for p in BENCH_DIR.glob("bench_*.py"))


def register(sub) -> None:
    p = sub.add_parser("bench", help="run benchmarks (medians, ratios to a same-run baseline)")
    p.add_argument("name", help="benchmark name or 'all' (see bench/)")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    names = available() if args.name == "all" else [args.name]
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; available: {', '.join(available())}")
        return 2
    if str(BENCH_DIR.parent) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR.parent))
    rest = [a for a in args.rest if a != "--"]
    code = 0
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        code = max(code, int(module.main(settings, rest) or 0))
    return code
