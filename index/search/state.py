"""The in-memory index: entries, their rows (question, similar questions,
answer), a dense and a lexical row index, and the search over them.

Not thread-safe by itself: ``SearchService`` serialises access with a lock.
Row ids are positions in the row table and are never reused; removing an
entry marks its rows dead.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from foundation.timing import phase
from index.search.dense import DenseIndex
from index.search.entrylist import EntryList
from index.search.filters import EntryColumns
from index.search.fusion import N_FEATURES, FusionWeights, QueryTerms, char_grams, fused_scores
from index.search.highlight import highlighter, prepare_text
from index.search.lexical import LexicalIndex
from index.search.questions import QuestionFeatures
from index.search.rowsparse import RowSparse
from index.search.types import Hit, SearchFilters
from index.text import normalize
from index.text.aspects import get_aspects

ROW_KINDS = ("question", "similar", "answer")
MODES = ("fused", "dense", "lexical")
_MISSING = object()


def entry_texts(entry, include_answers: bool) -> list[tuple[int, str]]:
    """(kind, text) rows of one entry, duplicates (after normalising) dropped."""
    out, seen = [], set()
    items = [(0, entry.question)] + [(1, s) for s in entry.similar_questions]
    if include_answers and entry.answer:
        items.append((2, entry.answer))
    for kind, text in items:
        key = normalize(text)
        if key and key not in seen:
            seen.add(key)
            out.append((kind, text))
    return out


class PreparedEntries:
    """Rows of some entries, embedded and tokenised, ready to apply.
    ``grams``: the rows' character grams when computed ahead (``with_grams``),
    so the apply step, which holds the searches' lock, only appends."""

    def __init__(self, entries, rows, vectors, terms, grams=None, aspects=None):
        self.entries, self.rows, self.vectors, self.terms = entries, rows, vectors, terms
        self.grams = grams
        self.aspects = aspects    # the entries' question aspect masks, or None: computed lazily

    def with_grams(self) -> "PreparedEntries":
        self.grams = [char_grams(r[2]) for r in self.rows]
        return self


def prepare(entries, embedder, tokenizer, include_answers: bool, batch_size: int = 2048,
            progress: bool = False, with_rows=None) -> PreparedEntries:
    """Rows of ``entries``, embedded and tokenised. ``with_rows(texts, terms)``
    (a full build's lexical side) runs beside the embedding too."""
    rows = []        # (entry position, kind, text)
    for i, e in enumerate(entries):
        rows.extend((i, kind, text) for kind, text in entry_texts(e, include_answers))
    texts = [r[2] for r in rows]
    vecs = np.empty((len(texts), embedder.dim), np.float32)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="embedding rows", unit="row", leave=False)
    # Sorted by length so batches pad little; positions restore the order.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    # Segmenting (jieba, ~8 s for 111k rows) runs beside the embedding, whose
    # onnxruntime calls release the GIL and leave part of the cores idle: the
    # embed-and-segment step went from 12 s to 3 s over the embedding alone.
    def segment():
        terms = [tokenizer.terms(normalize(t)) for t in texts]
        if with_rows is not None:
            with_rows(texts, terms)
        return terms

    def entry_aspects():
        # ~22 us an entry (normalising and the cue scan): here, beside the embedding,
        # so neither a search nor the apply step under the searches' lock pays it.
        lex = get_aspects()
        return np.fromiter((lex.mask(normalize(e.question)) for e in entries), np.int64,
                           len(entries))

    with ThreadPoolExecutor(1, thread_name_prefix="prepare-terms") as pool:
        terms_job = pool.submit(segment) if len(texts) > batch_size else None
        aspects_job = pool.submit(entry_aspects) if len(texts) > batch_size else None
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            vecs[idx] = embedder.embed([texts[i] for i in idx], kind="doc")
            if bar:
                bar.update(len(idx))
        if bar:
            bar.close()
        terms = terms_job.result() if terms_job else segment()
        aspects = aspects_job.result() if aspects_job else entry_aspects()
    return PreparedEntries(list(entries), rows, vecs, terms, aspects=aspects)


