"""Search evaluation: R@1, R@5, MRR@10 for dense-only, lexical-only and fused
rankings, in one run, on

* LCQMC validation paraphrase retrieval — KB = the distinct ``sentence1``s,
  each imported as an entry; queries = ``sentence2`` of positive pairs that
  are not themselves in the KB; relevant = every ``sentence1`` it is paired
  positively with;
* the NCP policy KB (``--task ncp``, :mod:`training.eval_ncp`): all 4,000
  NCP rows as entries, searched with the project's written colloquial,
  phone-style, keyword, traditional and typo rewrites of held-out questions;
  default weights, per-style figures and a TF-IDF baseline in the same run;
* the demo KB's held-apart query set (``settings.demo_dir/search_queries.jsonl``,
  ``{query, id}``) against the published entries of ``settings.kb_path``.

Queries are split in two halves by a hash of their text. Fusion weights are
tuned on the LCQMC *dev* half (grid search over R@1 then MRR) and every figure
is reported on both halves; the *test* half is the honest one. Every task
also reports ``fused_no_aspect``, ``fused_no_place`` and
``fused_no_unasked_place``: the same fused ranking
with that feature's weight at 0 (the ranking before it), for a before/after in
one run.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

MODES = ("dense", "lexical", "fused")
ABLATIONS = ("aspect", "place", "unasked_place")   # fusion features reported switched off too
KB_SAMPLE_SEED = 20261126
GRID = {
    "overlap": (0.0, 0.05, 0.1, 0.2),
    "chars": (0.0, 0.05, 0.1, 0.2, 0.3, 0.4),
    "bm25": (0.0, 0.05, 0.1),
}
RARE_GRID = {"rare": (0.0, 0.05, 0.1, 0.2), "rare_gate": (0.7, 0.8, 0.9, 1.01)}


def split_of(text: str) -> str:
    return "dev" if int(hashlib.md5(text.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "test"


# ---------------------------------------------------------------- tasks
def pair_retrieval_task(settings, fname: str, prefix: str):
    """Retrieval from a 0/1 sentence-pair file of ``sts_zh``: KB = the distinct
    ``sentence1``s, queries = ``sentence2`` of positive pairs that are not
    themselves in the KB, relevant = every ``sentence1`` it is paired with."""
    from kb.entry import Entry

    with open(Path(settings.shared_data) / "sts_zh" / fname, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    kb_texts = sorted({r["sentence1"] for r in rows})
    ids = {t: f"{prefix}-{i:05d}" for i, t in enumerate(kb_texts)}
    rel: dict[str, set] = {}
    for r in rows:
        if r["label"] == "1" and r["sentence2"] not in ids:
            rel.setdefault(r["sentence2"], set()).add(ids[r["sentence1"]])
    return [Entry(id=ids[t], question=t) for t in kb_texts], sorted(rel.items())


def lcqmc_task(settings, limit: int | None = None, kb_size: int = 0):
    """``kb_size`` > 0: a seeded sample of that many KB sentences, queries kept
    when one of their paraphrases is in it. The issue's held-out figures (dense
    0.845, TF-IDF 0.820) come from a set easier than the whole validation KB
    (8,003 sentences, many near-duplicates); a ~4,000-sentence sample is about
    as hard for the dense encoder."""
    entries, queries = pair_retrieval_task(settings, "LCQMC_valid.csv", "lcqmc")
    if 0 < kb_size < len(entries):
        entries = sorted(random.Random(KB_SAMPLE_SEED).sample(entries, kb_size), key=lambda e: e.id)
        ids = {e.id for e in entries}
        queries = [(q, rel & ids) for q, rel in queries if rel & ids]
    return entries, queries[:limit] if limit else queries


def demo_task(settings, max_entries: int = 0):
    """The demo query set against the published KB. ``max_entries`` > 0 keeps
    every queried entry plus a deterministic sample of the others (a smaller,
    quicker, easier KB: say so when reporting it)."""
    from kb import KBStore, kb_exists, kb_target

    qpath = Path(settings.demo_dir) / "search_queries.jsonl"
    if not qpath.is_file() or not kb_exists(settings):
        return None, None
    with open(qpath, encoding="utf-8") as fh:
        items = [json.loads(line) for line in fh if line.strip()]
    queries = [(it["query"], {it["id"]} if isinstance(it["id"], str) else set(it["id"]))
               for it in items]
    entries = list(KBStore(kb_target(settings)).iter_entries(status="published"))
    if max_entries and len(entries) > max_entries:
        wanted = set().union(*(rel for _, rel in queries))
        others = sorted((e for e in entries if e.id not in wanted),
                        key=lambda e: hashlib.md5(e.id.encode()).hexdigest())
        keep = wanted | {e.id for e in others[:max(0, max_entries - len(wanted))]}
        entries = [e for e in entries if e.id in keep]
    return entries, queries


# ---------------------------------------------------------------- scoring
class PreparedQueries:
    """Every query's candidates and features, computed once; rankings under any
    weights are then cheap (this is how the grid search stays fast)."""

    def __init__(self, state, embedder, tokenizer, queries, k: int = 10, groups=None):
        from index.text import normalize

        self.state, self.queries, self.k = state, queries, k
        self.groups = groups      # one label per query (e.g. the rewrite style), or None
        texts = [normalize(q) for q, _ in queries]
        vecs = np.vstack([embedder.embed(texts[i:i + 256], kind="query")
                          for i in range(0, len(texts), 256)]) if texts else np.zeros((0, 1))
        syn = tokenizer.synonyms
        self.found = {}
        for mode in MODES:
            self.found[mode] = [state.candidates(vecs[i], texts[i], tokenizer.terms(texts[i]),
                                                 syn, k, None, mode) for i in range(len(texts))]
        self.split = [split_of(q) for q, _ in queries]

    def metrics(self, mode: str, split: str | None = None, weights=None,
                group: str | None = None) -> dict:
        r1 = r5 = mrr = n = 0
        entries = self.state.entries
        for i, (q, rel) in enumerate(self.queries):
            if split and self.split[i] != split:
                continue
            if group and self.groups[i] != group:
                continue
            n += 1
            f = self.found[mode][i]
            if f is None:
                continue
            _, rows, feats = f
            ranked = self.state.rank(rows, feats, self.k, mode, weights)
            for pos, (e, _, _) in enumerate(ranked):
                if entries[e].id in rel:
                    r1 += pos == 0
                    r5 += pos < 5
                    mrr += 1 / (pos + 1)
                    break
        n = max(n, 1)
        return {"R@1": round(r1 / n, 4), "R@5": round(r5 / n, 4), "MRR@10": round(mrr / n, 4),
                "queries": n}

    def tune(self, base, grid: dict, split: str = "dev"):
        best = None
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            w = replace(base, **dict(zip(keys, values)))
            m = self.metrics("fused", split, w)
            key = (m["R@1"], m["MRR@10"])
            if best is None or key > best[0]:
                best = (key, w)
        return best[1]


def evaluate_task(name, entries, queries, embedder, tokenizer, weights, tune_grid=None,
                  progress=False):
    from index.search import build_state

    t0 = time.perf_counter()
    state = build_state(entries, embedder, tokenizer, weights=weights, progress=progress)
    build_s = time.perf_counter() - t0
    prep = PreparedQueries(state, embedder, tokenizer, queries)
    tuned = prep.tune(weights, tune_grid) if tune_grid else weights
    out = {"task": name, "entries": state.n_entries, "rows": state.n_rows,
           "queries": len(queries), "build_seconds": round(build_s, 1), "results": {}}
    for split in ("dev", "test", None):
        label = split or "all"
        out["results"][label] = {mode: prep.metrics(mode, split, tuned) for mode in MODES}
        out["results"][label]["fused_default_weights"] = prep.metrics("fused", split, weights)
        # the same ranking without the aspect / place feature: before/after in one run
        for feature in ABLATIONS:
            out["results"][label][f"fused_no_{feature}"] = prep.metrics(
                "fused", split, replace(tuned, **{feature: 0.0}))
    out["weights"] = tuned.to_dict()
    return out, tuned


def run(settings, *, tune: bool = True, limit: int | None = None, progress: bool = True,
        demo_entries: int = 0, tasks=("lcqmc", "demo"), kb_size: int = 0,
        ncp_rewrites: Path | None = None, ncp_export: Path | None = None) -> dict:
    from index.embedders import get_embedder
    from index.search import FusionWeights
    from index.text import get_tokenizer

    from training.embedders import ensure

    # as `hotline index build` does: the embedder's artifact first (a no-op once built)
    ensure(settings.embedder, settings)
    embedder = get_embedder(settings.embedder, settings)
    tokenizer = get_tokenizer()
    weights = FusionWeights.for_embedder(embedder.name)   # as `hotline index build` starts
    report = {"embedder": embedder.name, "embedder_identity": embedder.identity,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tasks": []}
    tuned = weights
    if "ncp" in tasks:
        from training import eval_ncp

        entries, queries, styles = eval_ncp.ncp_task(settings, ncp_rewrites or eval_ncp.REWRITES_DEV)
        res = eval_ncp.evaluate(entries, queries, styles, embedder, tokenizer, progress)
        if ncp_export:
            res["export"] = eval_ncp.export(ncp_export, entries, queries, styles)
        report["tasks"].append(res)
    if "lcqmc" in tasks:
        entries, queries = lcqmc_task(settings, limit, kb_size)
        name = f"lcqmc (KB sample: {len(entries)} sentences)" if kb_size else "lcqmc"
        res, tuned = evaluate_task(name, entries, queries, embedder, tokenizer, weights,
                                   GRID if tune else None, progress)
        report["tasks"].append(res)
    entries, queries = demo_task(settings, demo_entries) if "demo" in tasks else (None, None)
    if entries:
        res, _ = evaluate_task("demo" + (f" (subset: {len(entries)} entries)" if demo_entries else ""),
                               entries, queries, embedder, tokenizer, tuned,
                               RARE_GRID if tune else None, progress)
        report["tasks"].append(res)
    elif "demo" in tasks:
        report["notes"] = (f"demo task skipped: no {settings.demo_dir}/search_queries.jsonl "
                           f"or KB at {settings.kb_path} (run `hotline kb demo`)")
    return report


def to_markdown(report: dict) -> str:
    tuned = any(t["task"] != "ncp" for t in report["tasks"])
    lines = ["# Search evaluation", "",
             f"Embedder `{report['embedder']}` ({report['embedder_identity']}), "
             f"measured {report['measured_at']}. "
             + ("Weights tuned on the dev half; the test half is held out." if tuned
                else "Default fusion weights."), ""]
    for t in report["tasks"]:
        lines += [f"## {t['task']}: {t['entries']} entries, {t['rows']} rows, "
                  f"{t['queries']} queries (index built in {t['build_seconds']} s)", "",
                  "| split | ranking | R@1 | R@5 | MRR@10 | queries |", "|---|---|---|---|---|---|"]
        for split, res in t["results"].items():
            for mode, m in res.items():
                lines.append(f"| {split} | {mode} | {m['R@1']:.4f} | {m['R@5']:.4f} | "
                             f"{m['MRR@10']:.4f} | {m['queries']} |")
        lines += ["", "Weights: `" + json.dumps(t["weights"]) + "`", ""]
        if t.get("note"):
            lines += [t["note"], ""]
        if t.get("export"):
            lines += [f"Exported {t['export']['entries']} entries and {t['export']['queries']} "
                      f"queries to {t['export']['dir']} (kb.csv, queries.txt, gold.json).", ""]
    if report.get("notes"):
        lines += [report["notes"], ""]
    return "\n".join(lines)


def write_report(settings, report: dict, name: str = "search_eval") -> tuple[Path, Path]:
    from training.reports import save_json_report

    jp = save_json_report(settings, name, report)
    mp = jp.with_suffix(".md")
    mp.write_text(to_markdown(report), encoding="utf-8")
    return jp, mp
