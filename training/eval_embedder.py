"""Evaluate an embedder on the sts_zh validation sets, each beside a TF-IDF
character n-gram baseline computed in the same run.

- STS-B (graded 0-5): Spearman correlation of cosine with the label.
- LCQMC, BQ, AFQMC, PAWS-X, ATEC (0/1): ROC-AUC of cosine.
- LCQMC paraphrase retrieval: KB = distinct sentence1; queries = sentence2 of
  positive pairs that are not themselves in the KB; R@1, R@5, MRR@10.
"""
from __future__ import annotations

import csv
import json
import random
import re
import time
from pathlib import Path

import numpy as np

PAIR_SETS = {  # name -> (file, metric)
    "STS-B": ("STS-B_valid.csv", "spearman"),
    "LCQMC": ("LCQMC_valid.csv", "auc"),
    "BQ": ("BQ_valid.csv", "auc"),
    "AFQMC": ("afqmc_dev.csv", "auc"),
    "PAWS-X": ("PAWSX_valid.csv", "auc"),
    "ATEC": ("ATEC_valid.csv", "auc"),
}


def read_pairs(path: Path, max_pairs: int = 0, seed: int = 0,
               dev_only: bool = False) -> list[tuple[str, str, float]]:
    """``dev_only``: keep only the pairs the encoder fine-tuning leaves out
    (``training.encoder_data``), for a model that trained on the rest of the file."""
    from training.encoder_data import is_sts_dev

    with open(path, encoding="utf-8", newline="") as fh:
        rows = [(r["sentence1"], r["sentence2"], float(r["label"])) for r in csv.DictReader(fh)
                if r.get("sentence1") and r.get("sentence2") and r.get("label") not in (None, "")
                and (not dev_only or is_sts_dev(r))]
    if max_pairs and len(rows) > max_pairs:
        rows = random.Random(seed).sample(rows, max_pairs)
    return rows


