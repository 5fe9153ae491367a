"""Proposals and thanks (type ``other``) for the demo's type head.

Real hotlines get them too (about one message in six of a random sample of real
messages, training/data/labels/README.md), and they are none of the request types:
"建议在学校门口增设减速带" is not a fault to repair, "感谢城管队员" not a complaint. The
demo type head learns them as a review-only label (training.train_classifier.REVIEW_LABELS),
so the widget sends them to a person instead of filing them. They are written
here, not mixed into work_orders.csv: the work orders stay what the dashboard,
incidents and deadlines read, and every order there keeps one of the three types.
"""
from __future__ import annotations

import random

from kb.demo.city import DISTRICTS
from kb.demo.departments import DEPARTMENTS
from kb.demo.phrasing import FILLERS, noisy
from kb.demo.topics import TOPICS

# Per department key: things a citizen proposes to build, add or change ({road},
# {community}, {district} are filled in). Written for the demo, not mined from data.
IDEAS = {
    "jj": ["在{road}和{road2}路口增设红绿灯", "调整{road}路口的信号灯配时，早高峰直行绿灯太短",
           "在{community}门口的小学附近增设减速带", "在{road}中段增加一条人行横道"],
    "gjjt": ["开通一条从{community}到高铁站的公交线路", "把公交末班车延长到晚上十一点",
             "在{community}门口增设一个公交站", "高峰期给通勤线路多加几班车"],
    "dtjt": ["地铁站增设无障碍电梯", "周末地铁延长运营时间", "在{road}地铁站多开一个出口"],
    "cgj": ["在{road}增设路灯，晚上太黑了", "在{community}附近增加一座公共厕所",
            "增设几个垃圾分类投放点", "规划一些便民早餐摊点"],
    "ylj": ["在{community}附近建一个口袋公园", "公园里多放一些座椅和健身器材", "{road}两边多种一些行道树"],
    "jyj": ["在{district}新建一所小学", "学校的课后服务时间延长到六点"],
    "wjw": ["社区卫生服务中心增加夜间门诊", "医院多建一些停车位"],
    "zjj": ["给老旧小区加装电梯", "老旧小区改造时多规划一些停车位"],
    "mzj": ["在{community}建一个老年食堂", "社区多办几个日间照料中心"],
    "tyj": ["多建一些对市民开放的篮球场", "学校的运动场周末向居民开放"],
    "zsj": ["政务服务大厅周六也开放", "更多事项能在网上办，不用跑窗口"],
    "wlj": ["图书馆延长晚上的开放时间", "多办一些面向老年人的文化活动"],
}
_ASK = ["建议", "希望", "提个建议，", "能不能考虑", "呼吁"]
_PRAISE = ["工作人员很负责", "效率很高", "态度特别好", "第二天就来处理了", "耐心细致"]


def _noise(rng, text):
    return noisy(rng, text, 0.15)


def _proposal(rng):
    key = rng.choice(sorted(IDEAS))
    d = rng.choice(DISTRICTS)
    st, st2 = rng.sample(d.streets, 2) if len(d.streets) > 1 else (d.streets[0], d.streets[0])
    idea = rng.choice(IDEAS[key]).format(road=st.road, road2=st2.road, district=d.name,
                                         community=rng.choice(st.communities))
    ask = rng.choice(_ASK)
    title = rng.choice([f"{ask}{idea}", f"关于{idea}的建议", f"对{d.name}的一点建议"])
    style = rng.random()
    if style < 0.4:
        detail = f"市民来电建议：{idea}，方便周边居民。"
    elif style < 0.75:
        detail = f"您好，我是{d.name}的居民，{ask}{idea}，谢谢！"
    else:
        detail = (f"喂，你好，{rng.choice(FILLERS)}，我不是投诉啊，就是想提个建议，{idea}，"
                  f"{rng.choice(FILLERS)}，你们看看能不能考虑一下")
    return title, detail, DEPARTMENTS[key].name


def _thanks(rng):
    t = rng.choice([t for t in TOPICS if t.type != "consult"])
    dept = DEPARTMENTS[t.depts[0]]
    d = rng.choice(DISTRICTS)
    praise = rng.choice(_PRAISE)
    title = rng.choice([f"感谢{dept.name}", f"表扬{dept.name}的工作人员", f"为{dept.name}点赞"])
    detail = rng.choice([
        f"之前反映的{d.name}{t.name}的问题已经解决了，{praise}，特此感谢！",
        f"市民来电表扬：{dept.name}处理{t.name}的问题{praise}，市民表示感谢。",
        f"喂，你好，我打电话不是反映问题的，就是想谢谢你们，上次{t.name}的事，{praise}，给他们点个赞"])
    return title, detail, dept.name


def proposal_orders(seed: int, n: int) -> list[dict]:
    """``n`` messages labelled ``other``: three proposals to one thanks, each with the
    department it would go to."""
    rng = random.Random(f"{seed}:proposals")
    rows = []
    for i in range(n):
        title, detail, dept = (_thanks if i % 4 == 3 else _proposal)(rng)
        rows.append({"title": _noise(rng, title), "detail": _noise(rng, detail),
                     "type": "other", "department": dept})
    return rows
