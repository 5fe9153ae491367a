"""The concrete problem of a report: a small lexicon of problem classes, and the
report's "topic" as character n-grams with the place words taken out.

Callers of one incident say it differently (自来水黄浊有异味 / 水龙头出来的水是
锈色的): the lexicon maps such words to one class (``water_quality``); classes
belong to families (a burst main is reported as 停水, 爆管 and 路面冒水), so a
report's class may differ from an incident's and still be the same event.
The n-grams catch what the lexicon does not list.
"""
from __future__ import annotations

import math
import re
from operator import mul

# class -> (family, words). Words are matched as substrings of normalised text.
LEXICON: dict[str, tuple[str, tuple[str, ...]]] = {
    "water_quality": ("water", ("黄浊", "浑浊", "发黄", "黄水", "黄色的水", "锈色", "锈水", "铁锈",
                                "水质", "水有异味", "水有味", "水发臭", "杂质", "沉淀", "水浑",
                                "浑水", "有异味", "漂白粉", "消毒水味", "颜色不对", "水是黄")),
    "water_outage": ("water", ("停水", "没水", "没有水", "断水", "无水", "不来水", "水压低",
                               "水压小", "水压不足", "水很小", "水流很小", "来水", "供水",
                               "用不了水", "拧开没", "停谁", "打不出水", "水龙头不出水", "不出水")),
    "pipe_burst": ("water", ("爆管", "水管破裂", "水管爆", "管道破裂", "爆裂", "冒水", "喷水",
                             "水管漏", "漏水", "跑水", "自来水管", "供水管")),
    "power_outage": ("power", ("停电", "没电", "断电", "跳闸", "电压不稳", "供电", "停店", "变压器",
                               "电压低", "突然黑了", "没有电", "灯都不亮", "电闸")),
    "gas": ("gas", ("停气", "没气", "燃气", "天然气", "煤气", "气压低", "打不着火", "点不着火",
                    "燃气泄漏", "漏气", "燃气味", "燃起", "煤气味")),
    "heating": ("heating", ("暖气", "供暖", "供热", "采暖", "地暖", "不热", "暖气片", "室温")),
    "elevator": ("elevator", ("电梯", "困人", "被困", "电体", "轿厢")),
    "street_lamp": ("lamp", ("路灯", "路等", "路登", "灯不亮", "照明", "灯坏", "黑灯瞎火", "路很黑", "路太黑")),
    "road_damage": ("road", ("路面", "坑洼", "大坑", "塌陷", "破损", "坑", "开裂", "沉降",
                             "凹陷", "井盖", "井改", "路基", "地面下沉")),
    "drainage": ("drain", ("下水道", "堵塞", "污水", "积水", "内涝", "排水", "化粪池", "返水",
                           "反水", "窨井", "马桶")),
    "noise": ("noise", ("噪音", "噪声", "扰民", "太吵", "吵死", "很吵", "吵得", "好吵", "施工声", "广场舞", "喇叭", "音响",
                        "夜间施工", "轰鸣", "睡不着", "跳舞", "KTV", "ktv", "唱歌", "打桩", "半夜施工")),
    "garbage": ("garbage", ("垃圾", "清运", "堆放", "臭气", "苍蝇", "垃圾桶", "垃圾站", "没人清理")),
    "air": ("air", ("油烟", "烟雾", "焚烧", "废气", "粉尘", "扬尘", "烧东西", "刺鼻", "呛")),
    "wage": ("wage", ("欠薪", "拖欠", "工资", "讨薪", "薪水", "工钱", "农民工", "血汗钱")),
    "traffic_signal": ("traffic", ("红绿灯", "信号灯", "交通灯", "信号机", "灯不变", "一直红灯")),
    "parking": ("traffic", ("违停", "乱停", "占道", "停车", "堵路", "堵车", "拥堵")),
    "tree": ("tree", ("树", "倒伏", "树枝", "枝条", "砸")),
    "bus": ("bus", ("公交", "班车", "站台", "末班", "改线", "校车")),
    "telecom": ("telecom", ("断网", "网络", "宽带", "信号差", "没信号", "通信")),
    "animal": ("animal", ("流浪狗", "流浪猫", "野狗", "咬人", "蛇", "马蜂", "老鼠")),
    "fire": ("fire", ("着火", "火灾", "冒烟", "消防通道", "起火")),
    "property": ("property", ("物业费", "换物业", "维修基金", "业主大会", "停车费", "涨价")),
    "building": ("building", ("违建", "违章", "搭建", "加盖", "私搭", "盖房", "盖了个", "围起来", "占了公共",
                              "封阳台", "砌墙")),
    "pet": ("pet", ("遛狗", "狗屎", "拴绳", "养狗", "狗叫", "鸽子", "养鸡", "养了")),
    "renovation": ("noise", ("装修", "电钻", "打墙", "砸墙")),
    "charging": ("charging", ("充电桩", "飞线充电", "充电")),
    "fireworks": ("fireworks", ("鞭炮", "烟花", "炮仗")),
    "handover": ("handover", ("交房", "延期", "烂尾")),
}
FAMILY = {cls: fam for cls, (fam, _) in LEXICON.items()}
_WORDS = sorted(((w, cls) for cls, (_, ws) in LEXICON.items() for w in ws),
                key=lambda x: len(x[0]), reverse=True)
