"""Catalogue records (service items and request topics) and their compact table format.

Service tables are written one item a line so the catalogue stays readable:

    name|colloquial forms|dept keys|l1/l2|materials;...|fee|time limit|place|online|conditions|steps>...

Empty trailing fields take the defaults below. ``colloquial`` forms are verb
phrases a caller would use ("补办社保卡"); ``name`` is the official noun phrase.
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_FEE = "不收取任何费用"
DEFAULT_DAYS = "材料齐全、符合条件的当场办结"
DEFAULT_PLACE = "区政务服务中心综合窗口"
DEFAULT_MATERIALS = ("申请人有效居民身份证原件",)


@dataclass(frozen=True)
class Service:
    key: str
    name: str
    colloquial: tuple
    depts: tuple
    category: tuple       # (l1, l2)
    materials: tuple
    fee: str
    days: str
    place: str
    online: bool
    conditions: str
    steps: tuple
    district: bool        # has per-district window variants


@dataclass(frozen=True)
class Topic:
    """A request topic: something citizens complain about, report broken or ask about."""
    key: str
    type: str             # complaint | fault | consult
    name: str             # 小区停水
    variants: tuple       # colloquial ways to say it
    depts: tuple
    category: tuple
    answer: str           # how the line handles it
    scenes: tuple         # detail fragments for synthetic work orders
    places: tuple         # where it happens (小区, 路口, 商场 ...)


def parse_services(table: str, prefix: str, district_default: bool = True) -> list[Service]:
    out = []
    for i, line in enumerate(l for l in table.strip().splitlines() if l.strip() and not l.startswith("#")):
        f = line.split("|") + [""] * 11
        name, colloq, depts, cat, mats, fee, days, place, online, cond, steps = (x.strip() for x in f[:11])
        if not name or not depts or "/" not in cat:
            raise ValueError(f"bad service line {line!r}: expected name|colloquial|depts|l1/l2|...")
        district = district_default
        if online.endswith("c"):      # "1c"/"0c": city-level only, no district windows
            district = False
            online = online[:-1]
        out.append(Service(
            key=f"{prefix}{i:03d}", name=name,
            colloquial=tuple(c for c in colloq.split(",") if c) or (name,),
            depts=tuple(depts.split(",")),
            category=tuple(cat.split("/"))[:2],
            materials=tuple(m for m in mats.split(";") if m) or DEFAULT_MATERIALS,
            fee=fee or DEFAULT_FEE, days=days or DEFAULT_DAYS, place=place or DEFAULT_PLACE,
            online=online != "0", conditions=cond,
            steps=tuple(s for s in steps.split(">") if s), district=district))
    return out


def parse_topics(table: str, prefix: str) -> list[Topic]:
    """type|name|variants|depts|l1/l2|answer|scenes|places"""
    out = []
    for i, line in enumerate(l for l in table.strip().splitlines() if l.strip() and not l.startswith("#")):
        f = [x.strip() for x in line.split("|")] + [""] * 8
        typ, name, variants, depts, cat, answer, scenes, places = f[:8]
        if typ not in ("complaint", "fault", "consult"):
            raise ValueError(f"bad topic line {line!r}: type must be complaint/fault/consult, got {typ!r}")
        out.append(Topic(f"{prefix}{i:03d}", typ, name, tuple(v for v in variants.split(",") if v),
                         tuple(depts.split(",")), tuple(cat.split("/"))[:2], answer,
                         tuple(s for s in scenes.split(";") if s), tuple(p for p in places.split(",") if p)))
    return out
