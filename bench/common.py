"""Helpers for benchmarks: timing medians, percentiles, RSS, result files."""
from __future__ import annotations

import json
import resource
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results")


def timeit(fn, repeat: int = 5, number: int = 1) -> list[float]:
    """Seconds per call of ``fn`` over ``repeat`` runs of ``number`` calls each."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - t0) / number)
    return out


def median(xs) -> float:
    return statistics.median(xs)


def percentile(xs, q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))
    return xs[i]


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def save(name: str, figures: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    from foundation.artifacts import machine_info

    figures = {"benchmark": name, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": machine_info(), **figures}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    return path


def add_driver_arg(parser) -> None:
    parser.add_argument("--driver", choices=["auto", "wrk", "python"], default="auto",
                        help="load generator: wrk if installed (auto), else Python threads")


def resolve_driver(requested: str) -> str | None:
    """The load generator to use; None (after saying why) when wrk was asked for and
    is not installed."""
    import shutil
    import sys

    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if requested == "wrk" and not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk, or `make bench-deps`)", file=sys.stderr)
        return None
    return requested
