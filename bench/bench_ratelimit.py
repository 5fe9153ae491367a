"""Per-request overhead of the rate limit and the metrics: ``hotline bench ratelimit
[--url postgresql://…] [--checks 5000]``.

Microseconds per limiter check (``hit``: what every /v1 request pays once, twice
when its text is over 1,000 characters) for the in-process buckets (the
baseline, same run), the shared table on a SQLite file (the default of
``hotline serve``) and, with ``--url``, on that database; and per request's
metrics (one request count + latency, 14 phase observations) in one process and
in prometheus_client's multiprocess mode (gunicorn). Results:
bench/results/ratelimit.json.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import median, save, timeit

PHASES = ("auth", "parse", "normalise", "classify", "evidence", "dispatch", "embed", "segment",
          "search_lock", "retrieve", "fuse", "highlight", "serialise", "total")
_METRICS_PROBE = """
import time
from hotline.http.metrics import Metrics
m = Metrics()
phases = {p: 0.0004 for p in %r}
def one():
    m.observe("/v1/analyze", "POST", 200, 0.005)
    m.observe_phases("/v1/analyze", phases)
for _ in range(200):
    one()
runs = []
for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(2000):
        one()
    runs.append((time.perf_counter() - t0) / 2000)
print(sorted(runs)[2])
""" % (PHASES,)


def _limiter_us(limiter, checks: int) -> float:
    keys = [f"bench-{i}" for i in range(20)]
    state = {"i": 0}

    def check():
        state["i"] += 1
        limiter.hit(keys[state["i"] % 20])

    for _ in range(200):
        check()
    return round(median(timeit(check, repeat=5, number=checks // 5)) * 1e6, 1)


def _metrics_us(multiprocess: bool) -> float:
    """In a fresh process: prometheus_client picks its mode at import."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory() as tmp:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = tmp
        out = subprocess.run([sys.executable, "-c", _METRICS_PROBE], env=env, check=True,
                             capture_output=True, text=True).stdout
    return round(float(out.strip()) * 1e6, 1)


def main(settings, argv) -> int:
    from hotline.http.ratelimit import RateLimiter
    from hotline.http.ratelimit_shared import SharedRateLimiter

    parser = argparse.ArgumentParser(prog="hotline bench ratelimit")
    parser.add_argument("--url", help="also measure the shared table on this database")
    parser.add_argument("--checks", type=int, default=5000)
    args = parser.parse_args(argv)

    big = 10 ** 9   # never refuses: the cost of a passing check
    checks = {"memory_us": _limiter_us(RateLimiter(big), args.checks)}
    with tempfile.TemporaryDirectory() as tmp:
        shared = SharedRateLimiter(big, f"sqlite:///{tmp}/ratelimit.sqlite3")
        checks["shared_sqlite_us"] = _limiter_us(shared, args.checks)
        shared.close()
    if args.url:
        shared = SharedRateLimiter(big, args.url)
        checks["shared_url_us"] = _limiter_us(shared, min(args.checks, 2000))
        shared.close()
    figures = {
        "limiter_check": checks,
        "metrics_per_request": {"single_process_us": _metrics_us(False),
                                "multiprocess_us": _metrics_us(True)},
        "cpu_count": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
    }
    save("ratelimit", figures)
    return 0
