"""How citizens actually say things: question templates per aspect, spoken fillers,
typos and traditional characters. Every choice goes through a seeded ``random.Random``
so the demo is deterministic.
"""
from __future__ import annotations

import functools
import random

# ---- question templates per service aspect -------------------------------------------
# "std" is the standard question (uses the official name {n}); "sim" the similar-question
# templates (use colloquial forms {c}); "qry" are held apart for the eval queries and
# must never be used for similar questions.
ASPECTS = {
    "procedure": {
        "std": "{n}怎么办理？",
        "sim": ["{c}需要走哪些流程？", "想{c}，具体怎么操作", "{c}的办理步骤是什么", "请问{c}怎么弄",
                "我要{c}该咋办啊", "{n}的流程", "{c}怎么申请", "{c}第一步要干嘛"],
        "qry": ["{c}到底要怎么搞", "不知道{c}从哪开始办", "{c}手续复杂不", "教我一下{c}"],
    },
    "materials": {
        "std": "{n}需要准备哪些材料？",
        "sim": ["{c}要带什么证件", "去{c}需要带哪些东西", "{c}要交啥资料", "{n}所需材料清单",
                "{c}要准备什么", "{c}除了身份证还要什么", "{c}材料有哪些"],
        "qry": ["{c}我该拿些啥过去", "{c}证件要带齐哪些", "{c}得备好什么手续"],
    },
    "fee": {
        "std": "{n}收费吗？收费标准是多少？",
        "sim": ["{c}要花多少钱", "{c}要不要交钱", "{c}免费吗", "{n}的费用", "{c}收不收费",
                "{c}需要缴纳什么费用"],
        "qry": ["{c}得掏多少钱", "{c}花钱不", "{c}是不是要给钱"],
    },
    "duration": {
        "std": "{n}多长时间能办好？",
        "sim": ["{c}要等几天", "{c}多久能拿到", "{c}当天能办完吗", "{n}办理时限",
                "{c}审核要多久", "{c}几个工作日"],
        "qry": ["{c}弄完大概要等多久", "{c}啥时候能下来", "{c}快不快"],
    },
    "conditions": {
        "std": "{n}的办理条件是什么？",
        "sim": ["什么人能{c}", "{c}有什么要求", "我这种情况能不能{c}", "{n}申请条件",
                "满足什么条件才能{c}", "{c}对人有没有限制"],
        "qry": ["我符不符合{c}的条件", "是不是谁都可以{c}", "{c}门槛高吗"],
    },
    "online": {
        "std": "{n}可以在网上办理吗？",
        "sim": ["{c}能不能手机上办", "{c}在{app}上怎么弄", "不去现场能{c}吗", "{n}网上办理入口",
                "{c}可以线上申请吗", "在家能{c}吗"],
        "qry": ["{c}用手机app能搞定吗", "{c}非得跑一趟吗", "{c}有没有网上的渠道"],
    },
    "place": {
        "std": "{n}在哪里办理？",
        "sim": ["{c}去哪里办", "{c}要到哪个窗口", "{c}在什么地方办", "{n}办理地点",
                "{c}找哪个部门"],
        "qry": ["{c}得跑哪儿去", "{c}是哪个单位管", "{c}地址在哪"],
    },
    "proxy": {
        "std": "{n}可以委托他人代办吗？",
        "sim": ["自己没空能让家人帮忙{c}吗", "{c}能找人代办吗", "{c}必须本人去吗",
                "老人行动不便{c}能代办吗", "{n}代办需要什么"],
        "qry": ["{c}我让我老公去行不行", "{c}可以叫孩子帮我跑吗", "{c}非要本人到场吗"],
    },
    "progress": {
        "std": "{n}的办理进度怎么查询？",
        "sim": ["{c}办到哪一步了怎么查", "{c}进度在哪看", "{c}交上去了怎么知道结果",
                "{n}结果查询", "{c}审核通过了吗在哪查"],
        "qry": ["{c}交了好几天了没动静", "{c}怎么知道批下来没有", "{c}状态在哪能看到"],
    },
    "nonlocal": {
        "std": "非本市户籍人员能在{city}办理{n}吗？",
        "sim": ["外地人能在{cs}{c}吗", "户口不在{cs}可以{c}吗", "外地户口{c}有什么不一样",
                "新{cs}人{c}有限制吗", "不是本地户口能{c}吗"],
        "qry": ["我户口在老家能不能在这边{c}", "外省的能在{cs}{c}吗", "没有{cs}户口{c}行吗"],
    },
    "notice": {
        "std": "{n}有哪些注意事项？",
        "sim": ["{c}要注意什么", "{c}有什么坑", "{c}容易出什么问题", "{n}温馨提示", "{c}之前要知道些什么"],
        "qry": ["{c}有没有啥要特别留意的", "{c}哪些地方容易搞错"],
    },
    "rejected": {
        "std": "{n}申请被退回或审核不通过怎么办？",
        "sim": ["{c}没通过怎么办", "{c}被驳回了", "{c}审核失败怎么处理", "{c}材料被退回了怎么办"],
        "qry": ["{c}给我打回来了咋整", "{c}说不符合要求，我该怎么弄"],
    },
}

