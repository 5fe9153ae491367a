"""The department taxonomy: which departments exist, what they are responsible
for, and their reply deadlines. Stored as a JSON list of
``{name, responsibilities, keywords, reply_days, aliases}`` (written by the demo
into ``settings.demo_dir/departments.json``; the classifier and widget read it).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from foundation.artifacts import write_json_atomic
from kb.errors import TaxonomyError

TAXONOMY_FILE = "departments.json"


@dataclass(frozen=True)
class Department:
    name: str
    responsibilities: str = ""
    keywords: tuple[str, ...] = field(default_factory=tuple)
    reply_days: int = 15
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["keywords"], d["aliases"] = list(self.keywords), list(self.aliases)
        return d


class Taxonomy:
    """Departments by name, with aliases resolving to the canonical name."""

    def __init__(self, departments: Iterable[Department]):
        self.departments = list(departments)
        self._by_name: dict[str, Department] = {}
        self._lookup: dict[str, str] = {}
        for dep in self.departments:
            for key in (dep.name, *dep.aliases):
                if key in self._lookup and self._lookup[key] != dep.name:
                    raise TaxonomyError(
                        f"department name or alias {key!r} is used by both "
                        f"{self._lookup[key]!r} and {dep.name!r}")
                self._lookup[key] = dep.name
            if dep.name in self._by_name:
                raise TaxonomyError(f"department {dep.name!r} is listed twice")
            self._by_name[dep.name] = dep

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.departments]

    def resolve(self, name: str) -> str | None:
        """Canonical name for a name or alias, None when unknown."""
        return self._lookup.get(name)

    def __getitem__(self, name: str) -> Department:
        return self._by_name[self._lookup[name]]

    def __contains__(self, name: str) -> bool:
        return name in self._lookup

    def __len__(self) -> int:
        return len(self.departments)


def _department(item, index: int, path) -> Department:
    if not isinstance(item, dict):
        raise TaxonomyError(f"{path}: item {index} is {type(item).__name__}, expected an object")
    unknown = set(item) - {"name", "responsibilities", "keywords", "reply_days", "aliases"}
    if unknown:
        raise TaxonomyError(f"{path}: item {index} has unknown key(s) {sorted(unknown)}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise TaxonomyError(f"{path}: item {index} has no name (got {name!r})")
    days = item.get("reply_days", 15)
    if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
        raise TaxonomyError(f"{path}: department {name!r} reply_days={days!r}, expected a positive integer")
    lists = {}
    for key in ("keywords", "aliases"):
        value = item.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TaxonomyError(f"{path}: department {name!r} {key} must be a list of strings")
        lists[key] = tuple(v.strip() for v in value if v.strip())
    resp = item.get("responsibilities", "")
    if not isinstance(resp, str):
        raise TaxonomyError(f"{path}: department {name!r} responsibilities must be text")
    return Department(name.strip(), resp, lists["keywords"], days, lists["aliases"])


def parse_departments(data, source: str = "taxonomy") -> list[Department]:
    if not isinstance(data, list):
        raise TaxonomyError(f"{source}: expected a JSON list of departments, got {type(data).__name__}")
    if not data:
        raise TaxonomyError(f"{source}: the list is empty; expected at least one department "
                            f"({{\"name\", \"responsibilities\", \"keywords\": [...]}})")
    items = [_department(item, i, source) for i, item in enumerate(data)]
    try:
        Taxonomy(items)   # names and aliases unique: a router needs to tell them apart
    except TaxonomyError as exc:
        raise TaxonomyError(f"{source}: {exc}") from None
    return items


def load_departments(path: str | Path) -> list[Department]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaxonomyError(f"department taxonomy {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise TaxonomyError(f"department taxonomy {path} is not valid JSON: {exc}") from None
    return parse_departments(data, str(path))


def load_taxonomy(path: str | Path) -> Taxonomy:
    return Taxonomy(load_departments(path))


def save_departments(path: str | Path, departments: Iterable[Department | dict]) -> None:
    """Validated, atomic, stable key order (so reruns produce identical files)."""
    items = [d if isinstance(d, Department) else _department(d, i, str(path))
             for i, d in enumerate(departments)]
    Taxonomy(items)   # checks names/aliases are unique
    write_json_atomic(Path(path), [d.to_dict() for d in items])
