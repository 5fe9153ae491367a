"""`hotline search "查询文本" --k 5 [--json]` and `hotline search --queries FILE --k 10 --json`.

With ``--queries`` each input line is one query (a JSON object with a
``query`` field is accepted too); each output line is
``{"query": "...", "hits": [{"id": "...", "score": 0.83}, ...]}``, in order.
The index follows the KB: pending KB changes are applied before searching.
"""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("search", help="search the knowledge base")
    p.add_argument("query", nargs="?", help="query text")
    p.add_argument("--queries", help="file with one query per line ('-' = stdin)")
    p.add_argument("--k", type=int, default=5, help="number of hits (default 5)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--region"), p.add_argument("--department"), p.add_argument("--category")
    p.add_argument("--now", help="ISO date for validity filtering (default today)")
    p.add_argument("--mode", choices=("fused", "dense", "lexical"), default="fused")
    p.add_argument("--no-sync", action="store_true", help="do not apply pending KB changes first")
    p.set_defaults(func=run)


def _read_queries(path: str) -> list[str]:
    fh = sys.stdin if path == "-" else open(path, encoding="utf-8")
    out = []
    with fh:
        for line in fh:
            # A blank line is still a query (answered with an error in place), so
            # output line N always belongs to input line N.
            line = line.rstrip("\r\n").strip()
            if line.startswith("{"):
                try:
                    line = json.loads(line)["query"]
                except (ValueError, KeyError, TypeError):
                    pass
            out.append(line)
    return out


def run(args, settings) -> int:
    from index.search import SearchFilters, SearchService

    if (args.query is None) == (args.queries is None):
        print("error: give either a query or --queries FILE", file=sys.stderr)
        return 2
    svc = SearchService(settings)
    if not args.no_sync:
        from kb import KBStore, kb_exists, kb_target

        if kb_exists(settings):
            svc.sync(KBStore(kb_target(settings)))
    filters = SearchFilters(region=args.region, department=args.department,
                            category=args.category, now=args.now)
    queries = _read_queries(args.queries) if args.queries else [args.query]
    from foundation.errors import InvalidInput

    for q in queries:
        try:
            hits = svc.search(q, k=args.k, filters=filters, mode=args.mode)
        except InvalidInput as exc:
            if not args.queries:
                raise
            # One bad line must not shift every later answer: report it in place.
            print(json.dumps({"query": q, "hits": [], "error": str(exc)}, ensure_ascii=False))
            continue
        if args.json and args.queries:
            print(json.dumps({"query": q, "hits": [{"id": h.id, "score": round(h.score, 4)}
                                                    for h in hits]}, ensure_ascii=False))
        elif args.json:
            print(json.dumps({"query": q, "hits": [h.to_dict() for h in hits]}, ensure_ascii=False))
        else:
            print(f"# {q}")
            for i, h in enumerate(hits, 1):
                words = "、".join(h.highlights.get("question", []))
                print(f"{i}. {h.score:.3f}  [{h.id}] {h.question}  ({h.matched}"
                      + (f"; 命中: {words}" if words else "") + ")")
    return 0