DISTRICT_ASPECTS = {
    "d_place": {
        "std": "{d}哪里可以办理{n}？办公时间是几点？",
        "sim": ["{ds}{c}去哪里", "{d}{c}的窗口在哪，几点上班", "在{ds}{c}要去哪个地方",
                "{d}{n}办理地址和时间", "住在{ds}，{c}去哪办"],
        "qry": ["我在{ds}这边{c}该跑哪个大厅", "{ds}{c}几点开门", "{ds}那边{c}地址发我一下"],
    },
    "d_phone": {
        "std": "{d}{n}的咨询电话是多少？",
        "sim": ["{ds}{c}打什么电话问", "{d}{c}联系电话", "{ds}{c}窗口电话多少",
                "想打电话问{ds}{c}的事"],
        "qry": ["{ds}{c}有没有电话可以先问问", "{ds}{c}的号码给我一个", "怎么联系{ds}管{c}的"],
    },
    "d_booking": {
        "std": "在{d}办理{n}需要提前预约吗？",
        "sim": ["{ds}{c}要不要预约", "{d}{c}怎么预约", "{ds}{c}能直接去吗",
                "{d}{c}周末能办吗"],
        "qry": ["{ds}{c}直接过去行不行还是得先约", "{ds}{c}星期六上班吗", "{ds}{c}排队要多久"],
    },
}

# Topic (complaint / fault) templates: {t} topic name, {v} a colloquial variant.
TOPIC_ASPECTS = {
    "t_howto": {
        "std": "遇到{t}怎么办？向哪个部门反映？",
        "sim": ["{v}找谁", "{v}打哪个电话", "{v}归哪个部门管", "{t}投诉渠道", "{v}该找谁处理"],
        "qry": ["{v}这种事到底谁来管", "{v}我该去哪里说", "{v}谁能管管"],
    },
    "t_time": {
        "std": "反映{t}后多久能处理？",
        "sim": ["{v}反映了多久有回复", "{t}处理时限", "{v}投诉以后几天能解决", "{v}多久给答复"],
        "qry": ["{v}报上去要几天才有人来", "{v}说了之后大概啥时候有结果"],
    },
    "t_info": {
        "std": "反映{t}需要提供哪些信息？",
        "sim": ["{v}投诉要说清楚什么", "{v}反映的时候要提供什么", "{t}投诉需要什么证据",
                "{v}要拍照留证吗"],
        "qry": ["{v}打电话过去要讲些啥", "{v}需要我准备啥证据"],
    },
}
DISTRICT_TOPIC_ASPECTS = {
    "td_dept": {
        "std": "{d}{t}由哪个部门处理？",
        "sim": ["{ds}{v}找谁", "{d}{v}该向哪里反映", "{ds}这边{v}归谁管", "住在{ds}{v}怎么办"],
        "qry": ["我们{ds}这里{v}找谁都没用", "{ds}{v}到底谁负责"],
    },
    "td_followup": {
        "std": "{d}{t}反映后一直没人处理怎么办？",
        "sim": ["{ds}{v}投诉了没人管", "{d}{v}反映很久没解决", "{ds}{v}一直没处理怎么催",
                "{ds}{v}投诉多次无果"],
        "qry": ["{ds}{v}说了好几次都没用", "{ds}{v}反映半个月还没动静"],
    },
    "td_where": {
        "std": "{d}{t}可以拨打哪些电话反映？",
        "sim": ["{ds}{v}打什么电话", "{d}{v}投诉电话", "{ds}{v}有没有专门的热线", "{ds}{v}电话反映"],
        "qry": ["{ds}{v}给个能打通的电话", "{ds}{v}该拨哪个号"],
    },
}

