"""Held-apart evaluation queries: written from templates the similar questions never use,
then roughened the way callers and typed messages are (rambling, typos, traditional
characters). Each points at one published, currently valid entry."""
from __future__ import annotations

import random

from kb.demo.phrasing import ramble, traditional, typo

# Share of queries per entry family (roughly how often each kind is asked).
FAMILY_SHARE = {"service": 0.36, "service_district": 0.14, "topic": 0.10, "topic_district": 0.08,
                "street": 0.10, "community": 0.08, "institution": 0.05, "bus": 0.05, "metro": 0.02,
                "policy": 0.02}
TODAY = "2026-11-26"


def _current(e) -> bool:
    return e["status"] == "published" and (not e["valid_from"] or e["valid_from"] <= TODAY) and \
        (not e["valid_to"] or e["valid_to"] >= TODAY)


def generate_queries(kb, seed: int = 0, n: int = 500) -> list[dict]:
    rng = random.Random(f"{seed}:queries")
    known = set()
    for e in kb.entries:
        known.add(e["question"].rstrip("？?"))
        known.update(q.rstrip("？?") for q in e["similar_questions"])
    pools = {}
    for e in kb.entries:
        if _current(e) and kb.query_seeds.get(e["id"]):
            pools.setdefault(kb.families[e["id"]], []).append(e["id"])
    out, used = [], set()
    for fam, share in FAMILY_SHARE.items():
        ids = pools.get(fam, [])
        want = min(len(ids), max(1, round(n * share)))
        for eid in rng.sample(ids, want):
            q = rng.choice(kb.query_seeds[eid])
            r = rng.random()
            if r < 0.35:
                q = ramble(rng, q)
            elif r < 0.5:
                q = typo(rng, q, 2)
            elif r < 0.6:
                q = traditional(q)
            elif r < 0.7:
                q = typo(rng, ramble(rng, q), 1)
            if q.rstrip("？?") in known or q in used:
                continue
            used.add(q)
            out.append({"query": q, "id": eid})
    return out
