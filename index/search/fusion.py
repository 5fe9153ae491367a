"""Fusing dense and lexical evidence into one score per row (entry = best row).

Naive reciprocal-rank fusion with BM25 made paraphrase retrieval *worse* than
dense alone here (R@1 0.62 vs 0.76): BM25 rewards an entry that merely shares
an entity word with the query. So the lexical side enters as small, bounded
corrections to the dense cosine, each of which has to pay for itself on data
(weights tuned on the LCQMC dev half by ``hotline eval search --tune``, reported
on the other half):

* ``overlap``  — IDF-weighted Jaccard of query and row terms (synonym-aware):
  symmetric, so extra unmatched words in the row cost, unlike BM25;
* ``chars``    — Dice of character unigrams+bigrams: robust to segmentation
  differences and typos;
* ``bm25``     — BM25 relative to the query's best row, a weak tie-breaker;
* ``rare``     — exact matches of rare query terms (codes, numbers, names,
  district and street names), applied only when dense is not confident
  (best cosine below ``rare_gate``) — the case the lexical side exists for;
* ``aspect``   — a penalty for a row whose *entry question* asks about
  something else than the query (补办 vs 申领, 多久 vs 在哪办:
  ``index.text.aspects``): the entry has an aspect the query has not, scaled
  by the share of the query's aspects it misses (0 for a query without
  aspects). Chosen on the demo queries' dev half, where the service words drew
  the wrong question about the right service to rank 1; a bonus for agreeing
  aspects was tried and cost the NCP task (it lifts an entry about another
  place that shares the aspect word): docs/search.md;
* ``place``    — a penalty for a row whose entry names places (in its question or
  its ``region``) none of which agrees with a place the query names (陕西 vs 山西,
  临江区 vs 东湖区: ``index.text.places``); a province agrees with its cities;
* ``unasked_place`` — a small penalty for a row whose entry names a place when
  the query names none: a caller who names no district asks the city-wide
  question, and a district's entry answers a narrower one. A nudge, not a rule:
  chosen on the demo queries' dev half (docs/search.md).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

import numpy as np

# dense, overlap, chars, bm25 raw, bm25 relative, rare share, aspect mismatch,
# place conflict, unasked place
N_FEATURES = 9
_CODELIKE = re.compile(r"[0-9a-z]")
_CHARS = re.compile(r"[\w\u4e00-\u9fff]")


@dataclass(frozen=True)
class FusionWeights:
    # Tuned on the LCQMC dev half (see docs/search.md for the held-out figures).
    overlap: float = 0.05
    chars: float = 0.3
    bm25: float = 0.1
    rare: float = 0.1
    rare_gate: float = 0.85
    # A term is rare when at most this many rows hold it. 19 rows is what IDF >= 6.0
    # meant on LCQMC's 8,003 rows, where the weight was tuned; a fixed IDF meant
    # "at most 277 rows" on the demo KB's 111k, i.e. nearly every content word, and
    # a bus route number counted no more than 手机 (docs/search.md).
    rare_df: int = 19
    aspect: float = 0.2            # 0 ranks exactly as before the aspect feature
    # An entry about another place is wrong whatever its words share: on the NCP
    # dev rewrites R@1 rose alike for any weight 0.03-0.3 (e5), so the penalty
    # takes the aspect's scale per encoder (docs/search.md).
    place: float = 0.2             # 0 ranks exactly as before the place feature
    # A nudge: demo dev half (3,000-entry KB) R@1 0.880 -> 0.892 at 0.02 (0.899 at
    # 0.05), test half 0.868 -> 0.876 at both; at 0.05 a relevant district entry fell
    # below an unrelated city-wide one on the widget's small KB. Halved for e5.
    unasked_place: float = 0.02
    answer_weight: float = 0.85    # answer rows count less than questions
    dense_candidates: int = 40
    lexical_candidates: int = 20

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "FusionWeights":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})

    @classmethod
    def for_embedder(cls, name: str) -> "FusionWeights":
        """The defaults an index built with embedder ``name`` starts from. The
        lexical terms add to a cosine, and encoders spread their cosines
        differently (e5's cluster in 0.75–0.95), so each was tuned on the LCQMC dev
        half with its own encoder (docs/search.md)."""
        return cls.from_dict(EMBEDDER_WEIGHTS.get(name.split(":", 1)[0], {}))


# Overrides of the defaults above per encoder family, from `hotline eval search`'s
# tuning on the LCQMC dev half with that encoder; the test half and the NCP dev set
# judge them.
EMBEDDER_WEIGHTS: dict[str, dict] = {
    # LCQMC dev half, 2026-12-06: test-half fused R@1 0.785 vs 0.775 with the USE defaults
    "e5": {"overlap": 0.0, "chars": 0.1, "bm25": 0.0, "aspect": 0.1, "place": 0.1,
           "unasked_place": 0.01},
    # aspect 0.1 for the e5 family: on the demo dev half (3,000-entry KB) 0.1 and 0.2 tie at
    # R@1 0.911 (0.787 without), R@5 0.977 vs 0.969; NCP dev 0.869 either way (0.872
    # without). Not measured with e5-hotline, which inherits it.
    # the same tuning with the fine-tuned encoder (`hotline train --encoder`)
    "e5-hotline": {"overlap": 0.0, "chars": 0.1, "bm25": 0.05, "aspect": 0.1, "place": 0.1,
                   "unasked_place": 0.01},
}


def char_grams(text: str) -> set[str]:
    chars = "".join(_CHARS.findall(text.lower()))
    return set(chars) | {chars[i:i + 2] for i in range(len(chars) - 1)}


class QueryTerms:
    """A query's terms as synonym groups of token ids, with IDF weights."""

    def __init__(self, terms: list[str], synonyms: dict, vocab: dict, idf: np.ndarray):
        self.terms = list(dict.fromkeys(terms))
        self.groups: list[frozenset] = []
        self.weights: list[float] = []
        self.rare: list[bool] = []
        unknown = None   # the weight of a term outside the vocabulary: the largest IDF
        for t in self.terms:
            members = [t, *synonyms.get(t, ())]
            ids = frozenset(vocab[m] for m in members if m in vocab)
            if ids:
                w = float(idf[list(ids)].max())
            else:
                if unknown is None:
                    unknown = float(idf.max()) if len(idf) else 1.0
                w = unknown
            self.groups.append(ids)
            self.weights.append(w)
            self.rare.append(bool(_CODELIKE.search(t)) and len(t) >= 2)
        self.total = sum(self.weights) or 1.0

    def mark_rare(self, min_idf: float) -> None:
        """Terms whose IDF is at least ``min_idf`` are rare too (code-like ones are)."""
        self.rare = [r or w >= min_idf for r, w in zip(self.rare, self.weights)]


def fused_scores(w: FusionWeights, feats: np.ndarray) -> np.ndarray:
    """Row scores from the feature matrix built by ``IndexState.candidates``
    (columns: dense, overlap, chars, bm25 raw, bm25 relative, rare share,
    aspect mismatch, place conflict, unasked place)."""
    score = feats[:, 0] + w.overlap * feats[:, 1] + w.chars * feats[:, 2] + w.bm25 * feats[:, 4]
    if len(feats) and feats[:, 0].max() < w.rare_gate:
        score = score + w.rare * feats[:, 5]
    # skipped at 0, so a zero weight gives the scores of before the feature bit for bit
    if w.aspect and feats.shape[1] > 6:
        score = score - w.aspect * feats[:, 6]
    if w.place and feats.shape[1] > 7:
        score = score - w.place * feats[:, 7]
    if w.unasked_place and feats.shape[1] > 8:
        score = score - w.unasked_place * feats[:, 8]
    return score
