"""Full builds: a new index directory is built beside the serving one,
its manifest written last, then ``index_root/current`` is switched atomically.

A failed build removes its temporary directory and leaves ``current`` as it
was. Loading checks the manifest and refuses an index built with another
embedder than the one configured.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from foundation.artifacts import (building, data_hash, point_current, read_manifest,
                               resolve_current, write_manifest)
from foundation.gcpacing import pace
from index.search.dense import DenseIndex
from index.search.entrylist import EntryList
from index.search.errors import BuildFailed, EmbedderMismatch, IndexNotBuilt
from index.search.filters import EntryColumns
from index.search.fusion import FusionWeights, char_grams
from index.search.lexical import LexicalIndex
from index.search.rowsparse import RowSparse
from index.search.state import IndexState, prepare

log = logging.getLogger(__name__)

KIND = "search-index"
FORMAT_VERSION = 1
CHARS_DIR = "chars"   # the rows' character grams (RowSparse), so loads need not recompute them
TERMS_DIR = "terms"   # the rows' distinct term ids (RowSparse over the lexical vocabulary)
ENTRY_COLUMNS = "entry_columns.json"   # ids and filter columns, so loads parse no entry
# The entries' question aspect masks, valid for the lexicon named in the manifest
# (``aspect_lexicon``); an index without them, or built with other cues, computes
# them lazily (an optional file: no format change).
ENTRY_ASPECTS = "entry_aspects.npy"
# The entries' place sets (``IndexState.saved_places``): each entry's set number,
# and the distinct sets with the place lexicon they were found with; optional too.
ENTRY_PLACES = "entry_places.npy"
PLACE_SETS = "place_sets.json"
KEEP_OLD = 1          # previous builds kept (another process may still serve one)


def build_state(entries, embedder, tokenizer, *, dense_kind: str = "auto",
                include_answers: bool = False, weights: FusionWeights | None = None,
                progress: bool = False) -> IndexState:
    """An in-memory index over ``entries`` (only published ones are used)."""
    entries = [e for e in entries if e.status == "published"]
    lexical, chars = LexicalIndex(), RowSparse()

    def lexical_side(texts, terms):   # runs beside the embedding (see prepare)
        lexical.fit(terms)
        chars.add(char_grams(t) for t in texts)

    p = prepare(entries, embedder, tokenizer, include_answers, progress=progress,
                with_rows=lexical_side)
    dense = DenseIndex(embedder.dim, dense_kind, expected_rows=len(p.rows))
    state = IndexState(embedder.dim, dense, lexical, weights or FusionWeights.for_embedder(embedder.name),
                       include_answers)
    state.char_rows = chars
    t = time.perf_counter()
    state.apply(p, prefitted=True)
    log.debug("dense %s index over %d rows added in %.1fs", dense.kind, len(p.rows),
              time.perf_counter() - t)
    return state


def save_state(state: IndexState, directory: Path, **manifest) -> dict:
    d = Path(directory)
    alive = [state.entries[p] for p in sorted(state.entry_pos.values())]
    with open(d / "entries.jsonl", "w", encoding="utf-8") as fh:
        for e in alive:
            fh.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
    if not state.row_alive.all() or state.lexical.delta_rows:
        raise BuildFailed("only a freshly built index can be saved (it has incremental changes)")
    (d / ENTRY_COLUMNS).write_text(
        json.dumps({"id": [e.id for e in alive], **state.cols.to_dict()}, ensure_ascii=False),
        encoding="utf-8")
    np.save(d / "row_entry.npy", state.row_entry, allow_pickle=False)
    np.save(d / "row_kind.npy", state.row_kind, allow_pickle=False)
    (d / "row_text.json").write_text(json.dumps(state.row_text, ensure_ascii=False), encoding="utf-8")
    state.dense.save(d)
    state.lexical.save(d)
    state.char_rows.save(d / CHARS_DIR)
    state.term_rows.save(d / TERMS_DIR, with_vocab=False)   # the lexical index saves its vocab
    (d / "fusion.json").write_text(json.dumps(state.weights.to_dict(), indent=2), encoding="utf-8")
    np.save(d / ENTRY_ASPECTS, state.entry_aspects(np.array(sorted(state.entry_pos.values()),
                                                            np.int64)), allow_pickle=False)
    place_sets, entry_places = state.saved_places()
    np.save(d / ENTRY_PLACES, entry_places, allow_pickle=False)
    (d / PLACE_SETS).write_text(json.dumps(place_sets, ensure_ascii=False), encoding="utf-8")
    return write_manifest(
        d, KIND, FORMAT_VERSION, aspect_lexicon=state.aspects.identity,
        dense_kind=state.dense.kind, include_answers=state.include_answers,
        n_entries=state.n_entries, n_rows=len(state.row_text), dim=state.dim,
        kb_seq=state.seq,
        data_hash=data_hash(f"{e.id}:{e.revision}\n" for e in alive),
        **manifest)


def check_embedder(manifest: dict, embedder, directory) -> None:
    built = manifest.get("embedder_identity")
    if built != embedder.identity:
        raise EmbedderMismatch(
            f"index {directory} was built with embedder {manifest.get('embedder')!r} "
            f"({built}), but the configured embedder is {embedder.name!r} ({embedder.identity}); "
            f"rebuild it with `hotline index build` or configure embedder={manifest.get('embedder')!r}")


def load_state(directory: Path, embedder) -> tuple[IndexState, dict]:
    d = Path(directory)
    manifest = read_manifest(d, KIND, FORMAT_VERSION)
    check_embedder(manifest, embedder, d)
    entries = EntryList.load(d / "entries.jsonl")
    if (d / ENTRY_COLUMNS).is_file():
        columns = json.loads((d / ENTRY_COLUMNS).read_text(encoding="utf-8"))
        ids = columns.pop("id")
        cols = EntryColumns.from_dict(columns)
    else:  # saved before the columns were: parse every entry
        ids = [e.id for e in entries]
        cols = EntryColumns()
        cols.extend(entries)
    if len(ids) != len(entries):
        raise BuildFailed(f"index {d} is inconsistent: {len(entries)} entries, {len(ids)} ids")
    pace()
    row_entry = np.load(d / "row_entry.npy", allow_pickle=False)
    row_kind = np.load(d / "row_kind.npy", allow_pickle=False)
    row_text = json.loads((d / "row_text.json").read_text(encoding="utf-8"))
    pace()
    # A weight saved before its feature existed takes the encoder family's default.
    weights = FusionWeights.from_dict({**FusionWeights.for_embedder(embedder.name).to_dict(),
                                       **json.loads((d / "fusion.json").read_text(encoding="utf-8"))})
    dense = DenseIndex.load(d, manifest["dim"], manifest["dense_kind"])
    pace()
    lexical = LexicalIndex.load(d)
    pace()
    state = IndexState(manifest["dim"], dense, lexical, weights, manifest["include_answers"])
    state.entries, state.cols = entries, cols
    state.add_regions(cols.region)
    state.entry_pos = {eid: i for i, eid in enumerate(ids)}
    pace()
    state.entry_alive = np.ones(len(entries), bool)
    state.row_entry, state.row_kind, state.row_text = row_entry, row_kind, row_text
    state.row_alive = np.ones(len(row_text), bool)
    if (d / TERMS_DIR / "indptr.npy").is_file():
        state.term_rows = RowSparse.load(d / TERMS_DIR, vocab=lexical.vocab)
    else:
        lens = np.fromiter(map(len, lexical.row_terms), np.int64, len(lexical.row_terms))
        state.term_rows.set_base(np.concatenate(lexical.row_terms) if len(lens) else lens, lens)
    pace()
    if (d / CHARS_DIR / "indptr.npy").is_file():
        state.char_rows = RowSparse.load(d / CHARS_DIR)
    else:  # saved before the character grams were: recompute them (~3 s for 111k rows)
        state.char_rows.add(char_grams(t) for t in row_text)
    if (d / ENTRY_ASPECTS).is_file() and manifest.get("aspect_lexicon") == state.aspects.identity:
        masks = np.load(d / ENTRY_ASPECTS, allow_pickle=False)
        if len(masks) == len(entries):
            state._entry_aspects = masks.astype(np.int64, copy=False)
    if (d / ENTRY_PLACES).is_file() and (d / PLACE_SETS).is_file():
        # Found with another gazetteer or other regions: computed lazily instead.
        state.restore_places(json.loads((d / PLACE_SETS).read_text(encoding="utf-8")),
                             np.load(d / ENTRY_PLACES, allow_pickle=False))
    state.seq = int(manifest["kb_seq"])
    if dense.ntotal != len(row_text) or len(lexical.row_terms) != len(row_text):
        raise BuildFailed(f"index {d} is inconsistent: {len(row_text)} rows, "
                          f"{dense.ntotal} vectors, {len(lexical.row_terms)} token lists")
    pace()
    state.warm()
    return state, manifest


def current_dir(settings) -> Path:
    d = resolve_current(settings.index_root)
    if d is None or not d.is_dir():
        raise IndexNotBuilt(f"no search index under {settings.index_root}; "
                            f"build one with `hotline index build`")
    return d


def build_index(store, embedder, settings, *, tokenizer=None, dense_kind: str = "auto",
                include_answers: bool = False, weights: FusionWeights | None = None,
                progress: bool = True) -> Path:
    """Build a full index from ``store`` and publish it as ``current``."""
    from index.text import get_tokenizer

    tokenizer = tokenizer or get_tokenizer()
    root = Path(settings.index_root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"idx-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.time_ns() % 10**6:06d}"
    t0 = time.perf_counter()
    # The change log position is taken before reading: changes made during the
    # build are replayed by the next sync (replaying one is idempotent).
    seq = store.last_seq()
    entries = list(store.iter_entries(status="published"))
    try:
        with building(root / name, replace=False) as tmp:
            state = build_state(entries, embedder, tokenizer, dense_kind=dense_kind,
                                include_answers=include_answers, weights=weights,
                                progress=progress)
            state.seq = seq
            save_state(state, tmp, embedder=embedder.name, embedder_identity=embedder.identity,
                       tokenizer_identity=tokenizer.identity,
                       build_seconds=round(time.perf_counter() - t0, 2))
    except Exception as exc:
        raise BuildFailed(f"index build failed, the previous index keeps serving: {exc}") from exc
    point_current(root, name)
    _prune(root, keep={name})
    log.info("built %s: %d entries, %d rows in %.1fs", name, state.n_entries,
             len(state.row_text), time.perf_counter() - t0)
    return root / name


def _prune(root: Path, keep: set[str]) -> None:
    builds = sorted((p for p in root.iterdir() if p.is_dir() and p.name.startswith("idx-")),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    old = [p for p in builds if p.name not in keep][KEEP_OLD:]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
