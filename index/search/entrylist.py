"""The index's entries, parsed from their saved JSON lines only when read.

A search reads a handful of entries (the hits); parsing all 23k of them on
every load held the GIL for most of a second while the other request threads
of a reloading worker waited. Loading now reads the file's bytes and finds the
line starts with numpy; an entry becomes a :class:`SavedEntry` the first time
it is read.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np


class SavedEntry(SimpleNamespace):
    """An entry read back from the index: the fields the KB gave it, as
    attributes (the index knows entries only by these fields, not by the KB's
    class)."""

    def to_dict(self) -> dict:
        return dict(vars(self))


class EntryList:
    """A list of entries: saved ones parsed on first read, added ones kept as given."""

    def __init__(self, entries=()):
        self._data = b""
        self._starts = np.zeros(1, np.int64)   # line i is data[starts[i]:starts[i + 1]]
        self._parsed: dict[int, object] = {}
        self._added: list = list(entries)

    @classmethod
    def load(cls, path: Path) -> "EntryList":
        data = Path(path).read_bytes()
        out = cls()
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n")) + 1
        if data and not data.endswith(b"\n"):
            ends = np.append(ends, len(data))
        out._data, out._starts = data, np.concatenate([[0], ends]).astype(np.int64)
        return out

    @property
    def _n_saved(self) -> int:
        return len(self._starts) - 1

    def __len__(self) -> int:
        return self._n_saved + len(self._added)

    def __getitem__(self, pos: int):
        n_saved = self._n_saved
        if pos < 0:
            pos += len(self)
        if pos >= n_saved:
            return self._added[pos - n_saved]
        entry = self._parsed.get(pos)
        if entry is None:
            line = self._data[self._starts[pos]:self._starts[pos + 1]]
            # Two threads may parse the same line; both get an equal entry.
            entry = self._parsed[pos] = SavedEntry(**json.loads(line))
        return entry

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def extend(self, entries) -> None:
        self._added.extend(entries)
