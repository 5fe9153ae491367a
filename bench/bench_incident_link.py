"""The online incident decision at scale: ``hotline bench incident_link [--orders 50000]
[--queries 2000] [--regions 8] [--url URL] [--refresh-s 0]``.

Loads N synthetic orders (estates, roads and schools of 8 districts, 26 kinds of
problem said several ways, incidents of 1-12 calls over the last 40 hours, all
inside the window) into an incident store (a fresh SQLite file, or ``--url``),
starts an :class:`incidents.online.IncidentDesk` on it (the index a serving
process keeps), then times per call, as ``/v1/analyze`` does it:

- ``prepare``: normalise and extract places, classes and topic of the call;
- ``decide``: catch up with the store's change feed (one query) and decide;
- ``match``: both, plus reading the matched incident's summary (size, examples).

Half of the calls repeat an existing incident in new words, 0.1-2 h after its last
call (they should link to it: reported as ``hit_rate``; the synthetic wordings are
few and some name no problem word the lexicon knows), half name a new place.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench.common import median, percentile, save

_CORES = ["幸福", "金海", "阳光", "翠湖", "锦绣", "东方", "和平", "紫荆", "枫林", "青松", "海棠",
          "银河", "嘉禾", "明珠", "碧水", "春晖", "龙湖", "盛世", "新城", "兰亭", "丽景", "御景",
          "华府", "绿洲", "书香", "怡和", "长青", "滨江", "星河", "天悦"]
# First characters of place names: names that share their first two characters
# count as one place to the linker (人民 / 人民医院), so synthetic names vary there.
_HEADS = "安宝北昌晨成大德东福富光广国海和红华怀黄吉佳建江金锦景康兰乐丽联林龙茂美民宁平"
_SUFFIXES = ["小区", "花园", "家园", "路", "大道", "中学", "小学", "广场", "市场", "公园"]
_PROBLEMS = [
    ["停水了", "一滴水都没有", "从早上开始没水", "水龙头不出水"],
    ["停电了", "突然没电了", "整栋楼断电", "一直跳闸没电"],
    ["电梯坏了", "电梯困人", "电梯停了好几天", "电梯门打不开"],
    ["路灯不亮", "路灯坏了一排", "晚上路很黑路灯都不亮"],
    ["下水道堵塞", "污水冒出来了", "下水道返水很臭"],
    ["垃圾没人清运", "垃圾堆放好几天", "垃圾站臭气熏天"],
    ["夜间施工噪音扰民", "半夜打桩太吵", "施工声音吵得睡不着"],
    ["路面塌陷一个大坑", "井盖丢了很危险", "路面开裂破损"],
    ["燃气没气了", "天然气停气", "煤气打不着火"],
    ["暖气不热", "供暖温度太低", "暖气片冰凉"],
    ["自来水发黄有异味", "水是锈色的", "水质浑浊"],
    ["红绿灯坏了", "信号灯一直红灯", "交通灯不亮"],
    ["拖欠工资", "工地欠薪三个月", "讨薪没人管"],
]
_FILLERS = ["您好，", "我想反映一下，", "麻烦问一下，", "", "我是住在", "市民来电："]
_PARTS = ["", "3栋", "东门", "12号楼", "二期", "北区"]
_DISTRICTS = ["海州区", "连云区", "赣榆区", "东海县", "灌云县", "灌南县", "开发区", "高新区"]


def _text(rng, place: str, problem: int) -> str:
    part = rng.choice(_PARTS) if place.endswith(("小区", "花园", "家园")) else ""
    return f"{rng.choice(_FILLERS)}{place}{part}{rng.choice(_PROBLEMS[problem])}，请尽快处理"


def _place(rng) -> str:
    return rng.choice(_HEADS) + rng.choice(_HEADS) + rng.choice(_CORES) + rng.choice(_SUFFIXES)


def _incidents(rng, n_orders: int, regions: list[str], now_h: float):
    """(region, place, problem, [times]) until n_orders calls."""
    out, total = [], 0
    while total < n_orders:
        size = min(n_orders - total, rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 12]))
        start = now_h - rng.uniform(1.0, 40.0)
        times = sorted(start + rng.uniform(0, 0.9) * (now_h - start) for _ in range(size))
        place = _place(rng)
        out.append((rng.choice(regions), place, rng.randrange(len(_PROBLEMS)), times))
        total += size
    return out


def load_store(store, desk_cls, incidents, rng) -> float:
    """Insert the synthetic incidents in bulk (one transaction); returns seconds."""
    import sqlalchemy as sa

    from incidents.online import _features_json, text_hash
    from incidents.reports import Report, prepare
    from incidents.store import incidents as t_inc, orders as t_ord

    t0 = time.perf_counter()
    linker = desk_cls
    inc_rows, ord_rows = [], []
    for iid, (region, place, problem, times) in enumerate(incidents, start=1):
        windows = []
        for t in times:
            text = _text(rng, place, problem)
            r = prepare(Report(time=t, region=region, text=text))
            w = linker.window_of(r.classes)
            windows.append(w)
            ord_rows.append({"incident_id": iid, "time_h": t, "created_at": time.time(),
                             "text": text, "text_hash": text_hash(text), "type": None,
                             "department": None, "region": region, "window_h": w,
                             "note": None, "by": "bench", **_features_json(r)})
        window = max((w for w in windows if w), default=store.default_window_h)
        inc_rows.append({"id": iid, "status": "open", "region": region, "type": None,
                         "department": None, "first_seen": times[0], "last_seen": times[-1],
                         "closes_at": times[0] + window, "size": len(times), "note": None,
                         "note_order_id": None, "last_order_id": None, "merged_into": None,
                         "created_at": time.time()})
    with store.engine.begin() as conn:
        conn.execute(sa.insert(t_inc), inc_rows)
        conn.execute(sa.insert(t_ord), ord_rows)
    return time.perf_counter() - t0


def main(settings, argv) -> int:
    ap = argparse.ArgumentParser(prog="hotline bench incident_link")
    ap.add_argument("--orders", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--regions", type=int, default=8)
    ap.add_argument("--url", help="store URL (default: a fresh SQLite file)")
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--refresh-s", type=float, default=0.0,
                    help="read the change feed at most this often (0: every decision; "
                         "the server uses 0.25)")
    args = ap.parse_args(argv)

    from incidents.linker import IncidentLinker
    from incidents.online import IncidentDesk, now_hours, text_hash
    from incidents.store import IncidentStore

    rng = random.Random(args.seed)
    regions = _DISTRICTS[:max(1, args.regions)]
    now_h = now_hours()
    clock = lambda: now_h   # noqa: E731 - a fixed "now": the windows hold every order
    work = Path(tempfile.mkdtemp(prefix="incident-bench-"))
    url = args.url or f"sqlite:///{work / 'incidents.sqlite3'}"
    linker = IncidentLinker.load()
    store = IncidentStore(url, default_window_h=linker._params()[2])
    incidents = _incidents(rng, args.orders, regions, now_h)
    fill_s = load_store(store, linker, incidents, rng)
    print(f"loaded {args.orders} orders in {len(incidents)} incidents ({fill_s:.1f} s)")
    t0 = time.perf_counter()
    desk = IncidentDesk(store, linker, clock=clock, refresh_s=args.refresh_s)
    start_s = time.perf_counter() - t0
    print(f"index built in {start_s:.2f} s: {len(desk.index)} open incidents")

    prep, dec, match = [], [], []
    hits = repeats = 0
    for q in range(args.queries):
        at = now_h
        if q % 2 == 0:
            iid = rng.randrange(len(incidents))
            region, place, problem, times = incidents[iid]
            at = min(now_h, times[-1] + rng.uniform(0.1, 2.0))   # soon after its last call
            repeats += 1
        else:
            iid = None
            region = rng.choice(regions)
            place = _place(rng)
            problem = rng.randrange(len(_PROBLEMS))
        text = _text(rng, place, problem)
        t0 = time.perf_counter()
        r = desk.prepare(text, region, at)
        t1 = time.perf_counter()
        got, _ = desk.index.decide(r, hash_=text_hash(text))
        t2 = time.perf_counter()
        desk.match(text, region, at)
        t3 = time.perf_counter()
        prep.append(t1 - t0)
        dec.append(t2 - t1)
        match.append(t3 - t2)
        if iid is not None and got == iid + 1:
            hits += 1

    def ms(xs):
        return {"p50_ms": round(median(xs) * 1000, 3), "p99_ms": round(percentile(xs, 99) * 1000, 3)}

    figures = {"orders": args.orders, "incidents": len(incidents), "regions": len(regions),
               "queries": args.queries, "store": url.split(":")[0], "refresh_s": args.refresh_s, "load_s": round(fill_s, 2),
               "index_start_s": round(start_s, 2), "prepare": ms(prep), "decide": ms(dec),
               "prepare_plus_decide": ms([a + b for a, b in zip(prep, dec)]),
               "match_with_summary": ms(match),
               "hit_rate": round(hits / max(1, repeats), 3)}
    save("incident_link", figures)
    return 0
