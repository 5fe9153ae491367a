"""Batch reclassification throughput and memory, end to end.

Times the whole ``hotline reclassify`` process (start-up included) on
synthetic 200-character messages cut from the demo work orders (or the shared
real messages), for: 1 worker (same-run baseline) and 2 workers; runs are
interleaved and repeated, medians reported. Then the peak resident memory of
the process tree at 10k / 100k / 1M rows (2 workers) to show memory stays flat.

    hotline bench reclassify [--rows 20000] [--repeat 3] [--sizes 10000,100000,1000000]
    hotline bench reclassify --engine ray --rows 2000 --repeat 1 --sizes ''

``--engine ray`` adds a local Ray Data run (2 actors, Ray started by the
command) to the same interleaved rounds, next to the local-engine figures, and
writes bench/results/reclassify_ray.json.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import save

TEXT_CHARS = 200


def _sources(settings) -> list[tuple[str, str]]:
    demo = Path(settings.demo_dir) / "work_orders.csv"
    shared = Path(settings.shared_data) / "gov_messages"
    paths = [demo] if demo.is_file() else [shared / "messages_train.csv",
                                           shared / "unlabeled_messages.csv"]
    out = []
    for p in paths:
        if not p.is_file():
            continue
        with open(p, encoding="utf-8-sig", newline="") as fh:
            for r in csv.DictReader(fh):
                title, detail = (r.get("title") or "").strip(), (r.get("detail") or "").strip()
                if title or detail:
                    out.append((title, detail))
    if not out:
        raise SystemExit(f"no messages found in {paths}; run `hotline kb demo` first")
    return out


def _cut(title: str, detail: str, pool: list[tuple[str, str]], i: int) -> tuple[str, str]:
    """Exactly TEXT_CHARS characters of title + detail (padded from other messages)."""
    title = title[:60]
    body = detail
    j = i
    while len(title) + len(body) < TEXT_CHARS:
        j += 7919
        body += pool[j % len(pool)][1] or pool[j % len(pool)][0]
    return title, body[: TEXT_CHARS - len(title)]


def make_input(settings, path: Path, rows: int) -> Path:
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as fh:
            if sum(1 for _ in fh) - 1 == rows:
                return path
    pool = _sources(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "title", "detail"])
        for i, (t, d) in zip(range(rows), itertools.cycle(pool)):
            w.writerow([i, *_cut(t, d, pool, i)])
    os.replace(tmp, path)
    return path


def _tree_rss_kb(root: int) -> tuple[int, int]:
    """(sum, max) of VmRSS over ``root`` and its descendants, in kB."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    total = peak = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        kb = int(line.split()[1])
                        total += kb
                        peak = max(peak, kb)
        except OSError:
            pass
    return total, peak


def run_once(settings, inp: Path, out: Path, workers: int, model: str | None,
             engine: str = "local") -> dict:
    cmd = [sys.executable, "-m", "hotline.cli.main", "--home", str(settings.home),
           "reclassify", str(inp), "--text-cols", "title,detail", "--out", str(out),
           "--workers", str(workers), "--no-progress", "--engine", engine]
    if model:
        cmd += ["--model", model]
    t0 = time.perf_counter()
    cpu0 = os.times()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rss_sum = rss_max = 0
    while proc.poll() is None:
        s, m = _tree_rss_kb(proc.pid)
        rss_sum, rss_max = max(rss_sum, s), max(rss_max, m)
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    cpu1 = os.times()
    # CPU of the reclassify process and the workers it waited for (start-up and
    # model loads included; Ray's daemons are not children it waits for).
    cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    if proc.returncode != 0:
        raise SystemExit(f"reclassify failed ({proc.returncode}): {stderr[-2000:]}")
    with open(out, "rb") as fh:
        written = sum(1 for _ in fh) - 1
    return {"seconds": seconds, "rows_out": written, "cpu_seconds": cpu, "peak_tree_rss_mb": rss_sum / 1024,
            "peak_process_rss_mb": rss_max / 1024}


def main(settings, argv) -> int:
    ap = argparse.ArgumentParser(prog="hotline bench reclassify")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="10000,100000,1000000",
                    help="row counts for the memory runs ('' to skip)")
    ap.add_argument("--model", help="model dir (default: the current model)")
    ap.add_argument("--engine", choices=("local", "ray"), default="local",
                    help="'ray' adds a Ray Data run beside the local ones")
    args = ap.parse_args(argv)
    work = Path(settings.home) / "bench" / "reclassify"
    inp = make_input(settings, work / f"in_{args.rows}.csv", args.rows) if args.repeat else None

    configs = {"1 worker (baseline)": (1, "local"), "2 workers": (2, "local")}
    if args.engine == "ray":
        configs["ray, 2 actors (local Ray)"] = (2, "ray")
    runs: dict[str, list[dict]] = {k: [] for k in configs}
    for _ in range(args.repeat):  # interleaved, so load changes hit every config alike
        for name, (workers, engine) in configs.items():
            r = run_once(settings, inp, work / "out.csv", workers, args.model, engine)
            if r["rows_out"] != args.rows:
                raise SystemExit(f"{name}: {r['rows_out']} rows out of {args.rows}")
            runs[name].append(r)
            print(f"{name}: {args.rows / r['seconds']:.0f} rows/s", file=sys.stderr)
    figures: dict = {"rows": args.rows, "text_chars": TEXT_CHARS, "repeat": args.repeat,
                     "cpu_count": os.cpu_count(), "engine": args.engine, "throughput": {}}
    base = statistics.median(args.rows / r["seconds"] for r in runs["1 worker (baseline)"]) \
        if args.repeat else None
    for name, rs in (runs.items() if args.repeat else ()):
        rates = [args.rows / r["seconds"] for r in rs]
        med = statistics.median(rates)
        figures["throughput"][name] = {
            "median_rows_per_s": round(med, 1), "runs_rows_per_s": [round(x, 1) for x in rates],
            "ratio_vs_baseline": round(med / base, 2),
            "median_seconds_incl_startup": round(statistics.median(r["seconds"] for r in rs), 2),
            "cpu_ms_per_row_incl_startup": round(
                1000 * statistics.median(r["cpu_seconds"] for r in rs) / args.rows, 3),
        }
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    figures["memory_2_workers"] = {}
    for n in sizes:
        big = make_input(settings, work / f"in_{n}.csv", n)
        r = run_once(settings, big, work / "out_mem.csv", 2, args.model)
        figures["memory_2_workers"][str(n)] = {
            "peak_tree_rss_mb": round(r["peak_tree_rss_mb"], 1),
            "peak_process_rss_mb": round(r["peak_process_rss_mb"], 1),
            "rows_per_s": round(n / r["seconds"], 1)}
        print(f"{n} rows: tree RSS {r['peak_tree_rss_mb']:.0f} MB", file=sys.stderr)
        (work / "out_mem.csv").unlink(missing_ok=True)
        if n >= 1_000_000:
            big.unlink(missing_ok=True)  # ~600 MB; regenerated when needed
    (work / "out.csv").unlink(missing_ok=True)
    name = "reclassify" if args.repeat else "reclassify_memory"
    save(f"{name}_ray" if args.engine == "ray" else name, figures)
    return 0
