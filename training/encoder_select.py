"""Which encoder a home serves after ``hotline train --encoder``: measured, not assumed.

A fine-tuning run does not reliably beat its base: two runs of the gov recipe
scored 0.875 and 0.850 fused R@1 on the NCP dev rewrites against 0.872 / 0.884
for the base e5 (docs/embeddings.md). So the command searches the policy-KB dev
set (``training.eval_ncp``: documents never trained on, queries the project
wrote) with the fine-tuned model and with its base, each with its own fusion
weights as ``hotline index build`` would use them, and the home serves the one
with the higher fused R@1 (MRR@10 breaks a tie; a full tie keeps the fine-tuned
model). Without the shared data there is no dev set, and the fine-tuned model
is served unmeasured (the command says so).

`hotline embed` (vectors other systems compare: similarity, dedup, clustering)
is another role, measured apart: the sts_zh dev pairs (``similarity_scores``).
Fine-tuning on the sts_zh training shares lifts pair similarity (PAWS-X dev
AUC 0.53 -> 0.63 in session 18) while the same model searched the policy KB
worse (0.859 vs 0.888), so each role gets the encoder that measures better for
it (``settings.similarity_embedder``).
"""
from __future__ import annotations

import time
from pathlib import Path

from training.ncp_data import QA_FILE, REWRITES_DEV


def dev_available(settings) -> bool:
    """Whether the NCP dev set can be built here (it reads the shared data)."""
    return (Path(settings.shared_data) / QA_FILE).is_file() and REWRITES_DEV.is_file()


def dev_scores(settings, names, *, limit: int | None = None, progress: bool = False) -> dict:
    """{name: {"R@1", "R@5", "MRR@10", "queries", "seconds"}}: fused search on the
    NCP dev set with each encoder. ``limit``: only the first ``limit`` queries
    and a KB of their entries plus as many others (a quick check, for tests)."""
    from index.embedders import get_embedder
    from index.text import get_tokenizer
    from training.eval_ncp import evaluate, ncp_task

    entries, queries, styles = ncp_task(settings)
    if limit is not None:
        queries, styles = queries[:limit], styles[:limit]
        wanted = set().union(*(rel for _, rel in queries))
        others = [e for e in entries if e.id not in wanted][:max(limit, len(wanted))]
        entries = [e for e in entries if e.id in wanted] + others
    out = {}
    for name in names:
        t0 = time.perf_counter()
        fused = evaluate(entries, queries, styles, get_embedder(name, settings), get_tokenizer(),
                         progress=progress)["results"]["all"]["fused"]
        out[name] = {**fused, "seconds": round(time.perf_counter() - t0, 1)}
    return out


def choose(scores: dict, tuned: str, base: str) -> tuple[str, str]:
    """(the encoder to serve, why) from :func:`dev_scores` of ``tuned`` and ``base``."""
    t, b = scores[tuned], scores[base]
    key_t, key_b = (t["R@1"], t["MRR@10"]), (b["R@1"], b["MRR@10"])
    figures = (f"NCP dev fused R@1 {t['R@1']:.4f} vs {b['R@1']:.4f} "
               f"(MRR@10 {t['MRR@10']:.4f} vs {b['MRR@10']:.4f}, {t['queries']} queries)")
    if key_t >= key_b:
        return tuned, f"{tuned} is not below {base}: {figures}"
    return base, f"{tuned} scored below its base {base}: {figures}"


# The sts_zh pairs each model is scored on for the similarity role: up to this many
# per set (seeded), LCQMC whole, a set a model trained on by its held-out fifth only
# (training.eval_embedder). About 4 minutes for two e5-size models on 2 cores.
SIMILARITY_PAIRS = 1000


def sts_available(settings) -> bool:
    """Whether the sts_zh pairs can be read here (shared data)."""
    return (Path(settings.shared_data) / "sts_zh").is_dir()


def similarity_scores(settings, tuned: str, base: str, *, max_pairs: int = SIMILARITY_PAIRS,
                      progress: bool = False) -> dict:
    """{set: {"metric", "pairs", tuned: score, base: score, "tfidf": score}}: both
    encoders on the same sts_zh dev pairs in one run (``hotline eval embedder
    --model tuned --compare base``)."""
    from index.embedders import get_embedder
    from training.eval_embedder import evaluate

    fp32 = settings.replace(embed_precision="fp32")   # as `hotline embed` serves them
    result = evaluate(get_embedder(tuned, fp32), Path(settings.shared_data) / "sts_zh", max_pairs,
                      progress=progress, compare=get_embedder(base, fp32))
    return {name: {"metric": e["metric"], "pairs": e["pairs"], tuned: e["model"],
                   base: e["compare"], "tfidf": e["tfidf"]} for name, e in result["sets"].items()}


def choose_similarity(scores: dict, tuned: str, base: str) -> tuple[str, str]:
    """(the encoder `hotline embed` serves, why) from :func:`similarity_scores`: the
    fine-tuned one when its mean over the sets is not below its base's (every set
    weighs the same: one metric per set, AUC or Spearman)."""
    if not scores:
        return tuned, "no sts_zh pairs to measure: the fine-tuned encoder is served unmeasured"
    delta = sum(s[tuned] - s[base] for s in scores.values()) / len(scores)
    per_set = ", ".join(f"{name} {s[tuned]:.3f} vs {s[base]:.3f}" for name, s in scores.items())
    if delta >= 0:
        return tuned, f"{tuned} is not below {base} on the sts_zh dev pairs (mean {delta:+.4f}: {per_set})"
    return base, f"{tuned} scored below its base {base} on the sts_zh dev pairs (mean {delta:+.4f}: {per_set})"
