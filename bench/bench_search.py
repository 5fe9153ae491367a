"""KB search: one query end to end (normalise, embed, search, fuse, filter)
p50/p99, full build time, incremental update latency, memory.

Baselines measured in the same run: embedding one query alone (the floor of a
query's latency) and embedding the rows alone (the floor of a build).

    hotline bench search [--entries N] [--queries N] [--dense auto|flat|hnsw]

Uses the published entries of HOME's KB (``hotline kb demo`` makes the 23k demo
KB); ``--entries`` takes the first N for a quicker, smaller run.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import median, percentile, rss_mb, save


def _current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(settings, argv=None) -> int:
    p = argparse.ArgumentParser(prog="hotline bench search")
    p.add_argument("--entries", type=int, default=0, help="first N published entries (0 = all)")
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--dense", default="auto", choices=("auto", "flat", "hnsw"))
    p.add_argument("--embed-threads", type=int, default=0,
                   help="embedder threads (default: the embed_threads setting, i.e. what "
                        "`hotline serve` uses)")
    args = p.parse_args(argv or [])
    if args.embed_threads:
        settings = settings.replace(embed_threads=args.embed_threads)

    from index.embedders import get_embedder
    from index.search import SearchFilters, SearchService
    from index.search.build import KIND, build_state, save_state
    from index.text import get_tokenizer, normalize
    from kb import KBStore

    if not settings.kb_path.is_file():
        print(f"no KB at {settings.kb_path}; run `hotline kb demo` first")
        return 2
    store = KBStore(settings.kb_path)
    entries = list(store.iter_entries(status="published"))
    if args.entries:
        entries = entries[:args.entries]
    embedder = get_embedder(settings.embedder, settings)
    tok = get_tokenizer()
    embedder.embed(["预热"])
    rss0 = _current_rss_mb()

    # Baseline: the embedder alone over a sample of row texts.
    sample = [e.question for e in entries[:500]] + [s for e in entries[:100] for s in e.similar_questions]
    t0 = time.perf_counter()
    embedder.embed(sample, kind="doc")
    embed_rows_per_s = len(sample) / (time.perf_counter() - t0)

    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    t0 = time.perf_counter()
    state = build_state(entries, embedder, tok, dense_kind=args.dense, progress=True)
    save_state(state, tmp, embedder=embedder.name, embedder_identity=embedder.identity,
               tokenizer_identity=tok.identity)
    build_s = time.perf_counter() - t0
    n_rows = len(state.row_text)
    del state
    bsettings = settings.replace(home=tmp / "home")
    t0 = time.perf_counter()
    svc = SearchService(bsettings, embedder=embedder, tokenizer=tok, index_dir=tmp)
    load_s = time.perf_counter() - t0
    rss_loaded = _current_rss_mb()

    qpath = settings.demo_dir / "search_queries.jsonl"
    if qpath.is_file():
        queries = [json.loads(x)["query"] for x in qpath.read_text(encoding="utf-8").splitlines() if x]
    else:
        queries = [e.similar_questions[0] if e.similar_questions else e.question for e in entries]
    queries = (queries * (1 + args.queries // max(len(queries), 1)))[:args.queries]
    for q in queries[:20]:
        svc.search(q, k=5)

    def timings(fn):
        out = []
        for q in queries:
            t = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - t) * 1000)
        return out

    embed_ms = timings(lambda q: embedder.embed([normalize(q)], kind="query"))
    query_ms = timings(lambda q: svc.search(q, k=5))
    filt = SearchFilters(region="临江区")
    query_filtered_ms = timings(lambda q: svc.search(q, k=5, filters=filt))

    # Incremental: a new entry, searchable after sync; then retired, gone after sync.
    kb_tmp = KBStore(tmp / "inc.sqlite3")
    inc_ms, ok = [], 0
    for i in range(5):
        eid = f"bench-new-{i}"
        t = time.perf_counter()
        kb_tmp.add({"id": eid, "question": f"第{i}届海州国际风筝节K{i}7门票在哪里领取",
                    "similar_questions": [f"风筝节K{i}7门票怎么领"], "answer": "在海州通领取。"})
        svc.sync(kb_tmp)
        inc_ms.append((time.perf_counter() - t) * 1000)
        ok += svc.search(f"风筝节K{i}7门票", k=1)[0].id == eid
    retire_ms = []
    for i in range(5):
        eid = f"bench-new-{i}"
        t = time.perf_counter()
        kb_tmp.retire(eid, base_revision=kb_tmp.get(eid).revision)
        svc.sync(kb_tmp)
        retire_ms.append((time.perf_counter() - t) * 1000)

    status = svc.status()
    figures = {
        "entries": len(entries), "rows": n_rows, "dense_kind": status["dense_kind"],
        "embedder": embedder.name, "embedder_backend": getattr(embedder, "backend", "?"),
        "embed_threads": getattr(embedder, "threads", settings.embed_threads),
        "queries": len(queries),
        "build_seconds": round(build_s, 1),
        "baseline_embed_rows_per_s": round(embed_rows_per_s, 1),
        "build_floor_seconds_embedding_only": round(n_rows / embed_rows_per_s, 1),
        "build_ratio_to_embedding_floor": round(build_s / (n_rows / embed_rows_per_s), 2),
        "load_seconds": round(load_s, 2),
        "query_ms_p50": round(median(query_ms), 2), "query_ms_p99": round(percentile(query_ms, 99), 2),
        "query_filtered_ms_p50": round(median(query_filtered_ms), 2),
        "query_filtered_ms_p99": round(percentile(query_filtered_ms, 99), 2),
        "baseline_embed_query_ms_p50": round(median(embed_ms), 2),
        "baseline_embed_query_ms_p99": round(percentile(embed_ms, 99), 2),
        "query_ratio_to_embed_p50": round(median(query_ms) / median(embed_ms), 2),
        "search_without_embedding_ms_p50": round(median(query_ms) - median(embed_ms), 2),
        "incremental_add_ms_median": round(median(inc_ms), 1),
        "incremental_add_ms_max": round(max(inc_ms), 1),
        "incremental_added_found": f"{ok}/5",
        "incremental_retire_ms_median": round(median(retire_ms), 1),
        "rss_mb_before_build": round(rss0, 1), "rss_mb_serving": round(rss_loaded, 1),
        "rss_mb_peak": round(rss_mb(), 1),
        "index_dir_mb": round(sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) / 2**20, 1),
        "kind": KIND,
    }
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    save("search" if not args.entries else f"search_{args.entries}", figures)
    return 0
