"""Turn the catalogue into KB rows: deterministic, unique standard questions, stable ids.

``generate(seed, scale)`` returns a :class:`DemoKB`; ids are assigned over the full
catalogue before any down-scaling, so a small demo's ids are a subset of the full one's.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from kb.demo import local, transit
from kb.demo.city import APP, CITY, CITY_SHORT, DISTRICTS, HOTLINE
from kb.demo.departments import DEPARTMENTS, dept
from kb.demo.phrasing import (ASPECT_LABELS, ASPECTS, DISTRICT_ASPECTS, DISTRICT_TOPIC_ASPECTS,
                              TOPIC_ASPECTS, colloquialize)
from kb.demo.services_business import SERVICES as _S4
from kb.demo.services_civil import SERVICES as _S2
from kb.demo.services_living import SERVICES as _S3
from kb.demo.services_social import SERVICES as _S1
from kb.demo.services_text import answer as service_answer, district_answer
from kb.demo.topics import TOPICS

SERVICES = tuple(_S1 + _S2 + _S3 + _S4)
SOURCE = f"{CITY}12345知识库（演示数据）"
# Fixed so the output does not depend on the day it is built.
_EPOCH = dt.datetime(2026, 1, 5, 9, 0, 0)


class DemoError(ValueError):
    pass


@dataclass
class DemoKB:
    entries: list                 # KB rows (Entry field dicts)
    query_seeds: dict = field(default_factory=dict)   # id -> held-apart query phrasings
    families: dict = field(default_factory=dict)      # id -> family name


def _slots_service(s, d=None):
    return {"n": s.name, "city": CITY, "cs": CITY_SHORT, "app": APP,
            "d": d.name if d else "", "ds": d.short if d else ""}


def _fill_sims(rng, templates, slot_sets, std, k):
    """Fill up to k distinct similar questions, rotating colloquial forms."""
    order = list(templates)
    rng.shuffle(order)
    out = []
    for i, t in enumerate(order):
        q = t.format(**slot_sets[i % len(slot_sets)])
        q = colloquialize(rng, q)
        if q.rstrip("？?") != std.rstrip("？?") and q not in out:
            out.append(q)
        if len(out) >= k:
            break
    return out


def _service_protos():
    for s in SERVICES:
        for aspect, tpl in ASPECTS.items():
            base = _slots_service(s)
            slot_sets = [dict(base, c=c) for c in s.colloquial]
            yield {"key": f"{s.key}:{aspect}", "family": "service", "std": tpl["std"].format(**base),
                   "sim_t": tpl["sim"], "qry_t": tpl["qry"], "slots": slot_sets,
                   "answer": service_answer(s, aspect), "depts": list(s.depts),
                   "category": [*s.category, ASPECT_LABELS[aspect]], "region": "",
                   "tags": [s.name, ASPECT_LABELS[aspect]]}
    for s in SERVICES:
        if not s.district:
            continue
        for di, d in enumerate(DISTRICTS):
            for aspect, tpl in DISTRICT_ASPECTS.items():
                base = _slots_service(s, d)
                k = di * 7 + hash_key(s.key)
                yield {"key": f"{s.key}:{d.short}:{aspect}", "family": "service_district",
                       "std": tpl["std"].format(**base), "sim_t": tpl["sim"], "qry_t": tpl["qry"],
                       "slots": [dict(base, c=c) for c in s.colloquial],
                       "answer": district_answer(s, d, aspect, k), "depts": list(s.depts),
                       "category": [*s.category, ASPECT_LABELS[aspect]], "region": d.name,
                       "tags": [s.name, d.name, ASPECT_LABELS[aspect]]}


def hash_key(key: str) -> int:
    """A small stable integer from a key (Python's hash() is salted per process)."""
    return sum((i + 1) * ord(ch) for i, ch in enumerate(key)) % 997


def _dept_branch(key: str, d) -> str:
    name = dept(key).name
    if name.startswith(CITY):
        return d.name + name[len(CITY):].replace("海州市", "")
    return f"{name}{d.short}分公司" if "公司" in name else f"{name}{d.name}分支机构"


def _topic_answer(t, aspect, d=None, k=0):
    names = "、".join(dept(x).name for x in t.depts)
    days = min(dept(x).reply_days for x in t.depts)
    if aspect == "t_howto":
        return (f"{t.answer}\n责任部门：{names}。\n反映渠道：拨打{HOTLINE}热线（7×24小时）、{APP}APP“随手拍”"
                f"或{CITY_SHORT}12345微信公众号留言。")
    if aspect == "t_time":
        return (f"{t.name}类诉求由12345派单至{names}，承办单位应在{days}个工作日内办理并答复市民；"
                + ("涉及安全的紧急情况即接即派、立即处置。" if t.type == "fault" else "情况复杂的可申请延期一次。")
                + "逾期未办结的，12345热线将发督办单。")
    if aspect == "t_info":
        return (f"反映{t.name}时请说明：1. 具体地点（区、街道、小区或路段、门牌号）；2. 发生时间和持续情况；"
                "3. 涉及的单位、店铺或车辆信息；4. 您的诉求。可通过海州通APP上传照片或视频作为证据。"
                "来电人信息依法保密，可选择匿名反映。")
    branch = "、".join(_dept_branch(x, d) for x in t.depts)
    if aspect == "td_dept":
        return (f"{d.name}范围内的{t.name}问题由{branch}负责处理，所在街道（镇）协同处置。"
                f"市民可拨打{HOTLINE}，热线将按属地派单至{d.name}承办单位，{days}个工作日内答复。")
    if aspect == "td_followup":
        return (f"{d.name}{t.name}问题反映后逾期未处理或处理不满意的，可：1. 再次拨打{HOTLINE}说明原工单编号，申请督办；"
                f"2. 在回访时给出“不满意”评价，工单将退回{branch}重新办理；3. 多次反映未解决的，可向{d.name}12345分中心"
                f"（{d.phone(k)}）申请领导督办。")
    if aspect == "td_where":
        return (f"{d.name}{t.name}可拨打：{HOTLINE}政务服务便民热线（24小时）；{d.name}12345分中心 {d.phone(k + 2)}；"
                f"{branch}值班电话 {d.phone(k + 5)}。" + ("涉及人身安全的请直接拨打110或119。" if t.type == "fault" else ""))
    raise ValueError(f"unknown topic aspect {aspect!r}")


def _topic_protos():
    for t in TOPICS:
        for aspect, tpl in TOPIC_ASPECTS.items():
            slot_sets = [{"t": t.name, "v": v} for v in (t.variants or (t.name,))]
            yield {"key": f"{t.key}:{aspect}", "family": "topic", "std": tpl["std"].format(t=t.name),
                   "sim_t": tpl["sim"], "qry_t": tpl["qry"], "slots": slot_sets,
                   "answer": _topic_answer(t, aspect), "depts": list(t.depts),
                   "category": [*t.category, ASPECT_LABELS[aspect]], "region": "", "tags": [t.name]}
    for t in TOPICS:
        if t.type == "consult":
            continue
        for di, d in enumerate(DISTRICTS):
            for aspect, tpl in DISTRICT_TOPIC_ASPECTS.items():
                base = {"t": t.name, "d": d.name, "ds": d.short}
                yield {"key": f"{t.key}:{d.short}:{aspect}", "family": "topic_district",
                       "std": tpl["std"].format(**base), "sim_t": tpl["sim"], "qry_t": tpl["qry"],
                       "slots": [dict(base, v=v) for v in (t.variants or (t.name,))],
                       "answer": _topic_answer(t, aspect, d, di * 13 + hash_key(t.key)),
                       "depts": list(t.depts), "category": [*t.category, ASPECT_LABELS[aspect]],
                       "region": d.name, "tags": [t.name, d.name]}


def _local_protos():
    families = [("street", local.street_entries()), ("community", local.community_entries()),
                ("institution", local.institution_entries()), ("bus", transit.bus_entries(400)),
                ("metro", transit.metro_entries()), ("policy", transit.policy_entries())]
    for fam, items in families:
        for p in items:
            yield {"key": p["key"], "family": fam, "std": p["question"], "sims": p["sims"],
                   "qry": p["qry"], "answer": p["answer"], "depts": p["depts"],
                   "category": p["category"], "region": p["region"], "tags": p["tags"],
                   "valid_from": p.get("valid_from"), "valid_to": p.get("valid_to")}


def all_protos() -> list[dict]:
    return [*_service_protos(), *_topic_protos(), *_local_protos()]


_ALWAYS = (":procedure", ":t_howto")  # kept at any scale so every department stays covered


def generate(seed: int = 0, scale: float = 1.0) -> DemoKB:
    """Build the demo KB rows. ``scale`` < 1 keeps a deterministic sample (plus one entry
    per service and topic), for fast tests."""
    if not 0 < scale <= 1:
        raise DemoError(f"scale must be in (0, 1], got {scale!r}")
    protos = all_protos()
    seen: dict[str, str] = {}
    for p in protos:
        if p["std"] in seen:
            raise DemoError(f"duplicate standard question {p['std']!r} ({seen[p['std']]} and {p['key']})")
        seen[p["std"]] = p["key"]
    kb = DemoKB(entries=[])
    for i, p in enumerate(protos):
        # A separate stream for the keep/drop draw, so an entry's text is the same at any scale.
        if (scale < 1 and not p["key"].endswith(_ALWAYS)
                and random.Random(f"{seed}:keep:{p['key']}").random() >= scale):
            continue
        rng = random.Random(f"{seed}:{p['key']}")
        eid = f"KB-{i + 1:06d}"
        std = p["std"]
        if "sim_t" in p:
            sims = _fill_sims(rng, p["sim_t"], p["slots"], std, rng.randint(3, 5))
            qry_slots = p["slots"][::-1]
            qrys = [t.format(**qry_slots[j % len(qry_slots)]) for j, t in enumerate(p["qry_t"])]
        else:
            pool = list(p["sims"])
            rng.shuffle(pool)
            sims = [colloquialize(rng, q) for q in pool[:rng.randint(3, max(3, len(pool)))]]
            sims = list(dict.fromkeys(q for q in sims if q.rstrip("？?") != std.rstrip("？?")))
            qrys = list(p["qry"])
        vf, vt = p.get("valid_from"), p.get("valid_to")
        expired = bool(vt and vt < "2026-11-01")
        r = rng.random()
        status = ("retired" if (expired and r < 0.3) or r < 0.004 else
                  "draft" if r > 0.986 else "published")
        updated = _EPOCH + dt.timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 600))
        kb.entries.append({
            "id": eid, "question": std, "similar_questions": sims, "answer": p["answer"],
            "department": [DEPARTMENTS[k].name for k in dict.fromkeys(p["depts"])],
            "category": p["category"][:3], "tags": list(dict.fromkeys(p["tags"])),
            "region": p["region"], "valid_from": vf, "valid_to": vt, "status": status,
            "source": SOURCE, "revision": 1, "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            "updated_by": "demo",
        })
        kb.query_seeds[eid] = qrys
        kb.families[eid] = p["family"]
    return kb
