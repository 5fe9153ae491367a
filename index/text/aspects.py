"""Question aspects: what a question asks *about* a service — 补办 vs 申领,
多久 vs 在哪办, 网上能办吗, 要带什么材料.

Dense cosines and shared words both rank "社会保障卡申领需要准备哪些材料" next to
"社会保障卡补换需要准备哪些材料" for a caller whose card was lost: the service
words dominate, the one word that says which question it is barely counts.
Search uses the aspects as a fusion feature (``index.search.fusion``).

The cues are data (``data/aspects.tsv``: ``ASPECT<TAB>REGEX`` per line), joined
into one alternation scanned once over the normalised text: at one position the
cue listed first wins and its span is consumed, so "审核不通过怎么办" counts as
``rejected`` and not also as the generic ``process`` cue "怎么办".
"""
from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

LEXICON = Path(__file__).parent / "data" / "aspects.tsv"
MAX_ASPECTS = 62   # aspects are bits of an int64 mask


class AspectLexicon:
    def __init__(self, lines):
        self.names: list[str] = []
        parts, group_aspect = [], []
        for n, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            name, sep, rx = line.partition("\t")
            if not sep or not name or not rx:
                raise ValueError(f"aspect lexicon line {n}: expected ASPECT<TAB>REGEX, got {line!r}")
            try:
                re.compile(rx)
            except re.error as exc:
                raise ValueError(f"aspect lexicon line {n}: bad regex {rx!r}: {exc}") from None
            if name not in self.names:
                self.names.append(name)
            group_aspect.append(self.names.index(name))
            # Each cue in one capturing group: it closes after any group inside
            # it, so a match's ``lastindex`` is the cue's outer group.
            parts.append(f"({rx})")
        if len(self.names) > MAX_ASPECTS:
            raise ValueError(f"aspect lexicon has {len(self.names)} aspects; at most {MAX_ASPECTS}")
        # Cue i's outer group number: groups inside earlier cues shift it.
        self._bit_of_group: dict[int, int] = {}
        group = 1
        for part, aspect in zip(parts, group_aspect):
            self._bit_of_group[group] = 1 << aspect
            group += re.compile(part).groups
        self._rx = re.compile("|".join(parts)) if parts else None
        self.identity = hashlib.sha1("\n".join(parts).encode("utf-8")).hexdigest()[:12]

    @classmethod
    def load(cls, path: Path = LEXICON) -> "AspectLexicon":
        with open(path, encoding="utf-8") as fh:
            return cls(fh)

    def mask(self, text: str) -> int:
        """The aspects of (normalised) ``text`` as a bit mask (bit i = ``names[i]``)."""
        if self._rx is None:
            return 0
        out = 0
        bit_of = self._bit_of_group
        for m in self._rx.finditer(text.lower()):
            out |= bit_of[m.lastindex]
        return out

    def aspects(self, text: str) -> frozenset[str]:
        m = self.mask(text)
        return frozenset(n for i, n in enumerate(self.names) if m >> i & 1)


@functools.lru_cache(maxsize=1)
def get_aspects() -> AspectLexicon:
    """The shipped lexicon, loaded once per process."""
    return AspectLexicon.load()
