"""Synthetic labelled work orders (title, detail, type, department) for the demo models.

Mix ~55% complaint / 25% consult / 20% fault, written the way 12345 orders read:
dispatcher summaries, first-person messages and rambling phone transcripts, with typos,
some traditional characters and masked or fake personal numbers.
"""
from __future__ import annotations

import random

from kb.demo.city import APP, CITY, DISTRICTS
from kb.demo.departments import DEPARTMENTS
from kb.demo.phrasing import ASPECT_LABELS, FILLERS, SELF, noisy
from kb.demo.topics import TOPICS

TYPE_MIX = (("complaint", 0.55), ("consult", 0.25), ("fault", 0.20))
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
_HISTORY = ["", "", "之前已经打过两次12345了，", "找过物业，物业说不归他们管，", "跟对方沟通过，没有任何效果，",
            "社区来看过一次，后来就没下文了，", "这个问题已经持续一个多月了，", "上周反映过，工单说已办结，但实际没解决，"]
_DEMANDS = {"complaint": ["尽快处理", "依法查处", "责令整改", "给个说法", "加强监管", "尽快解决，还居民一个安静的环境"],
            "fault": ["尽快抢修", "尽快派人来修", "尽快恢复", "查明原因并尽快修复", "先派人来看一下"]}
_CONSULT_CTX = ["本人是外地户籍，在{cs}工作三年了，", "孩子刚出生，", "家里老人腿脚不方便，", "刚从外地调过来，",
                "第一次办这个，什么都不懂，", "公司让自己去办，", "在网上看了半天没看明白，", "快要用了比较着急，", ""]
_CONSULT_ASK = {"procedure": "具体怎么办理、流程是什么", "materials": "需要准备哪些材料", "fee": "要不要收费、收多少",
                "duration": "多长时间能办好", "conditions": "自己符不符合条件", "online": "能不能在网上办",
                "place": "要去哪里办", "proxy": "能不能让家人代办", "progress": "怎么查办理进度",
                "nonlocal": "外地户口能不能办"}


def _phone(rng):
    r = rng.random()
    if r < 0.5:
        return "[手机号]"
    if r < 0.8:
        return f"1{rng.choice('3589')}{rng.randint(0, 9)}****{rng.randint(0, 9999):04d}"
    return f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(0, 9999):04d}xxxx"


def _where(rng):
    d = rng.choice(DISTRICTS)
    st = rng.choice(d.streets)
    c = rng.choice(st.communities)
    return d, st, c


def _noise(rng, text):
    return noisy(rng, text, 0.18, max_typos=2)


def _problem_order(rng, t):
    d, st, c = _where(rng)
    place = rng.choice(t.places) if t.places else ""
    v = rng.choice(t.variants) if t.variants else t.name
    sc = rng.sample(t.scenes, min(len(t.scenes), rng.randint(1, 2)))
    loc = f"{d.name}{st.name}{c}" if place in ("", "小区", "住宅小区", "居民楼", "小区楼道", "居民家中") else f"{d.name}{st.road}附近的{place}"
    who = f"{rng.choice(_SURNAMES)}{rng.choice(['先生', '女士'])}"
    hist = rng.choice(_HISTORY)
    demand = rng.choice(_DEMANDS["fault" if t.type == "fault" else "complaint"])
    style = rng.random()
    title = rng.choice([f"关于{loc}{t.name}的问题", f"投诉{place or c}{v}", f"{d.short}{c}{v}",
                        f"反映{t.name}问题", f"{v}，希望尽快处理", f"{st.name}{place}{t.name}",
                        f"{d.name}{v}"])
    if style < 0.45:
        detail = (f"市民来电反映：{loc}{'，'.join(sc)}。{hist}市民要求{demand}。"
                  f"来电人：{who}，联系电话：{_phone(rng)}。")
    elif style < 0.8:
        detail = (f"您好！我是{d.name}{c}的居民，{loc}{'，'.join(sc)}。{hist}"
                  f"希望有关部门{demand}，谢谢！")
    else:
        f1, f2 = rng.sample(FILLERS, 2)
        detail = (f"喂，你好，{f1}，我跟你说一下啊，就是我们{c}那边，{v}，{f2}，{'，然后'.join(sc)}，"
                  f"{hist}你们到底管不管啊，我电话{_phone(rng)}，{rng.choice(['你们记一下', '有事打给我', '姓' + who[0]])}")
    return _noise(rng, title), _noise(rng, detail)