class IndexState(QuestionFeatures):
    def __init__(self, dim: int, dense: DenseIndex, lexical: LexicalIndex,
                 weights: FusionWeights, include_answers: bool = False):
        self.dim = dim
        self.dense, self.lexical = dense, lexical
        self.weights = weights
        self.include_answers = include_answers
        self.entries = EntryList()
        self.entry_pos: dict[str, int] = {}
        self.entry_alive = np.zeros(0, bool)
        self.cols = EntryColumns()
        self.row_entry = np.zeros(0, np.int32)
        self.row_kind = np.zeros(0, np.int8)
        self.row_text: list[str] = []
        self.row_alive = np.zeros(0, bool)
        self.seq = 0
        self.version = 0
        self._mask_cache: dict = {}
        self.char_rows = RowSparse()
        self.term_rows = RowSparse(vocab=lexical.vocab)
        self._sums = None
        self._prepared_text: dict[int, tuple[str, str]] = {}
        self._question_row = None
        self._init_question_features()

    # ------------------------------------------------------------ contents
    @property
    def n_entries(self) -> int:
        return len(self.entry_pos)

    @property
    def n_rows(self) -> int:
        return int(self.row_alive.sum())

    def apply(self, p: PreparedEntries, prefitted: bool = False) -> None:
        """Add prepared entries (replacing any live entry with the same id).
        ``prefitted``: a new state whose lexical index and character grams
        were built from ``p``'s rows already."""
        self.remove([e.id for e in p.entries if e.id in self.entry_pos])
        first_row = len(self.row_text)
        base_entry = len(self.entries)
        self.entries.extend(p.entries)
        known = self._entry_aspects
        if len(known) < base_entry:   # a loaded index without stored masks: lazy for those
            known = np.concatenate([known, np.full(base_entry - len(known), -1, np.int64)])
        self._entry_aspects = np.concatenate(
            [known[:base_entry], p.aspects if p.aspects is not None
             else np.full(len(p.entries), -1, np.int64)])
        for i, e in enumerate(p.entries):
            self.entry_pos[e.id] = base_entry + i
        self.add_regions(e.region for e in p.entries)
        self.cols.extend(p.entries)
        self.entry_alive = np.concatenate([self.entry_alive, np.ones(len(p.entries), bool)])
        self.row_entry = np.concatenate(
            [self.row_entry, np.array([base_entry + r[0] for r in p.rows], np.int32)])
        self.row_kind = np.concatenate([self.row_kind, np.array([r[1] for r in p.rows], np.int8)])
        self.row_text.extend(r[2] for r in p.rows)
        self.row_alive = np.concatenate([self.row_alive, np.ones(len(p.rows), bool)])
        ids = np.arange(first_row, first_row + len(p.rows), dtype=np.int64)
        self.dense.add(ids, p.vectors)
        if not prefitted:
            self.lexical.add_rows(p.terms)
        self.term_rows.add_ids(self.lexical.row_terms[first_row:])
        if not prefitted:
            self.char_rows.add(p.grams if p.grams is not None
                               else (char_grams(r[2]) for r in p.rows))
        self._changed()

    def remove(self, entry_ids) -> int:
        positions = [p for p in (self.entry_pos.pop(eid, None) for eid in entry_ids)
                     if p is not None]
        if not positions:
            return 0
        self.entry_alive[positions] = False
        # Rows found from row_entry (0.1 ms median for 111k rows) instead of a list per
        # entry: 24k lists were most of what a load left for the cyclic GC.
        dead_rows = np.flatnonzero(np.isin(self.row_entry, positions) & self.row_alive)
        if len(dead_rows):
            self.row_alive[dead_rows] = False
            self.dense.remove(dead_rows.tolist())
        self._changed()
        return len(positions)

    def _changed(self) -> None:
        self.version += 1
        self._mask_cache.clear()
        self.cols.invalidate()
        self._sums = None
        self._question_row = None

    def _row_sums(self):
        # (char grams per row, IDF mass per row), recomputed after each change.
        if self._sums is None:
            self._sums = (self.char_rows.row_sums(), self.term_rows.row_sums(self.lexical.idf))
        return self._sums

    def _question_rows(self) -> np.ndarray:
        # entry position -> its question row (-1: none), recomputed after each change
        q = self._question_row
        if q is None or len(q) < len(self.entries):
            q = np.full(len(self.entries), -1, np.int64)
            rows = np.flatnonzero(self.row_kind == 0)
            q[self.row_entry[rows]] = rows
            self._question_row = q
        return q

    def warm(self) -> None:
        """Compute what the first search would (row sums, filter arrays), so a
        freshly loaded index does not make its first request pay ~10 ms."""
        self._row_sums()
        self._question_rows()
        self.row_mask(None)

    def get(self, entry_id: str):
        pos = self.entry_pos.get(entry_id)
        return None if pos is None else self.entries[pos]

    # ------------------------------------------------------------ search
    def row_mask(self, filters: SearchFilters | None) -> np.ndarray | None:
        from index.search.filters import as_day

        f = filters or SearchFilters()
        key = f.key(as_day(f.now))
        # One lookup: searches share this cache across threads (foundation.rwlock).
        mask = self._mask_cache.get(key, _MISSING)
        if mask is _MISSING:
            emask = self.cols.mask(f)
            if emask is None and self.row_alive.all():
                mask = None
            else:
                mask = self.row_alive.copy()
                if emask is not None:
                    mask &= emask[self.row_entry]
            if len(self._mask_cache) > 64:
                self._mask_cache.clear()
            self._mask_cache[key] = mask
        return mask

    def candidates(self, qvec, qtext: str, terms: list[str], synonyms: dict, k: int,
                   filters: SearchFilters | None = None, mode: str = "fused"):
        """Candidate rows and their evidence: (QueryTerms, rows, features) where
        features is a float array [n, N_FEATURES]: dense, overlap, chars, bm25 (raw),
        bm25 relative to the best row, rare-term share, aspect mismatch (the row's
        entry question has an aspect the query has not, times the share of the
        query's aspects it misses; 0 for a query without aspects), place conflict
        (1 when the entry names places and none agrees with the query's; 0 for a
        query that names none), unasked place (1 when the query names no place and
        the entry does). ``None`` when nothing passes."""
        w = self.weights
        mask = self.row_mask(filters)
        if mask is not None and not mask.any():
            return None
        qt = QueryTerms(terms, synonyms, self.lexical.vocab, self.lexical.idf)
        qt.mark_rare(self.lexical.idf_at(w.rare_df))
        expanded = sorted({t for g in qt.groups for t in g})
        dense_rows, dense_scores = np.empty(0, np.int64), np.empty(0, np.float32)
        if mode != "lexical":
            dense_rows, dense_scores = self.dense.search(qvec, max(w.dense_candidates, 2 * k), mask)
            if mask is None and self.dense.kind == "hnsw":
                keep = self.row_alive[dense_rows]
                dense_rows, dense_scores = dense_rows[keep], dense_scores[keep]
        lex_rows = np.empty(0, np.int64)
        bm25, bm25_max = None, 0.0
        if mode != "dense" and expanded:
            bm25 = self.lexical.scores(np.array(expanded, np.int32))
            # Partition only the allowed rows that share a term: a few hundred,
            # not 100k (masking the whole score array cost more than this).
            nz = (bm25 > 0).nonzero()[0]     # 3x faster than flatnonzero on floats
            if mask is not None:             # None: every row is alive (row_mask)
                nz = nz[mask[nz]]
            found = bm25[nz]                 # ~17k of 111k rows for a demo query
            bm25_max = float(found.max()) if len(nz) else 0.0
            n_lex = min(max(w.lexical_candidates, 2 * k), len(nz))
            lex_rows = (nz[np.argpartition(-found, n_lex - 1)[:n_lex]]
                        if 0 < n_lex < len(nz) else nz)
        if mode == "dense":
            rows = dense_rows
            feats = np.zeros((len(rows), N_FEATURES), np.float32)
            feats[:, 0] = dense_scores
            return qt, rows, feats
        if mode == "lexical":
            rows = lex_rows
            feats = np.zeros((len(rows), N_FEATURES), np.float32)
            if bm25 is not None:
                feats[:, 3] = bm25[rows]
            return qt, rows, feats
        dense_of = dict(zip(dense_rows.tolist(), dense_scores.tolist()))
        extra = [r for r in lex_rows.tolist() if r not in dense_of]
        if extra:
            vecs = self.dense.vectors(np.array(extra, np.int64))
            dense_of.update(zip(extra, (vecs @ np.asarray(qvec).ravel()).tolist()))
        rows = np.fromiter(dense_of.keys(), np.int64, len(dense_of))
        feats = np.zeros((len(rows), N_FEATURES), np.float32)
        feats[:, 0] = np.fromiter(dense_of.values(), np.float32, len(dense_of))
        if bm25 is not None:
            feats[:, 3] = bm25[rows]
        feats[:, 4] = feats[:, 3] / bm25_max if bm25_max > 0 else 0.0
        char_sizes, idf_sums = self._row_sums()
        q_grams = char_grams(qtext)
        q_chars, n_qchars = self.char_rows.ids(q_grams, grow=False), len(q_grams)
        if n_qchars:
            inter = self.char_rows.dot_rows(rows, self.char_rows.indicator(q_chars))
            feats[:, 2] = 2 * inter / (n_qchars + char_sizes[rows])
        if qt.terms:
            q_w = self.term_rows.indicator([], 0.0)
            rare_ind = self.term_rows.indicator([], 0.0)
            for ids, wt, rare in zip(qt.groups, qt.weights, qt.rare):
                idx = list(ids)
                q_w[idx] = wt
                if rare:
                    rare_ind[idx] = 1.0
            inter_w = self.term_rows.dot_rows(rows, q_w)
            union = qt.total + idf_sums[rows] - np.minimum(inter_w, idf_sums[rows])
            feats[:, 1] = np.where(union > 0, inter_w / np.maximum(union, 1e-9), 0.0)
            n_rare = sum(qt.rare)
            if n_rare:
                feats[:, 5] = np.minimum(self.term_rows.dot_rows(rows, rare_ind), n_rare) / n_rare
        self.question_columns(qtext, self.row_entry[rows], feats)
        return qt, rows, feats

    def rank(self, rows: np.ndarray, feats: np.ndarray, k: int, mode: str = "fused",
             weights: FusionWeights | None = None) -> list[tuple[int, float, int]]:
        """Best ``k`` (entry position, score, best row): an entry scores its best row."""
        w = weights or self.weights
        if mode == "dense":
            scores = feats[:, 0].copy()
        elif mode == "lexical":
            scores = feats[:, 3].copy()
        else:
            scores = fused_scores(w, feats)
        scores[self.row_kind[rows] == 2] *= w.answer_weight
        entries = self.row_entry[rows]
        order = np.argsort(-scores, kind="stable")
        out, seen = [], set()
        for i in order.tolist():
            e = int(entries[i])
            if e not in seen:
                seen.add(e)
                out.append((e, float(scores[i]), int(rows[i])))
                if len(out) == k:
                    break
        return out

    def search(self, qvec, qtext: str, terms: list[str], synonyms: dict, k: int,
               filters: SearchFilters | None = None, mode: str = "fused") -> list[Hit]:
        with phase("retrieve"):
            found = self.candidates(qvec, qtext, terms, synonyms, k, filters, mode)
        if found is None:
            return []
        qt, rows, feats = found
        with phase("fuse"):
            ranked = list(self.rank(rows, feats, k, mode))
        with phase("highlight"):
            return self._hits(ranked, qt, synonyms)

    def _hits(self, ranked, qt, synonyms) -> list[Hit]:
        highlight = highlighter(qt.terms + _expansions(qt.terms, synonyms))
        hits = []
        for e, score, row in ranked:
            entry = self.entries[e]
            if e not in self._prepared_text:
                self._prepared_text[e] = (prepare_text(entry.question), prepare_text(entry.answer))
            hits.append(Hit(id=entry.id, score=score, question=entry.question,
                            answer=entry.answer, department=list(entry.department),
                            category=list(entry.category), region=entry.region,
                            highlights=highlight(*self._prepared_text[e], prepared=True),
                            matched=ROW_KINDS[int(self.row_kind[row])],
                            matched_text=self.row_text[row]))
        return hits


def _expansions(terms, synonyms):
    out = []
    for t in terms:
        out.extend(s for s in synonyms.get(t, ()) if s not in terms and s not in out)
    return out
