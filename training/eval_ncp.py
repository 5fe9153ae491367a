"""NCP policy KB search evaluation (``hotline eval search --task ncp``).

KB = every row of ``shared_data/ncp_policy_qa/qa_train.csv`` as an entry
(question, answer; parsed by the importer's own :func:`kb.entry.parse_entry`),
indexed the way ``hotline index build`` does (questions only, default fusion
weights: nothing is tuned on these queries). Queries = the project's written
rewrites of held-out dev questions (``training/data/ncp_rewrites/dev.csv``,
five styles). A query's relevant entries are its row plus any row whose
question is the same text (normalised): the index reads questions only, so it
cannot tell such twins apart (8 of the 320 dev rewrites have one).

Reported in one run, overall and per style: R@1, R@5, MRR@10 of the fused,
dense-only and lexical-only rankings, and of a TF-IDF character 1-3-gram
baseline (fitted on the KB questions).

``export`` writes the same set as files for the external protocol
(``hotline kb import kb.csv``, ``hotline index build``,
``hotline search --queries queries.txt --k 10 --json > results.jsonl``), and
``python -m training.eval_ncp score DIR results.jsonl`` scores that output.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from training.ncp_data import REWRITES_DEV, STYLES, _key, read_qa, read_rewrites, resolve_refs

MODES = ("fused", "dense", "lexical")
K = 10


def ncp_entries(qa_rows: list[dict]):
    from kb.entry import parse_entry

    entries = []
    for i, r in enumerate(qa_rows, 2):
        entry, errors = parse_entry({"id": r["id"], "question": r["question"],
                                     "answer": r["answer"]}, row=i)
        if errors:
            raise ValueError(f"NCP row {i} ({r['id']}) is not a valid entry: "
                             + "; ".join(str(e) for e in errors))
        entries.append(entry)
    return entries


def ncp_task(settings, rewrites_path: Path = REWRITES_DEV):
    """(entries, queries, styles): queries are (text, relevant ids)."""
    qa = read_qa(settings.shared_data)
    by_id = {r["id"]: r for r in qa}
    twins: dict[str, set] = {}
    for r in qa:
        twins.setdefault(_key(r["question"]), set()).add(r["id"])
    queries, styles = [], []
    rewrites = read_rewrites(rewrites_path)
    for rw, row_id in zip(rewrites, resolve_refs(rewrites, qa, rewrites_path)):
        queries.append((rw["query"].strip(), twins[_key(by_id[row_id]["question"])]))
        styles.append(rw["style"])
    return ncp_entries(qa), queries, styles


def _score(ranked_ids: list[list[str]], queries, styles) -> dict:
    """{subset: {R@1, R@5, MRR@10, queries}} for "all" and each style present."""
    out = {}
    for subset in ("all",) + STYLES:
        r1 = r5 = mrr = n = 0
        for ids, (_, rel), style in zip(ranked_ids, queries, styles):
            if subset != "all" and style != subset:
                continue
            n += 1
            for pos, eid in enumerate(ids[:K]):
                if eid in rel:
                    r1 += pos == 0
                    r5 += pos < 5
                    mrr += 1 / (pos + 1)
                    break
        if n:
            out[subset] = {"R@1": round(r1 / n, 4), "R@5": round(r5 / n, 4),
                           "MRR@10": round(mrr / n, 4), "queries": n}
    return out


def tfidf_ranked(entries, queries) -> list[list[str]]:
    from training.eval_embedder import TfidfBaseline

    model = TfidfBaseline([e.question for e in entries])
    kb = model.embed([e.question for e in entries])
    qv = model.embed([q for q, _ in queries])
    sims = (qv @ kb.T).toarray()
    top = np.argsort(-sims, axis=1, kind="stable")[:, :K]
    return [[entries[j].id for j in row] for row in top]


def evaluate(entries, queries, styles, embedder, tokenizer, progress: bool = False) -> dict:
    from index.search import FusionWeights
    from index.search.build import build_state
    from training.eval_search import ABLATIONS, PreparedQueries

    weights = FusionWeights.for_embedder(embedder.name)   # what `hotline index build` uses
    t0 = time.perf_counter()
    state = build_state(entries, embedder, tokenizer, weights=weights, progress=progress)
    build_s = time.perf_counter() - t0
    prep = PreparedQueries(state, embedder, tokenizer, queries, k=K)
    ranked = {}
    for mode in MODES:
        ranked[mode] = []
        for found in prep.found[mode]:
            ids = []
            if found is not None:
                _, rows, feats = found
                ids = [state.entries[e].id for e, _, _ in state.rank(rows, feats, K, mode, weights)]
            ranked[mode].append(ids)
    # the fused ranking without the aspect / place feature: before/after in one run
    for feature in ABLATIONS:
        without = replace(weights, **{feature: 0.0})
        ranked[f"fused_no_{feature}"] = [
            [] if found is None else
            [state.entries[e].id for e, _, _ in state.rank(found[1], found[2], K, "fused", without)]
            for found in prep.found["fused"]]
    ranked["tfidf"] = tfidf_ranked(entries, queries)
    per_mode = {mode: _score(ids, queries, styles) for mode, ids in ranked.items()}
    results = {subset: {mode: per_mode[mode][subset] for mode in per_mode}
               for subset in per_mode["fused"]}
    return {"task": "ncp", "entries": state.n_entries, "rows": state.n_rows,
            "queries": len(queries), "build_seconds": round(build_s, 1), "results": results,
            "weights": weights.to_dict(),
            "note": ("NCP: subsets are rewrite styles, not dev/test halves; default fusion "
                     "weights (nothing tuned on these queries); tfidf = char 1-3-gram "
                     "TF-IDF over the KB questions.")}


def export(directory: Path, entries, queries, styles) -> dict:
    """kb.csv (for `hotline kb import`), queries.txt (one per line, for
    `hotline search --queries`), gold.json (line -> relevant ids and style)."""
    from kb.io import write_entries

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    write_entries(d / "kb.csv", entries)
    with open(d / "queries.txt", "w", encoding="utf-8") as fh:
        for q, _ in queries:
            fh.write(q.replace("\n", " ") + "\n")
    gold = [{"line": i + 1, "query": q, "style": s, "relevant": sorted(rel)}
            for i, ((q, rel), s) in enumerate(zip(queries, styles))]
    (d / "gold.json").write_text(json.dumps(gold, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"dir": str(d), "entries": len(entries), "queries": len(queries)}


def score_search_output(gold_path: Path, results_path: Path) -> dict:
    """Score `hotline search --queries queries.txt --k 10 --json` output
    (one JSON object per line, in query order) against gold.json."""
    gold = json.loads(Path(gold_path).read_text(encoding="utf-8"))
    with open(results_path, encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    if len(lines) != len(gold):
        raise ValueError(f"{results_path} has {len(lines)} result lines; "
                         f"{gold_path} has {len(gold)} queries (one line per query expected)")
    for g, res in zip(gold, lines):
        if res.get("query", "").strip() != g["query"].strip():
            raise ValueError(f"result line {g['line']} is for {res.get('query')!r}, "
                             f"expected {g['query']!r}: the files are out of step")
    ranked = [[h["id"] for h in res.get("hits", [])] for res in lines]
    return _score(ranked, [(g["query"], set(g["relevant"])) for g in gold],
                  [g["style"] for g in gold])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.eval_ncp",
                                 description="score `hotline search --json` output on an "
                                             "exported NCP set")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("score")
    s.add_argument("dir", help="the --export directory (holds gold.json)")
    s.add_argument("results", help="output of `hotline search --queries DIR/queries.txt --k 10 --json`")
    args = ap.parse_args(argv)
    res = score_search_output(Path(args.dir) / "gold.json", Path(args.results))
    print("| subset | R@1 | R@5 | MRR@10 | queries |\n|---|---|---|---|---|")
    for subset, m in res.items():
        print(f"| {subset} | {m['R@1']:.4f} | {m['R@5']:.4f} | {m['MRR@10']:.4f} | {m['queries']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