class TfidfBaseline:
    """Character 1-3-gram TF-IDF over normalised text (fitted on the texts it compares)."""

    name = "tfidf-char"

    def __init__(self, texts: list[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        from index.text import normalize

        self._norm = normalize
        self.vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
        self.vec.fit([normalize(t) for t in texts])

    def embed(self, texts: list[str]):
        # Rows come out L2-normalised (TfidfVectorizer's norm="l2"), sparse.
        return self.vec.transform([self._norm(t) for t in texts])


def _cos_pairs(model, pairs) -> np.ndarray:
    uniq = sorted({s for a, b, _ in pairs for s in (a, b)})
    pos = {s: i for i, s in enumerate(uniq)}
    vecs = model.embed(uniq)
    ia = [pos[a] for a, _, _ in pairs]
    ib = [pos[b] for _, b, _ in pairs]
    if hasattr(vecs, "multiply"):
        return np.asarray(vecs[ia].multiply(vecs[ib]).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", vecs[ia], vecs[ib])


def pair_score(model, pairs, metric: str) -> float:
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    cos = _cos_pairs(model, pairs)
    labels = np.array([lab for _, _, lab in pairs])
    if metric == "spearman":
        return float(spearmanr(cos, labels).statistic)
    return float(roc_auc_score(labels > 0.5, cos))


def retrieval_task(pairs) -> tuple[list[str], list[str], list[set[int]]]:
    kb = sorted({a for a, _, _ in pairs})
    pos = {s: i for i, s in enumerate(kb)}
    gold: dict[str, set[int]] = {}
    for a, b, lab in pairs:
        if lab > 0.5 and b not in pos:
            gold.setdefault(b, set()).add(pos[a])
    queries = sorted(gold)
    return kb, queries, [gold[q] for q in queries]


def retrieval_score(model, kb, queries, gold, k: int = 10) -> dict:
    kv, qv = model.embed(kb), model.embed(queries)
    sims = qv @ kv.T
    sims = sims.toarray() if hasattr(sims, "toarray") else np.asarray(sims)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    r1 = r5 = mrr = 0.0
    for row, g in zip(top, gold):
        hits = [i for i, d in enumerate(row) if d in g]
        if hits:
            r1 += hits[0] == 0
            r5 += hits[0] < 5
            mrr += 1.0 / (hits[0] + 1)
    n = len(queries)
    return {"R@1": r1 / n, "R@5": r5 / n, "MRR@10": mrr / n, "queries": n, "kb": len(kb)}


def trained_files(embedder) -> set[str]:
    """sts_zh files (stems) a fine-tuned encoder trained on, from its manifest."""
    sources = (getattr(embedder, "manifest", None) or {}).get("training", {}).get("sources", [])
    return {s["name"].split(":", 1)[1] for s in sources if s.get("name", "").startswith("sts:")}


def evaluate(embedder, sts_dir: Path, max_pairs: int = 4000, sets=None, progress=True,
             compare=None) -> dict:
    """``compare``: another embedder scored on the same pairs in the same run
    (reported as ``compare`` beside ``model`` and ``tfidf``)."""
    from tqdm import tqdm

    sts_dir = Path(sts_dir)
    names = [n for n in (sets or PAIR_SETS) if (sts_dir / PAIR_SETS[n][0]).is_file()]
    if not names:
        raise FileNotFoundError(f"no sts_zh sets found in {sts_dir}")
    result = {"embedder": embedder.name, "identity": embedder.identity, "sts_dir": str(sts_dir),
              "compare": compare.name if compare is not None else None,
              "max_pairs": max_pairs, "sets": {}, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                             time.gmtime())}
    trained = trained_files(embedder) | (trained_files(compare) if compare is not None else set())
    t0 = time.perf_counter()
    for name in tqdm(names, desc="eval embedder", disable=not progress):
        fname, metric = PAIR_SETS[name]
        # LCQMC is used whole: its retrieval task needs every pair. A set a compared
        # model fine-tuned on is scored on its held-out fifth only, for every model.
        dev_only = Path(fname).stem in trained
        pairs = read_pairs(sts_dir / fname, 0 if name == "LCQMC" else max_pairs, dev_only=dev_only)
        base = TfidfBaseline([s for a, b, _ in pairs for s in (a, b)])
        entry = {"metric": metric, "pairs": len(pairs), "held_out_fifth_only": dev_only,
                 "model": pair_score(embedder, pairs, metric),
                 "tfidf": pair_score(base, pairs, metric)}
        if compare is not None:
            entry["compare"] = pair_score(compare, pairs, metric)
        if name == "LCQMC":
            kb, queries, gold = retrieval_task(pairs)
            entry["retrieval"] = {"model": retrieval_score(embedder, kb, queries, gold),
                                  "tfidf": retrieval_score(base, kb, queries, gold)}
            if compare is not None:
                entry["retrieval"]["compare"] = retrieval_score(compare, kb, queries, gold)
        result["sets"][name] = entry
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["beats_tfidf_everywhere"] = all(e["model"] > e["tfidf"] for e in result["sets"].values())
    if compare is not None:
        result["beats_compare_everywhere"] = all(e["model"] > e["compare"]
                                                 for e in result["sets"].values())
    return result


def to_markdown(result: dict) -> str:
    lines = [f"# Embedder evaluation: `{result['embedder']}`", "",
             f"identity `{result['identity']}`; data `{result['sts_dir']}` (validation splits, "
             f"up to {result['max_pairs'] or 'all'} pairs per set, LCQMC whole); "
             f"{result['seconds']} s.", "",
             "| set | metric | pairs | model | TF-IDF char 1-3 | delta |"
             + (f" `{result['compare']}` (same run) | delta |" if result.get("compare") else ""),
             "|---|---|---|---|---|---|" + ("---|---|" if result.get("compare") else "")]
    for name, e in result["sets"].items():
        extra = (f" {e['compare']:.4f} | {e['model'] - e['compare']:+.4f} |"
                 if "compare" in e else "")
        lines.append(f"| {name} | {e['metric']} | {e['pairs']} | {e['model']:.4f} | "
                     f"{e['tfidf']:.4f} | {e['model'] - e['tfidf']:+.4f} |" + extra)
    r = result["sets"].get("LCQMC", {}).get("retrieval")
    if r:
        lines += ["", f"LCQMC paraphrase retrieval ({r['model']['queries']} queries, "
                  f"KB of {r['model']['kb']} sentences):", "",
                  "| | R@1 | R@5 | MRR@10 |", "|---|---|---|---|"]
        for who in [w for w in ("model", "tfidf", "compare") if w in r]:
            m = r[who]
            lines.append(f"| {who} | {m['R@1']:.4f} | {m['R@5']:.4f} | {m['MRR@10']:.4f} |")
    return "\n".join(lines) + "\n"


def write_report(result: dict, reports_dir: Path) -> tuple[Path, Path]:
    from foundation.artifacts import write_json_atomic

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", result["embedder"]).strip("_")[-80:]
    reports_dir.mkdir(parents=True, exist_ok=True)
    jpath, mpath = reports_dir / f"embedder-{slug}.json", reports_dir / f"embedder-{slug}.md"
    write_json_atomic(jpath, result)
    mpath.write_text(to_markdown(result), encoding="utf-8")
    return jpath, mpath


def main_json(result: dict) -> str:
    return json.dumps(result, ensure_ascii=False, indent=2)
