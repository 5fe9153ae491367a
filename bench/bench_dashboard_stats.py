"""What the dashboard's aggregates cost: ``hotline bench dashboard_stats [--orders 50000]``.

A scratch SQLite incident store is filled (bulk insert, no linking) with N orders spread
over 14 days in incidents of 8 districts and 30 departments (sizes as in
``bench_incident_link``: about 14,000 incidents for 50,000 orders), then
``GET /v1/incidents/stats?days=7``'s work is timed: reading the orders of the last two
weeks and the open incidents (``IncidentStore.orders_since`` / ``incidents``) and
counting them (``incidents.stats.summary``). Medians of 7 runs.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import median, percentile, save

CLASSES = ["water_outage", "power_outage", "elevator", "noise", "street_lamp", "garbage"]


def fill(store, n: int, now: float, seed: int = 0) -> None:
    from incidents.store import incidents, orders

    rnd = random.Random(seed)
    regions = [f"区{i}" for i in range(8)]
    depts = [f"部门{i}" for i in range(30)]
    n_inc = max(1, int(n * 14174 / 50000))
    incs = []
    for i in range(1, n_inc + 1):
        t0 = now - rnd.uniform(0, 14 * 24)
        incs.append(dict(id=i, status="open", region=rnd.choice(regions),
                         department=rnd.choice(depts), first_seen=t0, last_seen=t0,
                         closes_at=t0 + 48, size=0, created_at=0.0))
    rows = []
    for k in range(n):
        inc = incs[k] if k < n_inc else incs[rnd.randrange(n_inc)]
        inc["size"] += 1
        rows.append(dict(incident_id=inc["id"], time_h=inc["first_seen"] + rnd.uniform(0, 10),
                         created_at=0.0, text="-", text_hash="-", type=None,
                         department=inc["department"], region=inc["region"], places="[]",
                         classes=json.dumps([rnd.choice(CLASSES)]), topic="{}", window_h=48.0,
                         by="bench"))
    with store.engine.begin() as conn:
        conn.execute(incidents.insert(), incs)
        conn.execute(orders.insert(), rows)


def main(settings, argv) -> int:
    from incidents import stats
    from incidents.online import now_hours
    from incidents.store import IncidentStore

    ap = argparse.ArgumentParser(prog="hotline bench dashboard_stats")
    ap.add_argument("--orders", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dash-stats-"))
    try:
        store = IncidentStore(f"sqlite:///{work / 'incidents.sqlite3'}")
        now = now_hours()
        fill(store, args.orders, now)
        read, count, size = [], [], 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            orders = store.orders_since(now - 14 * 24)
            open_rows = store.incidents("open", now_h=now, limit=100_000)
            t1 = time.perf_counter()
            answer = stats.summary(orders, open_rows, now, 7)
            t2 = time.perf_counter()
            read.append(t1 - t0)
            count.append(t2 - t1)
            size = len(json.dumps(answer, ensure_ascii=False).encode())
        figures = {"orders": args.orders, "open_incidents": len(open_rows),
                   "read_ms_p50": round(median(read) * 1e3, 1),
                   "read_ms_max": round(max(read) * 1e3, 1),
                   "count_ms_p50": round(median(count) * 1e3, 1),
                   "answer_bytes": size}
        print(f"{args.orders} orders, {len(open_rows)} open incidents: read "
              f"{figures['read_ms_p50']} ms p50, count {figures['count_ms_p50']} ms p50, "
              f"answer {size} bytes")
        save("dashboard_stats", figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0