def _consult_order(rng, s):
    aspect = rng.choice(list(_CONSULT_ASK))
    c = rng.choice(s.colloquial)
    ctx = rng.choice(_CONSULT_CTX).format(cs=CITY[:2])
    d = rng.choice(DISTRICTS)
    title = rng.choice([f"咨询{s.name}{ASPECT_LABELS[aspect]}", f"{c}{_CONSULT_ASK[aspect]}", f"关于{s.name}的咨询",
                        f"咨询{c}相关事宜", f"{d.short}{c}咨询"])
    style = rng.random()
    if style < 0.5:
        detail = f"市民来电咨询{s.name}相关问题：{ctx}关于{c}，询问{_CONSULT_ASK[aspect]}。来电人住{d.name}，联系电话：{_phone(rng)}。"
    elif style < 0.8:
        detail = f"您好，{rng.choice(SELF)}{rng.choice(['要办', '想咨询', '碰到'])}“{c}”的事，{ctx}请问{_CONSULT_ASK[aspect]}？在{APP}上没找到入口，麻烦告知，谢谢。"
    else:
        detail = (f"喂？{rng.choice(FILLERS)}，我想问一下啊，就是{c}的事，{ctx}{rng.choice(FILLERS)}，"
                  f"{_CONSULT_ASK[aspect]}啊，我问了好几个地方都说不清楚")
    return _noise(rng, title), _noise(rng, detail)


def _consult_topic_order(rng, t):
    v = rng.choice(t.variants) if t.variants else t.name
    sc = rng.choice(t.scenes) if t.scenes else ""
    title = rng.choice([f"咨询{t.name}", f"{v}", f"想了解{t.name}"])
    detail = f"市民来电咨询：{sc}，{v}？联系电话：{_phone(rng)}。"
    return _noise(rng, title), _noise(rng, detail)


# Orders about a bus or metro line, written from the demo KB's transit entries:
# without them the type head took 24路末班车几点 for a complaint and 地铁几点停运 for
# a fault (the other consult orders ask about services and topics only).
TRANSIT_SHARE = 0.06


def _transit_consult_order(rng, e):
    asked = rng.choice(e["sims"] + e["qry"])
    title = rng.choice([asked, f"咨询{e['tags'][0]}{e['category'][-1]}", f"{e['tags'][0]}咨询"])
    style = rng.random()
    if style < 0.4:
        detail = f"市民来电咨询：{asked}？联系电话：{_phone(rng)}。"
    elif style < 0.7:
        detail = f"您好，{rng.choice(SELF)}想问一下{asked}，在{APP}上没查到，麻烦告知，谢谢。"
    else:
        detail = f"喂？{rng.choice(FILLERS)}，我想问一下啊，就是{asked}，{rng.choice(FILLERS)}，麻烦你了"
    return _noise(rng, title), _noise(rng, detail)


# Complaints that name a line too, as many as the enquiries: otherwise a route
# number itself reads as an enquiry (24路司机开车太猛了 went consult).
_TRANSIT_COMPLAINTS = ["司机开车太猛，急刹车好几次，老人差点摔倒", "等了一个多小时都不来，站牌上的时间根本不准",
                       "到站不停直接开走了，甩站好几次了", "司机态度恶劣，问个路就骂人", "车上太挤了，高峰期根本上不去",
                       "司机边开车边玩手机，太危险了", "空调不开，车里闷得受不了", "老年卡刷不了，司机不让上车",
                       "提前发车，末班车没到点就走了", "车上有人抽烟，司机也不管"]


