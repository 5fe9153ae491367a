"""Batch incident linking throughput: ``hotline bench incidents [--rows 20000]
[--repeat 3] [--workers 2] [--unique]``.

Writes N synthetic reports with the shape of training/data/incidents/dev.csv
(dev's texts repeated, each copy shifted by 30 days and given districts of its
own, so incidents never span copies; the file is shuffled, as an export would
be), then runs the ``hotline incidents`` CLI path in-process (read, prepare,
link, write), ``--repeat`` times (the first run includes loading the jieba
dictionary, later ones reuse it), and reports the median rows/s, the CPU time per
row (process and workers), the CPU model and the load average. ``--unique`` makes every text unique (a call
number is prepended as its own clause: 第123次来电，...), so that a per-text
cache cannot serve repeats.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import save

DEV = Path(__file__).resolve().parents[1] / "training" / "data" / "incidents" / "dev.csv"


def make_rows(n: int, unique: bool = False, seed: int = 5) -> list[dict]:
    """``n`` synthetic rows (report_id, time, region, text), in shuffled order."""
    import datetime as dt

    with open(DEV, encoding="utf-8", newline="") as fh:
        dev = list(csv.DictReader(fh))
    out = []
    for k in range(n):
        r = dev[k % len(dev)]
        copy = k // len(dev)
        t = dt.datetime.fromisoformat(r["time"]) + dt.timedelta(days=30 * copy)
        text = f"第{k}次来电，{r['text']}" if unique else r["text"]
        out.append({"report_id": f"s{k:07d}", "time": t.strftime("%Y-%m-%d %H:%M"),
                    "region": f"{r['region']}{copy % 7}", "text": text})
    random.Random(seed).shuffle(out)
    return out


def write_csv(rows: list[dict], path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _cpu() -> float:
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def main(settings, argv) -> int:
    ap = argparse.ArgumentParser(prog="hotline bench incidents")
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--unique", action="store_true", help="every text unique (no repeats)")
    args = ap.parse_args(argv)

    from foundation.artifacts import machine_info
    from hotline.cli.main import main as cli

    work = Path(tempfile.mkdtemp(prefix="incidents-bench-"))
    src = write_csv(make_rows(args.rows, args.unique), work / "in.csv")
    out = work / "out.csv"
    seconds, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), _cpu()
        code = cli(["incidents", str(src), "--out", str(out), "--workers", str(args.workers),
                    "--no-progress"])
        seconds.append(time.perf_counter() - t0)
        cpu.append(_cpu() - c0)
        if code:
            raise SystemExit(f"hotline incidents exited {code}")
    med = statistics.median(seconds)
    figures = {"rows": args.rows, "unique_texts": args.unique, "workers": args.workers,
               "repeat": args.repeat, "seconds": [round(s, 2) for s in seconds],
               "rows_per_s_median": round(args.rows / med),
               # CPU seconds of this process and its workers: on a shared machine
               # the wall clock measures the neighbours as much as the code
               "cpu_seconds": [round(c, 2) for c in cpu],
               "cpu_ms_per_row_median": round(1000 * statistics.median(cpu) / args.rows, 3),
               "cpu": machine_info().get("cpu"),
               "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}
    save("incidents" + ("_unique" if args.unique else ""), figures)
    return 0
