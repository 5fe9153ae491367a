"""Experiment (issue 23): does a cross-encoder over the fused top 10 lift the
NCP policy-KB dev set (fused R@1 0.8875 with `e5`)?

Three stages, each writing into ``--work`` so a later one can be rerun alone:

1. ``candidates``: the product's fused ranking (``build_state`` with `e5` and
   the weights ``hotline index build`` gives it) over the 4,000-entry NCP KB;
   top 10 for the dev rewrites (``training/data/ncp_rewrites/dev.csv``) and for
   training queries about *training* documents only: template rewrites
   (``training.paraphrase``, ``--train synthetic``) or the written ones
   (``training/data/ncp_rewrites/train.csv``, ``--train written``).
2. ``train``: a cross-encoder from the `e5` artifact's fp32 weights (a fresh
   one-logit head; word embeddings frozen), listwise: softmax over the gold
   and the ``--negatives`` best fused non-gold candidates of one query,
   cross-entropy, 8 queries a step, AdamW with warm-up, one epoch, seeded.
3. ``score``: the dev candidates re-scored; R@1 of the cross-encoder alone
   over the top k and of ``fused + w * softmax(ce)``, per style.

Nothing here is served. Run (after ``python -m training.e5_build``):

    .venv/bin/python -m training.experiments.ce_rerank --work DIR [--train written] all

Result: docs/search.md, "Cross-encoder over the fused top 10 (session 20)".
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

K = 10
MAX_LEN = 96
QUERIES_PER_STEP = 8


def candidates(settings, work: Path, train: str, n_synthetic: int = 2400) -> None:
    from index.embedders import get_embedder
    from index.search import FusionWeights
    from index.search.build import build_state
    from index.text import get_tokenizer, normalize
    from training.eval_ncp import ncp_task
    from training.eval_search import PreparedQueries
    from training.ncp_data import DATA, _key, ncp_split
    from training.paraphrase import rewrite

    emb, tok = get_embedder("e5", settings), get_tokenizer()
    entries, dev_q, dev_styles = ncp_task(settings)
    weights = FusionWeights.for_embedder("e5")
    state = build_state(entries, emb, tok, weights=weights)
    if train == "written":   # tests/test_ncp_eval.py: every row is a training document's
        _, tr_q, tr_styles = ncp_task(settings, DATA / "train.csv")
    else:
        train_rows, _dev = ncp_split(settings.shared_data)
        twins: dict[str, set] = {}
        for e in entries:
            twins.setdefault(_key(e.question), set()).add(e.id)
        rng = random.Random(7)
        styles = ("colloquial", "phone", "keyword", "typo")
        rows = rng.sample(train_rows, min(len(train_rows), n_synthetic))
        tr_q = [(rewrite(r["question"], styles[i % 4], rng), twins[_key(r["question"])])
                for i, r in enumerate(rows)]
        tr_styles = [styles[i % 4] for i in range(len(rows))]
    question = {e.id: e.question for e in entries}
    for name, queries, styles in (("dev", dev_q, dev_styles), ("train", tr_q, tr_styles)):
        prep = PreparedQueries(state, emb, tok, queries, k=K)
        out = []
        for (q, rel), style, found in zip(queries, styles, prep.found["fused"]):
            ranked = [] if found is None else [
                (state.entries[e].id, float(s))
                for e, s, _ in state.rank(found[1], found[2], K, "fused", weights)]
            out.append({"q": normalize(q), "rel": sorted(rel), "style": style,
                        "cands": [{"id": i, "score": s, "question": question[i]}
                                  for i, s in ranked]})
        (work / f"{name}.json").write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
        r1 = np.mean([bool(o["cands"]) and o["cands"][0]["id"] in o["rel"] for o in out])
        print(f"{name}: {len(out)} queries, fused R@1 {r1:.4f}", flush=True)


def train_model(settings, work: Path, negatives: int = 4, lr: float = 4e-5) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    rng = random.Random(0)
    src = settings.embedders_root / "e5" / "st"
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForSequenceClassification.from_pretrained(src, num_labels=1)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    groups = []
    for o in json.loads((work / "train.json").read_text(encoding="utf-8")):
        rel = set(o["rel"])
        gold = next((c["question"] for c in o["cands"] if c["id"] in rel), None)
        negs = [c["question"] for c in o["cands"] if c["id"] not in rel and c["question"] != gold]
        if gold is not None and len(negs) >= negatives:
            groups.append((o["q"], [gold] + negs[:negatives]))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps = len(groups) // QUERIES_PER_STEP
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, (steps - s) / steps))
    rng.shuffle(groups)
    model.train()
    t0, losses = time.time(), []
    for step in range(steps):
        batch = groups[step * QUERIES_PER_STEP:(step + 1) * QUERIES_PER_STEP]
        enc = tok([q for q, cs in batch for _ in cs], [c for _, cs in batch for c in cs],
                  truncation=True, max_length=MAX_LEN, padding=True, return_tensors="pt")
        logits = model(**enc).logits.view(len(batch), negatives + 1)
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.item())
        if step % 20 == 0 or step == steps - 1:
            print(f"step {step + 1}/{steps} loss {np.mean(losses[-20:]):.3f} "
                  f"{time.time() - t0:.0f} s", flush=True)
    model.save_pretrained(work / "model")
    tok.save_pretrained(work / "model")


def score(work: Path) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(work / "model")
    model = AutoModelForSequenceClassification.from_pretrained(work / "model").eval()
    dev = json.loads((work / "dev.json").read_text(encoding="utf-8"))
    ce = []
    with torch.no_grad():
        for o in dev:
            cs = o["cands"]
            enc = tok([o["q"]] * len(cs), [c["question"] for c in cs], truncation=True,
                      max_length=MAX_LEN, padding=True, return_tensors="pt") if cs else None
            ce.append(model(**enc).logits.view(-1).tolist() if cs else [])

    def r1(k: int, w: float | None) -> dict:
        hits: dict[str, list] = {}
        for o, s in zip(dev, ce):
            if not o["cands"]:
                continue
            c = np.array(s[:k])
            if w is None:
                sc = c
            else:
                p = np.exp(c - c.max())
                sc = np.array([x["score"] for x in o["cands"][:k]]) + w * p / p.sum()
            hit = o["cands"][int(np.argmax(sc))]["id"] in o["rel"]
            for key in ("all", o["style"]):
                hits.setdefault(key, []).append(hit)
        return {key: round(float(np.mean(v)), 4) for key, v in hits.items()}

    report = {"fused": r1(1, None),
              "ce_alone": {k: r1(k, None) for k in (3, 5, 10)},
              "fused_plus_w_softmax_ce": {f"k{k}_w{w}": r1(k, w)["all"]
                                          for k in (3, 5, 10) for w in (0.05, 0.1, 0.2, 0.5)}}
    (work / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return report


def main(argv=None) -> int:
    from foundation.settings import Settings

    p = argparse.ArgumentParser(prog="python -m training.experiments.ce_rerank")
    p.add_argument("stage", choices=["candidates", "train", "score", "all"])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--train", choices=["synthetic", "written"], default="synthetic")
    p.add_argument("--negatives", type=int, default=4)
    args = p.parse_args(argv)
    settings = Settings.load()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.stage in ("candidates", "all"):
        candidates(settings, args.work, args.train)
    if args.stage in ("train", "all"):
        train_model(settings, args.work, args.negatives)
    if args.stage in ("score", "all"):
        score(args.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
