"""A bulk import while the service answers: ``hotline bench catchup [--entries 1000,20000]``.

On a copy of the demo home (23k-entry KB, index), one app serves ``/v1/search``
from a client thread without pause; meanwhile N new entries are written to the
KB by another connection, as ``hotline kb import`` does. The engine's follower
applies them in the background. Reported per N: how long until the index holds
them all, and the request latencies (p50, p99, max) before and during the
catch-up, so a request that waited on the import would show as the max.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

from bench.common import median, percentile, save


def _entries(n: int, seed: int) -> list[dict]:
    topics = ["共享单车停放", "小区电梯年检", "夜间施工噪音", "公积金提取", "居住证办理",
              "医保异地备案", "路灯维修", "供暖费缴纳"]
    return [{"id": f"bulk-{seed}-{i}", "question": f"{topics[i % len(topics)]}问题第{i}条怎么处理",
             "similar_questions": [f"{topics[i % len(topics)]}咨询{i}"],
             "answer": f"第{i}条答复：请联系相关部门办理。", "department": []}
            for i in range(n)]


def run_one(settings, n: int) -> dict:
    from foundation.settings import Settings
    from hotline.runtime import Engine
    from kb import KBStore
    from server import create_app

    work = Path(tempfile.mkdtemp(prefix="catchup-"))
    try:
        shutil.copytree(settings.home, work / "home", symlinks=True,
                        ignore=shutil.ignore_patterns("bench", "reports", "feedback.sqlite3"))
        home_settings = Settings.load(overrides={"home": work / "home",
                                                 "api_keys": "agent:bench-key-0123456789",
                                                 "rate_limit_per_minute": 0})
        engine = Engine(home_settings)
        client = create_app(home_settings, engine=engine).test_client()
        headers = {"Authorization": "Bearer bench-key-0123456789"}
        lat: list[tuple[float, float]] = []
        stop = threading.Event()

        def load():
            queries = ["共享单车乱停放", "电梯坏了找谁", "社保卡补办", "路灯不亮", "公积金怎么取"]
            i = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                r = client.post("/v1/search", headers=headers, json={"query": queries[i % 5]})
                lat.append((t0, time.perf_counter() - t0))
                assert r.status_code == 200, r.get_data(as_text=True)
                i += 1

        thread = threading.Thread(target=load)
        thread.start()
        time.sleep(3)
        start = time.perf_counter()
        with KBStore(home_settings.kb_path) as store:
            for row in _entries(n, n):
                store.add(row)
            target = store.last_seq()
        written = time.perf_counter()
        while engine.snapshot.search.status()["seq"] < target:
            time.sleep(0.05)
        done = time.perf_counter()
        time.sleep(1)
        stop.set()
        thread.join()
        before = [s * 1000 for t, s in lat if t < start]
        during = [s * 1000 for t, s in lat if start <= t < done]

        def stats(xs):
            return {"requests": len(xs), "p50_ms": round(median(xs), 2),
                    "p99_ms": round(percentile(xs, 99), 2), "max_ms": round(max(xs), 1)}

        return {"entries": n, "write_seconds": round(written - start, 1),
                "searchable_after_s": round(done - start, 1),
                "catch_up_after_write_s": round(done - written, 1),
                "requests_before": stats(before), "requests_during": stats(during)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(settings, argv) -> int:
    ap = argparse.ArgumentParser(prog="hotline bench catchup")
    ap.add_argument("--entries", default="1000,20000")
    args = ap.parse_args(argv)
    figures = {"runs": [run_one(settings, int(n)) for n in args.entries.split(",") if n]}
    save("catchup", figures)
    return 0
