"""Side-by-side comparison of embedders on the sts_zh validation sets, same run:
Spearman (STS-B, graded) or ROC-AUC (binary sets) of cosine similarity, plus the
encoding throughput measured while scoring.

``python -m training.e5_eval --models use,e5 [--limit 2000]`` prints a Markdown
table and writes JSON (``--out``). Until ``hotline eval embedder`` exists this is
how the e5 area's figures in docs/e5.md were produced.
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

SETS = ("STS-B_valid", "LCQMC_valid", "BQ_valid", "ATEC_valid", "afqmc_dev", "PAWSX_valid")


def load_pairs(shared_data: Path, name: str, limit: int | None, seed: int = 0):
    with open(Path(shared_data) / "sts_zh" / f"{name}.csv", encoding="utf-8", newline="") as fh:
        rows = [(r["sentence1"], r["sentence2"], float(r["label"])) for r in csv.DictReader(fh)]
    if limit and len(rows) > limit:
        idx = np.random.default_rng(seed).choice(len(rows), size=limit, replace=False)
        rows = [rows[i] for i in sorted(idx)]
    return rows


def score(embedder, rows, kind: str = "query") -> tuple[float, str, float]:
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    sents = sorted({s for a, b, _ in rows for s in (a, b)})
    t0 = time.perf_counter()
    emb = embedder.embed(sents, kind=kind)
    rate = len(sents) / (time.perf_counter() - t0)
    pos = {s: i for i, s in enumerate(sents)}
    a = emb[[pos[r[0]] for r in rows]]
    b = emb[[pos[r[1]] for r in rows]]
    cos = (a * b).sum(1)
    labels = np.array([r[2] for r in rows])
    if len(set(labels.tolist())) > 2:
        return float(spearmanr(cos, labels).statistic), "spearman", rate
    return float(roc_auc_score(labels, cos)), "roc_auc", rate


def compare(settings, models=("use", "e5"), sets=SETS, limit: int | None = 2000) -> dict:
    from tqdm import tqdm

    from index.embedders import get_embedder

    out: dict = {"limit": limit, "sets": {}}
    embedders = {m: get_embedder(m, settings) for m in models}
    for name in tqdm(sets, desc="sts_zh", unit="set"):
        rows = load_pairs(settings.shared_data, name, limit)
        out["sets"][name] = {"pairs": len(rows)}
        for m, emb in embedders.items():
            value, metric, rate = score(emb, rows)
            out["sets"][name][m] = {metric: round(value, 4), "sentences_per_s": round(rate, 1)}
    return out


def markdown(result: dict, models) -> str:
    lines = ["| set (pairs) | metric | " + " | ".join(models) + " |",
             "|---|---|" + "---|" * len(models)]
    for name, row in result["sets"].items():
        metric = next(k for k in row[models[0]] if k != "sentences_per_s")
        cells = [f"{row[m][metric]:.4f}" for m in models]
        lines.append(f"| {name} ({row['pairs']}) | {metric} | " + " | ".join(cells) + " |")
    rates = [np.median([row[m]["sentences_per_s"] for row in result["sets"].values()]) for m in models]
    lines.append("| median encode rate | sentences/s | " + " | ".join(f"{r:.0f}" for r in rates) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from hotline.settings import Settings

    p = argparse.ArgumentParser(description="compare embedders on sts_zh (same run)")
    p.add_argument("--models", default="use,e5")
    p.add_argument("--limit", type=int, default=2000, help="pairs per set (seeded sample); 0 = all")
    p.add_argument("--home", default=None)
    p.add_argument("--shared-data", default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    settings = Settings.load({"home": args.home, "shared_data": args.shared_data})
    models = args.models.split(",")
    result = compare(settings, models, limit=args.limit or None)
    print(markdown(result, models))
    if args.out:
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
