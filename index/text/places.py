"""Places a question is about: 陕西 vs 山西, 武汉 vs 苏州, 临江区 vs 东湖区.

A policy KB holds the same question for many places ("…对中小企业有哪些扶持政策"
for every province), and a city's KB the same service for every district. Dense
cosines and shared words barely see the one word that names the place, so a
caller asking about one place got another place's entry first. Search uses the
places as a fusion feature (``index.search.fusion``: a penalty for an entry
that names only places other than the query's).

The gazetteer is data (``data/places.tsv``: ``NAME<TAB>PARENT<TAB>LEVEL``, the
provinces and prefecture-level cities of China, written by this project); an
index adds the ``region`` values of its own entries (a city's districts) as
places without a parent. Names are scanned in one alternation, longest first,
over the normalised (simplified) text: "上海南站" names 上海, not 海南.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path

GAZETTEER = Path(__file__).parent / "data" / "places.tsv"
LEVELS = ("province", "city", "county")


# Administrative suffixes a caller drops: "我们青山这里" is 青山区, "西城那边" 西城区.
REGION_SUFFIXES = ("街道", "区", "县", "市", "镇", "乡")


class PlaceLexicon:
    """``parents``: place -> the places it lies in; ``aliases``: a short name
    -> the place it stands for (a KB region without its suffix)."""

    def __init__(self, parents: dict[str, set[str]], aliases: dict[str, str] | None = None):
        self.parents = parents
        self.aliases = aliases or {}
        names = sorted(set(parents) | set(self.aliases), key=lambda s: (-len(s), s))
        self._rx = re.compile("|".join(map(re.escape, names))) if names else None

    @functools.cached_property
    def identity(self) -> str:
        """A digest of every name, parent and alias: places found with one
        lexicon are valid for another with the same identity (a saved index's
        entry places)."""
        body = json.dumps([sorted((n, sorted(p)) for n, p in self.parents.items()),
                           sorted(self.aliases.items())], ensure_ascii=False)
        return "places/" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]

    @classmethod
    def parse(cls, lines) -> "PlaceLexicon":
        parents: dict[str, set[str]] = {}
        for n, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3 or not parts[0] or parts[2] not in LEVELS:
                raise ValueError(f"place gazetteer line {n}: expected NAME<TAB>PARENT<TAB>LEVEL "
                                 f"with LEVEL one of {LEVELS}, got {line!r}")
            name, parent, _ = parts
            if len(name) < 2:
                raise ValueError(f"place gazetteer line {n}: one-character name {name!r} "
                                 "would match ordinary text")
            parents.setdefault(name, set())
            if parent and parent != name:   # 吉林 the city lies in 吉林 the province
                parents[name].add(parent)
        return cls(parents)

    @classmethod
    def load(cls, path: Path = GAZETTEER) -> "PlaceLexicon":
        with open(path, encoding="utf-8") as fh:
            return cls.parse(fh)

    def with_regions(self, regions) -> "PlaceLexicon":
        """This gazetteer plus ``regions`` (a KB's own region names, two
        characters or more) as places of their own, each also under its name
        without the administrative suffix when that is two characters or more
        and no other place's (临江区 is also 临江)."""
        new = ({r.strip() for r in regions if r and len(r.strip()) >= 2}
               - set(self.parents) - set(self.aliases))
        if not new:
            return self
        parents, aliases = dict(self.parents), dict(self.aliases)
        stems: dict[str, set[str]] = {}
        for r in sorted(new):
            stem = _stem(r)
            if stem in self.parents:     # 武汉市 is the gazetteer's 武汉
                aliases[r] = stem
                continue
            parents[r] = set()
            if stem:
                stems.setdefault(stem, set()).add(r)
        aliases.update({stem: next(iter(places)) for stem, places in stems.items()
                        if len(places) == 1 and stem not in parents and stem not in aliases})
        return PlaceLexicon(parents, aliases)

    def places(self, text: str) -> frozenset[str]:
        """The places (normalised) ``text`` names."""
        if self._rx is None or not text:
            return frozenset()
        aliases = self.aliases
        return frozenset(aliases.get(m, m) for m in self._rx.findall(text))

    def closure(self, places) -> frozenset[str]:
        """``places`` and every place they lie in."""
        out, todo = set(), list(places)
        while todo:
            p = todo.pop()
            if p not in out:
                out.add(p)
                todo.extend(self.parents.get(p, ()))
        return frozenset(out)

    def conflicts(self, query_places: frozenset, entry_places: frozenset,
                  query_closure: frozenset | None = None,
                  entry_closure: frozenset | None = None) -> bool:
        """True when both name places and none of the entry's is the query's,
        one it lies in, or one that lies in it (a province's policy answers a
        question about one of its cities, and the other way round). The
        closures may be passed when the caller already has them."""
        if not query_places or not entry_places:
            return False
        if query_closure is None:
            query_closure = self.closure(query_places)
        if entry_closure is None:
            entry_closure = self.closure(entry_places)
        return not (query_closure & entry_places or query_places & entry_closure)


def _stem(region: str) -> str:
    """``region`` without its administrative suffix, or "" when that leaves
    fewer than two characters (南区) or there is none."""
    for suffix in REGION_SUFFIXES:
        if region.endswith(suffix):
            return region[:-len(suffix)] if len(region) - len(suffix) >= 2 else ""
    return ""


@functools.lru_cache(maxsize=1)
def get_places() -> PlaceLexicon:
    """The shipped gazetteer, loaded once per process."""
    return PlaceLexicon.load()
