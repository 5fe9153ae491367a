"""The KB entry and its validation.

Values are canonicalised on the way in (surrounding whitespace stripped,
newlines folded to ``\\n``, list items stripped, empty and duplicate items
dropped) so that whatever is stored survives CSV, JSONL and XLSX unchanged:
export -> import -> export is byte-identical because nothing a format cannot
hold is ever stored (e.g. ``|`` inside a list item, XML-illegal control
characters, cells longer than Excel's 32,767 characters).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from kb.errors import RowError, ValidationError

STATUSES = ("draft", "published", "retired")
LIST_FIELDS = ("similar_questions", "department", "category", "tags")
META_FIELDS = ("revision", "updated_at", "updated_by")
DATE_FIELDS = ("valid_from", "valid_to")
LIST_SEP = "|"          # joins list fields in CSV/XLSX cells
MAX_TEXT = 32_000       # below Excel's 32,767 characters per cell
MAX_ID = 128
MAX_CATEGORY_LEVELS = 3

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# An id is one URL path segment (/v1/kb/entries/<id>) and a CLI argument, so it may
# not hold what ends, escapes or hides inside a segment: whitespace, control and
# invisible format characters (zero-width, bidi), and / \ ? # % (browsers turn \
# into /; % starts an escape). "." and ".." are collapsed by clients. Anything else,
# Chinese included, is fine. ID_PATTERN is valid in both Python and ECMA-262 (the
# API schema publishes it); the "."/".." rule is checked here only.
ID_PATTERN = ("^[^\\s/\\\\?#%\\x00-\\x1f\\x7f-\\x9f\\u00ad\\u061c\\u180e\\u200b-\\u200f"
              "\\u2028-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb\\ud800-\\udfff\\ufffe\\uffff]+$")
ID_RULE = (f"an id is 1-{MAX_ID} characters without whitespace, control or invisible characters "
           "and without / \\ ? # % (it is a URL path segment: /v1/kb/entries/<id>), and not "
           "'.' or '..'; letters, digits, Chinese and - _ . : are fine, e.g. 'kb-001' or '居住证-01'")
_ID_BAD = re.compile(ID_PATTERN.replace("^[^", "[").replace("]+$", "]"))


@dataclass
class Entry:
    id: str
    question: str
    similar_questions: list[str] = field(default_factory=list)
    answer: str = ""
    department: list[str] = field(default_factory=list)
    category: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    region: str = ""                    # "" = city-wide, else a district name
    valid_from: str | None = None       # ISO date, inclusive
    valid_to: str | None = None         # ISO date, exclusive (first day no longer valid)
    status: str = "published"
    source: str = ""
    revision: int = 0
    updated_at: str = ""
    updated_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies and dominated bulk import time
        d = {name: getattr(self, name) for name in FIELDS}
        for name in LIST_FIELDS:
            d[name] = list(d[name])
        return d

    def content(self) -> dict[str, Any]:
        """Everything except the bookkeeping fields: two entries with equal
        content are the same entry, whatever their revision."""
        d = self.to_dict()
        for name in META_FIELDS:
            d.pop(name)
        return d

    def replace(self, **changes: Any) -> "Entry":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Entry":
        """Build a canonical entry; raises ValidationError listing every problem."""
        entry, errors = parse_entry(data)
        if errors:
            raise ValidationError(errors, f"invalid entry {data.get('id')!r}")
        return entry


FIELDS = tuple(f.name for f in dataclasses.fields(Entry))
CONTENT_FIELDS = tuple(f for f in FIELDS if f not in META_FIELDS)


# ---------------------------------------------------------------- validity
def _as_date(now: Any) -> str:
    if now is None:
        return _dt.date.today().isoformat()
    if isinstance(now, (_dt.date, _dt.datetime)):
        return now.isoformat()[:10]
    if isinstance(now, str) and _DATE_RE.match(now[:10]):
        return now[:10]
    raise ValueError(f"now must be a date, datetime or ISO date string, got {now!r}")


def is_valid_at(entry: Entry, now: Any = None) -> bool:
    """valid_from <= now < valid_to (open ends when None). ISO dates compare as strings."""
    day = _as_date(now)
    if entry.valid_from and day < entry.valid_from:
        return False
    if entry.valid_to and day >= entry.valid_to:
        return False
    return True


def applies_to_region(entry: Entry, region: str | None) -> bool:
    """City-wide entries apply everywhere; district entries only to their district."""
    return not region or not entry.region or entry.region == region


# ---------------------------------------------------------------- parsing
class _Collector:
    def __init__(self, row: int | None, ident: str):
        self.row, self.id, self.errors = row, ident, []

    def add(self, name: str, message: str) -> None:
        self.errors.append(RowError(self.row, self.id, name, message))


# XML 1.0 (XLSX) cannot hold these; tab and newline are fine, \r is folded to \n first.
_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _scalar_text(value: Any, name: str, err: _Collector) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        if isinstance(value, bool):
            err.add(name, f"expected text, got {value!r}")
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)          # spreadsheets turn numeric ids into floats
        if isinstance(value, (int, float)):
            value = str(value)
        elif isinstance(value, (_dt.datetime, _dt.date)):
            value = value.isoformat()
        elif isinstance(value, str):
            value = str(value)
        else:
            err.add(name, f"expected text, got {type(value).__name__}")
            return ""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.strip()
    bad = _BAD_CHARS.search(value)
    if bad is not None:
        err.add(name, f"contains control character U+{ord(bad.group()):04X}; "
                      "only tab and newline are allowed")
    if len(value) > MAX_TEXT:
        err.add(name, f"is {len(value)} characters long, at most {MAX_TEXT} allowed")
    return value


def _list(value: Any, name: str, err: _Collector) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split(LIST_SEP)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        err.add(name, f"expected a list or '{LIST_SEP}'-separated text, got {type(value).__name__}")
        return []
    out: list[str] = []
    for item in items:
        text = _scalar_text(item, name, err)
        if LIST_SEP in text:
            err.add(name, f"item {text!r} contains '{LIST_SEP}', which separates items in CSV/XLSX")
        if text and text not in out:
            out.append(text)
    return out


def _date(value: Any, name: str, err: _Collector) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _DATE_RE.match(text):
            try:
                return _dt.date.fromisoformat(text).isoformat()
            except ValueError:
                pass
    err.add(name, f"{value!r} is not an ISO date (expected YYYY-MM-DD)")
    return None


def _revision(value: Any, err: _Collector) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        err.add("revision", f"{value!r} is not a non-negative integer")
        return 0
    return value


def parse_entry(raw: Mapping[str, Any], row: int | None = None, *,
                strict_id: bool = True) -> tuple[Entry | None, list[RowError]]:
    """Coerce loosely typed values (file cells, JSON, API input) into a canonical
    Entry and check it. Returns (entry, []) or (None, errors). ``strict_id=False``
    skips the id's character rule (``ID_RULE``): for changes to an entry already
    stored under an id an older version accepted, so it can still be fixed or retired."""
    err = _Collector(row, "")
    ident = _scalar_text(raw.get("id"), "id", err)
    err.id = ident
    for name in sorted(set(raw) - set(FIELDS), key=str):
        err.add(str(name), f"unknown field; expected some of {', '.join(FIELDS)}")
    values: dict[str, Any] = {"id": ident}
    for name in ("question", "answer", "region", "source", "updated_at", "updated_by"):
        values[name] = _scalar_text(raw.get(name), name, err)
    for name in LIST_FIELDS:
        values[name] = _list(raw.get(name), name, err)
    for name in DATE_FIELDS:
        values[name] = _date(raw.get(name), name, err)
    status = _scalar_text(raw.get("status"), "status", err) or "published"
    values["status"] = status
    values["revision"] = _revision(raw.get("revision"), err)

    if not ident:
        err.add("id", "is empty; every entry needs a stable id")
    elif len(ident) > MAX_ID:
        err.add("id", f"{ident[:40]!r}... is {len(ident)} characters long; {ID_RULE}")
    elif any(e.field == "id" for e in err.errors):
        pass   # already refused (a control character)
    elif strict_id and (bad := _ID_BAD.search(ident)) is not None:
        ch = bad.group()
        err.add("id", f"{ident[:40]!r} contains {ch!r} (U+{ord(ch):04X}); {ID_RULE}")
    elif strict_id and ident in (".", ".."):
        err.add("id", f"{ident!r} is not usable in a URL; {ID_RULE}")
    if not values["question"]:
        err.add("question", "is empty; the standard question is required")
    if status not in STATUSES:
        err.add("status", f"{status!r} is not one of {', '.join(STATUSES)}")
    elif status == "published" and not values["answer"]:
        err.add("answer", "is empty; a published entry needs an answer")
    if len(values["category"]) > MAX_CATEGORY_LEVELS:
        err.add("category", f"has {len(values['category'])} levels, at most {MAX_CATEGORY_LEVELS} allowed")
    vf, vt = values["valid_from"], values["valid_to"]
    if vf and vt and vt <= vf:
        err.add("valid_to", f"{vt} is not after valid_from {vf} (valid_to is exclusive)")
    if values["updated_at"]:
        try:
            _dt.datetime.fromisoformat(values["updated_at"])
        except ValueError:
            err.add("updated_at", f"{values['updated_at']!r} is not an ISO timestamp")
    if err.errors:
        return None, err.errors
    return Entry(**values), []
