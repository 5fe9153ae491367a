"""KB import throughput (entries/s) for a ~23k-entry KB as CSV, XLSX and JSONL.

Baselines measured in the same run: ``import_rows`` from in-memory dicts (no
file parsing: the store's own cost) and per-entry ``add`` (one transaction
per entry, what a naive importer would do). Source entries: the KB at
``settings.kb_path`` when it holds >= 20,000 entries (after ``hotline kb
demo``), else a deterministic synthetic KB of the same shape.

    hotline bench kb_import [--n 23000] [--repeat 3] [--synthetic]
"""
from __future__ import annotations

import argparse
import random
import shutil
import time
from pathlib import Path

from bench.common import median, rss_mb, save

_WORDS = ("社保卡", "医保", "公积金", "户口", "居住证", "护照", "驾驶证", "限行", "停水", "供暖", "物业",
          "噪音", "欠薪", "退货", "入学", "出生登记", "垃圾分类", "公交卡", "不动产", "个税", "养老金",
          "残疾人补贴")
_VERBS = ("怎么办理", "需要什么材料", "在哪里办", "要多长时间", "收费吗", "可以网上办吗", "补办流程")
_DISTRICTS = ("", "", "", "临江区", "东湖区", "西城区", "北塘区")


def synthetic_rows(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic, verb = _WORDS[i % len(_WORDS)], _VERBS[(i // len(_WORDS)) % len(_VERBS)]
        region = _DISTRICTS[rng.randrange(len(_DISTRICTS))]
        start = rng.random() < 0.2
        rows.append({
            "id": f"kb{i:06d}",
            "question": f"{region}{topic}{verb}（事项{i}）",
            "similar_questions": [f"{topic}{v}（{i}）" for v in rng.sample(_VERBS, 4)],
            "answer": "\n".join(f"{k}. 请携带本人身份证原件到{region or '市'}政务服务中心{topic}窗口办理，"
                                f"工作日9:00-17:00，咨询电话12345。" for k in range(1, 4)),
            "department": [f"市{topic}主管部门"] + ([f"{region}政务服务中心"] if region else []),
            "category": ["公共服务", topic, verb],
            "tags": rng.sample(["高频", "政策", "材料", "费用", "网办"], 2),
            "region": region,
            "valid_from": "2025-01-01" if start else None,
            "valid_to": "2026-01-01" if start else None,
            "status": "published",
            "source": "bench",
        })
    return rows


def _rate(n: int, seconds: list[float]) -> float:
    return round(n / median(seconds), 1)


def main(settings, argv=None) -> int:
    from kb import KBStore

    ap = argparse.ArgumentParser(prog="hotline bench kb_import")
    ap.add_argument("--n", type=int, default=23000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true", help="ignore the KB at settings.kb_path")
    args = ap.parse_args(argv or [])

    work = Path(settings.home) / "bench" / "kb_import"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = "synthetic"
    if not args.synthetic and Path(settings.kb_path).is_file():
        with KBStore(settings.kb_path) as live:
            if live.count() >= 20000:
                rows = [e.to_dict() for e in live.iter_entries()]
                source = str(settings.kb_path)
    if source == "synthetic":
        rows = synthetic_rows(args.n)
    n = len(rows)

    src = KBStore(work / "src.sqlite3")
    src.import_rows(rows)
    files, export_s = {}, {}
    for fmt in ("csv", "jsonl", "xlsx"):
        files[fmt] = work / f"kb.{fmt}"
        t0 = time.perf_counter()
        src.export_file(files[fmt])
        export_s[fmt] = round(time.perf_counter() - t0, 3)
    src.close()

    def fresh(tag: str) -> KBStore:
        path = work / f"{tag}.sqlite3"
        for p in work.glob(f"{tag}.sqlite3*"):
            p.unlink()
        return KBStore(path)

    keys = ("rows", "csv", "jsonl", "xlsx", "reimport_csv")
    times: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}   # CPU time: less disturbed by a busy machine

    def timed(key, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times[key].append(time.perf_counter() - t0)
        cpu[key].append(time.process_time() - c0)
        return out

    for r in range(args.repeat):
        store = fresh("mem")
        timed("rows", lambda: store.import_rows(rows))
        store.close()
        for fmt in ("csv", "jsonl", "xlsx"):
            store = fresh(fmt)
            report = timed(fmt, lambda: store.import_file(files[fmt], progress=False))
            assert report.added == n, report
            if fmt == "csv":   # same file again: every row unchanged, nothing written
                again = timed("reimport_csv", lambda: store.import_file(files[fmt], progress=False))
                assert again.unchanged == n
                seq = store.last_seq()
                polls = []
                for _ in range(200):
                    t1 = time.perf_counter()
                    store.changes_since(seq - 10)
                    polls.append(time.perf_counter() - t1)
            store.close()

    # naive baseline: one transaction per entry, on a slice (it is slow)
    k = min(2000, n)
    store = fresh("naive")
    t0 = time.perf_counter()
    for row in rows[:k]:
        store.add(row, by="bench")
    naive = k / (time.perf_counter() - t0)
    store.close()

    base = _rate(n, times["rows"])
    figures = {
        "source": source, "entries": n, "repeat": args.repeat,
        "file_mb": {f: round(p.stat().st_size / 1e6, 2) for f, p in files.items()},
        "export_seconds": export_s,
        "import_entries_per_s": {
            "in_memory_rows (baseline)": base,
            "csv": _rate(n, times["csv"]), "jsonl": _rate(n, times["jsonl"]),
            "xlsx": _rate(n, times["xlsx"]),
            "csv_reimport_unchanged": _rate(n, times["reimport_csv"]),
            "per_entry_add (naive)": round(naive, 1),
        },
        "import_seconds_median": {k: round(median(v), 3) for k, v in times.items()},
        "import_cpu_seconds_median": {k: round(median(v), 3) for k, v in cpu.items()},
        "import_entries_per_cpu_s": {k: round(n / median(v), 1) for k, v in cpu.items()},
        "ratio_to_baseline": {f: round(_rate(n, times[f]) / base, 3) for f in ("csv", "jsonl", "xlsx")},
        "batched_vs_naive_speedup": round(base / naive, 1),
        "changes_since_last10_ms_median": round(median(polls) * 1000, 3),
        "peak_rss_mb": round(rss_mb(), 1),
    }
    save("kb_import", figures)
    shutil.rmtree(work, ignore_errors=True)
    return 0