_WORD_RE = re.compile("|".join(re.escape(w) for w, _ in _WORDS))
_WORD_CLASS = {}
for _w, _c in _WORDS:
    _WORD_CLASS.setdefault(_w, _c)

# Words every report has whatever the problem: they would make any two reports
# look alike. Removed before the n-grams are taken.
_FILLER = re.compile(
    r"[0-9a-zA-Z]+|[^\u4e00-\u9fff]|市民|来电|反映|投诉|举报|咨询|请求|希望|尽快|处理|解决|相关|部门"
    r"|问题|情况|现在|目前|今天|昨天|晚上|早上|上午|下午|已经|一直|还是|没有人|没人|我们|我家|家里"
    r"|你们|这个|那个|这里|那里|附近|旁边|门口|周边|这边|麻烦|帮忙|谢谢|一下|严重|影响|非常|很多|好几|多次")
_STOP_CHARS = frozenset("的了是在有我你他她它们也都就还又很吗呢吧啊呀么个这那和与及把被让给到从对")


def problem_classes(text: str) -> frozenset[str]:
    """Lexicon classes named in normalised ``text`` (longest words first, no overlaps)."""
    return frozenset(_WORD_CLASS[m.group()] for m in _WORD_RE.finditer(text))


def families(classes) -> frozenset[str]:
    return frozenset(FAMILY[c] for c in classes)


def topic_text(text: str, place_spans=()) -> str:
    """``text`` without the place mentions, numbers, punctuation and filler."""
    if place_spans:
        parts, pos = [], 0
        for start, end in sorted(place_spans):
            if start >= pos:
                parts.append(text[pos:start])
                pos = end
        parts.append(text[pos:])
        text = " ".join(parts)
    return _FILLER.sub(" ", text)


def topic_vector(topic: str) -> dict[str, float]:
    """Character unigrams (minus stop characters) and bigrams within each run,
    L2-normalised. Bigrams carry the meaning; unigrams let 锈色 meet 锈水."""
    # a dict with get(): Counter's += with less overhead, the same values and
    # the same key order (which blocking and the incident sums follow)
    grams: dict[str, float] = {}
    get, stop = grams.get, _STOP_CHARS
    for run in topic.split():
        last = len(run) - 1
        for i, ch in enumerate(run):
            if ch not in stop:
                grams[ch] = get(ch, 0) + 0.5
            if i < last:
                g = run[i:i + 2]
                grams[g] = get(g, 0) + 1.0
    norm = math.sqrt(sum(v * v for v in grams.values())) or 1.0
    return {g: v / norm for g, v in grams.items()}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    # the shared n-grams are few: intersect the key views (in C), then sum with
    # fsum, which rounds the exact sum once: a set's order follows PYTHONHASHSEED,
    # and sum() in another order differs in the last bits, which can flip a linking
    # decision (fsum costs about what sum() does here; sorting the keys cost more)
    # (the products in C: map over the one set twice pairs the same keys)
    shared = a.keys() & b.keys()
    return math.fsum(map(mul, map(a.__getitem__, shared), map(b.__getitem__, shared)))