ASPECT_LABELS = {
    "procedure": "办理流程", "materials": "所需材料", "fee": "收费标准", "duration": "办理时限",
    "conditions": "办理条件", "online": "网上办理", "place": "办理地点", "proxy": "委托代办",
    "progress": "进度查询", "nonlocal": "非户籍办理", "d_place": "办理地点", "d_phone": "咨询电话",
    "d_booking": "预约服务", "t_howto": "反映渠道", "t_time": "处理时限", "t_info": "反映须知",
    "td_dept": "责任部门", "td_followup": "督办催办",
    "notice": "注意事项", "rejected": "退件处理", "td_where": "反映电话",
}

# ---- spoken noise ---------------------------------------------------------------------
FILLERS = ["那个", "就是", "然后", "嗯", "这个", "就是说", "怎么说呢", "对", "呃"]
OPENERS = ["喂，你好，", "喂？", "您好，", "你好你好，", "喂，是12345吗？", "哎你好，", "打扰一下，",
           "我想问一下，", "请问一下啊，", "那个，你好，", "喂喂，听得到吗？"]
CLOSERS = ["", "", "，谢谢", "，麻烦你了", "，你帮我查一下", "，急着用", "，我都问了好几个地方了",
           "，你们能不能给个准话", "，好吧", "，就这个事"]
SELF = ["我", "我家老人", "我老婆", "我老公", "我女儿", "我儿子", "我妈", "我爸", "我们公司员工",
        "我朋友", "我家孩子"]

# Homophone / near-form slips common in typed citizen messages.
TYPOS = [
    ("办理", "半理"), ("社保", "社报"), ("医保", "医宝"), ("公积金", "公基金"), ("户口", "护口"),
    ("身份证", "身分证"), ("居住证", "居主证"), ("预约", "予约"), ("驾驶证", "驾使证"),
    ("在", "再"), ("的", "地"), ("哪里", "那里"), ("怎么", "咋么"), ("需要", "须要"),
    ("材料", "才料"), ("补办", "补半"), ("缴费", "交费"), ("报销", "报消"), ("营业执照", "营业执造"),
    ("已经", "以经"), ("投诉", "头诉"), ("噪音", "燥音"), ("物业", "物叶"), ("暖气", "暧气"),
    ("停水", "停氺"), ("提取", "题取"), ("登记", "等记"), ("证明", "正明"), ("退休", "退修"),
    ("工资", "公资"), ("小区", "小去"), ("一直", "一只"), ("装修", "装休"), ("电梯", "电体"),
]


@functools.lru_cache(maxsize=1)
def _s2t():
    import opencc

    return opencc.OpenCC("s2t")


def traditional(text: str) -> str:
    return _s2t().convert(text)


def typo(rng: random.Random, text: str, n: int = 1) -> str:
    hits = [(a, b) for a, b in TYPOS if a in text]
    rng.shuffle(hits)
    for a, b in hits[:n]:
        text = text.replace(a, b, 1)
    return text


def noisy(rng: random.Random, text: str, typo_rate: float, max_typos: int = 1) -> str:
    """As typed by a hurried agent: at ``typo_rate`` up to ``max_typos`` homophone
    slips, and 1 text in 20 in traditional characters."""
    if rng.random() < typo_rate:
        # randint(1, 1) would still draw from rng: one slip is asked for plainly
        text = typo(rng, text, rng.randint(1, max_typos) if max_typos > 1 else 1)
    if rng.random() < 0.05:
        text = traditional(text)
    return text


def fill(template: str, **slots) -> str:
    return template.format(**slots)


def ramble(rng: random.Random, core: str) -> str:
    """Phone-style wrapping: opener, fillers inside, a closer."""
    core = core.rstrip("？?。")
    parts = [rng.choice(OPENERS)]
    if rng.random() < 0.6:
        parts.append(rng.choice(FILLERS) + "，")
    if rng.random() < 0.5:
        parts.append(f"{rng.choice(SELF)}{rng.choice(['想办个事', '有个事想问', '碰到个事'])}，{rng.choice(FILLERS)}")
    parts.append(core)
    parts.append(rng.choice(CLOSERS))
    return "".join(parts)


def colloquialize(rng: random.Random, q: str) -> str:
    """Light spoken variation for a similar question (never the heavy query noise)."""
    r = rng.random()
    q = q.rstrip("？?")
    if r < 0.25:
        return "请问" + q + "？"
    if r < 0.4:
        return q + ("？" if q.endswith(("吗", "呢", "吧", "啊")) else "啊？")
    if r < 0.5:
        return "想问下" + q
    return q + "？" if rng.random() < 0.5 else q
