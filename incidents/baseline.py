"""The baseline linker: character 2-3-gram TF-IDF cosine between reports of one
region within 48 hours, linked when the cosine reaches a threshold, incidents
the connected components. ``best_threshold`` picks the threshold in hindsight
on the data it is scored on (an upper bound on what the baseline can do)."""
from __future__ import annotations

from typing import Sequence

from incidents.metrics import bcubed
from incidents.reports import Report

WINDOW_HOURS = 48.0
GRID = tuple(round(0.05 * k, 2) for k in range(1, 20))


def _edges(reports: Sequence[Report], window_hours: float, floor: float):
    """(cosine, i, j) for pairs in one region within the window, cosine >= floor."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from index.text import Normalizer

    norm = Normalizer()
    texts = [norm(r.text or "") for r in reports]
    X = TfidfVectorizer(analyzer="char", ngram_range=(2, 3)).fit_transform(texts)
    by_region: dict[str, list[int]] = {}
    for i, r in enumerate(reports):
        by_region.setdefault((r.region or "").strip(), []).append(i)
    edges = []
    for idx in by_region.values():
        idx = np.asarray(idx)
        sims = (X[idx] @ X[idx].T).tocoo()
        times = np.asarray([reports[k].time for k in idx])
        for a, b, s in zip(sims.row, sims.col, sims.data):
            if a < b and s >= floor and abs(times[a] - times[b]) <= window_hours:
                edges.append((float(s), int(idx[a]), int(idx[b])))
    return edges


def _components(n: int, edges, threshold: float) -> list[int]:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s, i, j in edges:
        if s >= threshold:
            parent[find(i)] = find(j)
    return [find(i) for i in range(n)]


def tfidf_link(reports: Sequence[Report], threshold: float,
               window_hours: float = WINDOW_HOURS) -> list[int]:
    return _components(len(reports), _edges(reports, window_hours, threshold), threshold)


def best_threshold(reports: Sequence[Report], gold: Sequence,
                   window_hours: float = WINDOW_HOURS) -> tuple[float, list[int]]:
    """The grid threshold with the best B-cubed F1 on (reports, gold), and its labels."""
    edges = _edges(reports, window_hours, min(GRID))
    best = (-1.0, GRID[0], [])
    for t in GRID:
        labels = _components(len(reports), edges, t)
        f1 = bcubed(labels, gold)["f1"]
        if f1 > best[0]:
            best = (f1, t, labels)
    return best[1], best[2]