def _transit_complaint_order(rng, e):
    what = rng.choice(_TRANSIT_COMPLAINTS)
    line = e["tags"][0]
    title = rng.choice([f"反映{line}服务问题", f"投诉{line}", f"{line}{what[:6]}"])
    style = rng.random()
    if style < 0.4:
        detail = f"市民来电反映：{line}{what}，要求公交公司{rng.choice(_DEMANDS['complaint'])}。联系电话：{_phone(rng)}。"
    else:
        detail = (f"喂，你好，{rng.choice(FILLERS)}，我要投诉{line}，{what}，{rng.choice(_HISTORY)}"
                  f"你们管不管啊，我电话{_phone(rng)}")
    return _noise(rng, title), _noise(rng, detail)


def transit_orders(seed: int, n: int) -> list[dict]:
    """``n`` orders about bus and metro lines, each labelled with the line operator:
    enquiries (timetables, routes, fares, station exits) and, as many, complaints
    naming a line. A generator of its own, so the other orders stay as they were."""
    from kb.demo.transit import bus_entries, metro_entries

    rng = random.Random(f"{seed}:transit_orders")
    entries = bus_entries() + metro_entries()
    rows = []
    for i in range(n):
        e = rng.choice(entries)
        typ = "consult" if i % 2 == 0 else "complaint"
        title, detail = (_transit_consult_order if typ == "consult" else _transit_complaint_order)(rng, e)
        rows.append({"title": title, "detail": detail, "type": typ,
                     "department": DEPARTMENTS[e["depts"][0]].name})
    return rows


def _label(rng, depts):
    # Mostly the lead department; sometimes a co-responsible one, as real dispatch does.
    return DEPARTMENTS[depts[0] if len(depts) == 1 or rng.random() < 0.8 else rng.choice(depts[1:])].name


def generate_work_orders(services, seed: int = 0, n: int = 6600, min_per_dept: int = 12) -> list[dict]:
    rng = random.Random(f"{seed}:work_orders")
    by_type = {k: [t for t in TOPICS if t.type == k] for k in ("complaint", "fault", "consult")}
    rows = []
    for i in range(n):
        r = rng.random()
        typ = "complaint" if r < 0.55 else "consult" if r < 0.80 else "fault"
        if typ == "consult":
            if rng.random() < 0.9:
                s = rng.choice(services)
                title, detail = _consult_order(rng, s)
                depts = s.depts
            else:
                t = rng.choice(by_type["consult"])
                title, detail = _consult_topic_order(rng, t)
                depts = t.depts
        else:
            t = rng.choice(by_type[typ])
            title, detail = _problem_order(rng, t)
            depts = t.depts
        rows.append({"title": title, "detail": detail, "type": typ, "department": _label(rng, depts)})
    # Every department gets enough examples for the classifier to learn it.
    counts = {d.name: 0 for d in DEPARTMENTS.values()}
    for row in rows:
        counts[row["department"]] += 1
    for key, dep in DEPARTMENTS.items():
        need = min_per_dept - counts[dep.name]
        cands_t = [t for t in TOPICS if key in t.depts and t.type != "consult"]
        cands_s = [s for s in services if key in s.depts]
        for _ in range(max(0, need)):
            if cands_t and (not cands_s or rng.random() < 0.6):
                t = rng.choice(cands_t)
                title, detail = _problem_order(rng, t)
                typ = t.type
            elif cands_s:
                title, detail = _consult_order(rng, rng.choice(cands_s))
                typ = "consult"
            else:
                raise ValueError(f"department {dep.name!r} has no service or topic to write work orders from")
            rows.append({"title": title, "detail": detail, "type": typ, "department": dep.name})
    return rows + transit_orders(seed, round(n * TRANSIT_SHARE))
