"""Normalisation + segmentation throughput (chars/s) against plain jieba.lcut, same run.

Text: real citizen messages from the shared data when present, else a generated
mix, so the benchmark runs on a fresh machine too.
"""
from __future__ import annotations

import csv
import time

from bench.common import median, save


def _corpus(settings, limit=2000) -> list[str]:
    path = settings.shared_data / "gov_messages" / "messages_train.csv"
    if path.is_file():
        with open(path, encoding="utf-8") as fh:
            rows = [f"{r['title']} {r['detail']}"[:300] for r in csv.DictReader(fh)]
        return rows[:limit]
    base = "您好，我家小区從昨天開始停水，物業說是管道維修，可是到現在還沒有來水，电话13812345678。"
    return [base * 3] * limit


def main(settings, argv=None) -> int:
    import jieba

    from index.text import get_tokenizer, mask_pii, normalize

    texts = _corpus(settings)
    chars = sum(map(len, texts))
    tok = get_tokenizer()
    jieba.initialize()
    normalize("预热")
    tok.cut("预热")

    def run(fn):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for t in texts:
                fn(t)
            times.append(time.perf_counter() - t0)
        return chars / median(times)

    baseline = run(jieba.lcut)
    pipeline = run(lambda t: tok.cut(normalize(t)))
    with_pii = run(lambda t: tok.cut(mask_pii(normalize(t))))
    normalize_only = run(normalize)
    save("text", {
        "texts": len(texts), "chars": chars,
        "jieba_lcut_chars_per_s": round(baseline),
        "normalize_chars_per_s": round(normalize_only),
        "normalize_plus_segment_chars_per_s": round(pipeline),
        "normalize_mask_segment_chars_per_s": round(with_pii),
        "ratio_pipeline_vs_jieba": round(pipeline / baseline, 3),
        "ratio_with_pii_vs_jieba": round(with_pii / baseline, 3),
    })
    return 0
