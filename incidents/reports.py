"""A report (one call: time, region, text) and what linking needs from it,
computed once: normalised text, places, problem classes, topic n-grams."""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from foundation.errors import InvalidInput
from incidents.places import Place, extract_places
from incidents.problems import families, problem_classes, topic_text, topic_vector


class BadTime(InvalidInput):
    code = "bad_time"


_SEP = re.compile(r"[/.年月]")
_EPOCH = _dt.datetime(1970, 1, 1)


def parse_time(value: str) -> float:
    """Hours since 1970 (naive local time; an offset, if given, is honoured).
    Accepts ISO 8601 (2026-05-01 08:30, 2026-05-01T08:30:00+08:00), slashes or
    dots for dashes (2026/5/1 8:30), 2026年5月1日 8:30, and a date alone."""
    raw = value
    text = str(value).strip()
    if not text:
        raise BadTime("empty time; expected e.g. 2026-05-01 08:30")
    text = _SEP.sub("-", text).replace("日", " ").replace("时", ":").replace("分", "")
    text = re.sub(r"-\s+", "-", text).strip().rstrip("-")
    date, _, clock = text.replace("T", " ", 1).partition(" ")
    try:
        y, m, d = (int(p) for p in date.split("-"))
        rest = clock.strip()
        if rest:
            stamp = _dt.datetime.fromisoformat(f"{y:04d}-{m:02d}-{d:02d}T" + _pad_clock(rest))
        else:
            stamp = _dt.datetime(y, m, d)
    except ValueError:
        raise BadTime(f"bad time {raw!r}; expected e.g. 2026-05-01 08:30") from None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return (stamp - _EPOCH).total_seconds() / 3600.0


def _pad_clock(clock: str) -> str:
    head = re.match(r"(\d{1,2})(:\d{1,2})?(:\d{1,2}(?:\.\d+)?)?(.*)$", clock)
    if not head:
        raise ValueError(clock)
    h, m, s, tail = head.groups()
    out = f"{int(h):02d}:{int(m[1:]) if m else 0:02d}"
    if s:
        sec, _, frac = s[1:].partition(".")
        out += f":{int(sec):02d}" + (f".{frac}" if frac else "")
    return out + tail.strip()


@dataclass(frozen=True)
class Report:
    time: float        # hours (parse_time)
    region: str
    text: str


@dataclass
class Prepared:
    """What the pair features read of one report."""

    time: float
    region: str
    places: tuple[Place, ...]
    keys: frozenset[str]
    classes: frozenset[str]
    families: frozenset[str]
    topic: dict[str, float]


Analysis = tuple  # (places, keys, classes, families, topic): what a text alone gives


def analyse(text: str, normalizer=None, tokenizer=None) -> Analysis:
    """The time- and region-free part of preparing a report, from its raw text:
    equal texts give equal analyses, so a batch analyses each distinct text once
    (and in worker processes: `hotline incidents --workers`)."""
    text = (_normalizer() if normalizer is None else normalizer)(text or "")
    # segmentation (index.text's jieba) runs on the clauses around place suffixes only
    places = tuple(extract_places(text, tokenizer.cut(text) if tokenizer else None))
    topic = topic_text(text, [(p.start, p.end) for p in places])
    classes = problem_classes(text)  # the whole text: 公交站 is a place and a problem
    return (places, frozenset(p.key for p in places), classes, families(classes),
            topic_vector(topic))


def prepared_from(report: Report, analysis: Analysis) -> Prepared:
    """``report`` with its text's analysis. Reports of one text share the analysis's
    objects; nothing downstream mutates them (Incident copies into its own sums)."""
    places, keys, classes, fams, topic = analysis
    return Prepared(time=report.time, region=(report.region or "").strip(), places=places,
                    keys=keys, classes=classes, families=fams, topic=topic)


def prepare(report: Report, normalizer=None, tokenizer=None) -> Prepared:
    """Normalise once (index.text.normalize), segment once, then extract."""
    return prepared_from(report, analyse(report.text, normalizer, tokenizer))


_NORMALIZER = None


def _normalizer():
    global _NORMALIZER
    if _NORMALIZER is None:
        from index.text import Normalizer

        _NORMALIZER = Normalizer()
    return _NORMALIZER
