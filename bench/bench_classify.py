"""Classifier speed: one request (both heads, evidence included) p50/p95, and
batch messages/s for 200-character messages through ``predict_batch``.

Usage: ``hotline bench classify [MODEL_DIR]`` (default: the current model).
Baseline in the same run: hashing the same texts alone (the shared first step).
"""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from bench.common import median, percentile, save


def _messages(settings, n: int) -> list[str]:
    """200-character real messages (shared data) when available, else demo orders."""
    src = Path(settings.shared_data) / "gov_messages" / "unlabeled_messages.csv"
    rows = []
    if src.is_file():
        csv.field_size_limit(sys.maxsize)
        with open(src, encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                t = (r["title"] + "\n" + r["detail"])[:200]
                if len(t) >= 150:
                    rows.append(t)
    if not rows:
        rows = ["我们小区的路灯坏了三天了，晚上出行很不方便，请尽快派人维修。" * 5]
    return [rows[i % len(rows)] for i in range(n)]


def main(settings, argv) -> int:
    from classifier import load_bundle
    from classifier.features import TextFeatures
    from foundation.artifacts import resolve_current

    model_dir = Path(argv[0]) if argv else resolve_current(settings.models_root)
    if model_dir is None or not Path(model_dir).is_dir():
        print("no model: pass MODEL_DIR or run `hotline train --demo`")
        return 2
    t0 = time.perf_counter()
    bundle = load_bundle(model_dir)
    load_s = time.perf_counter() - t0
    texts = _messages(settings, 2000)
    bundle.predict(texts[:5])  # warm caches (jieba/opencc/faiss)
    single, single_noev = [], []
    for t in texts[:300]:
        a = time.perf_counter()
        bundle.predict([t])
        single.append(time.perf_counter() - a)
        a = time.perf_counter()
        bundle.predict_batch([t])
        single_noev.append(time.perf_counter() - a)
    runs, base = [], []
    for _ in range(3):
        a = time.perf_counter()
        bundle.predict_batch(texts)
        runs.append(len(texts) / (time.perf_counter() - a))
        a = time.perf_counter()
        TextFeatures(texts)
        base.append(len(texts) / (time.perf_counter() - a))
    save("classify", {
        "model": str(model_dir), "load_seconds": round(load_s, 2),
        "single_request_ms_p50": round(median(single) * 1000, 2),
        "single_request_ms_p95": round(percentile(single, 95) * 1000, 2),
        "single_no_evidence_ms_p50": round(median(single_noev) * 1000, 2),
        "batch_msgs_per_s_1proc": round(median(runs), 1),
        "baseline_prepare_only_msgs_per_s": round(median(base), 1),
        "message_chars": 200, "batch_size": len(texts),
    })
    return 0
