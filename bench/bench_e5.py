"""e5 (int8 ONNX) vs the ``use`` default encoder, same run, same inputs:
one short query (p50/p99 over interleaved calls), batches of short sentences
and of 200-character messages (texts/s).

``hotline bench e5 [--threads N] [--queries 200] [--batch 512]``
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from bench.common import median, percentile, save

SHORT_QUERIES = ["路灯坏了找谁修", "公积金怎么提取", "小区噪音扰民投诉", "新生儿医保办理", "停水了什么时候恢复",
                 "社保卡丢了怎么补办", "占道经营", "燃气泄漏"]


def _messages(shared_data: Path, n: int, chars: int = 200) -> list[str]:
    """n real messages cut to ``chars`` characters (repeating if the file is short)."""
    path = Path(shared_data) / "gov_messages" / "messages_train.csv"
    texts: list[str] = []
    if path.is_file():
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                t = (row["title"] + "。" + row["detail"]).replace("\n", " ")
                if len(t) >= chars:
                    texts.append(t[:chars])
                if len(texts) >= n:
                    break
    if not texts:
        texts = [("市民反映" + "".join(SHORT_QUERIES) * 10)[:chars]]
    return (texts * (n // len(texts) + 1))[:n]


def _sentences(shared_data: Path, n: int) -> list[str]:
    path = Path(shared_data) / "sts_zh" / "LCQMC_valid.csv"
    if not path.is_file():
        return (SHORT_QUERIES * (n // len(SHORT_QUERIES) + 1))[:n]
    with open(path, encoding="utf-8", newline="") as fh:
        rows = [r["sentence1"] for _, r in zip(range(n), csv.DictReader(fh))]
    return rows


def main(settings, argv) -> int:
    from index.embedders import get_embedder

    p = argparse.ArgumentParser(prog="hotline bench e5")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = settings)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--models", default="use,e5")
    args = p.parse_args(argv)
    if args.threads:
        settings = settings.replace(embed_threads=args.threads)
    models = args.models.split(",")
    emb = {m: get_embedder(m, settings) for m in models}
    for e in emb.values():  # warm-up: sessions, allocator, t2s dictionaries
        e.embed(SHORT_QUERIES)

    lat: dict[str, list[float]] = {m: [] for m in models}
    for i in range(args.queries):  # interleaved, so machine noise hits both alike
        q = [SHORT_QUERIES[i % len(SHORT_QUERIES)]]
        for m in models:
            t0 = time.perf_counter()
            emb[m].embed(q, kind="query")
            lat[m].append(time.perf_counter() - t0)

    figures: dict = {"threads": getattr(emb[models[-1]], "threads", None), "models": {}}
    sents = _sentences(settings.shared_data, args.batch)
    msgs = _messages(settings.shared_data, args.batch)
    for m in models:
        rates = {}
        for label, texts in (("short_sentences", sents), ("messages_200_chars", msgs)):
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                emb[m].embed(texts, kind="doc")
                runs.append(len(texts) / (time.perf_counter() - t0))
            rates[label] = round(median(runs), 1)
        figures["models"][m] = {
            "query_p50_ms": round(median(lat[m]) * 1e3, 2),
            "query_p99_ms": round(percentile(lat[m], 99) * 1e3, 2),
            "texts_per_s": rates,
        }
    if len(models) == 2:
        a, b = models
        fa, fb = figures["models"][a], figures["models"][b]
        figures[f"ratio_{b}_over_{a}"] = {
            "query_p50": round(fb["query_p50_ms"] / fa["query_p50_ms"], 2),
            "short_sentences_rate": round(fb["texts_per_s"]["short_sentences"]
                                          / fa["texts_per_s"]["short_sentences"], 2),
            "messages_rate": round(fb["texts_per_s"]["messages_200_chars"]
                                   / fa["texts_per_s"]["messages_200_chars"], 2),
        }
    save("e5", figures)
    return 0
