"""Public transport entries (bus and metro lines) and time-bound policies with validity dates."""
from __future__ import annotations

import random

from kb.demo.city import APP, CITY, CITY_SHORT, DISTRICTS, all_streets
from kb.demo.local import _p


def bus_entries(n_lines: int = 260):
    streets = all_streets()
    out = []
    for n in range(1, n_lines + 1):
        rng = random.Random(f"bus:{n}")
        a, b = rng.sample(streets, 2)
        stops = [s.road for s in rng.sample(streets, 6)]
        first = f"{5 + rng.randint(0, 1)}:{rng.choice(['00', '20', '30', '40'])}"
        last = f"{21 + rng.randint(0, 2)}:{rng.choice(['00', '30'])}"
        fare = "1元" if n < 100 else ("2元（空调车）" if n < 200 else "分段计价1-3元")
        name = f"{n}路" if n <= 330 else (f"夜{n - 330}路" if n <= 360 else f"快{n - 360}路")
        line = f"{CITY_SHORT}{name}公交"
        base = f"bus:{n}"
        tags = [name, "公交"]
        cat = ("公共交通", "公交线路")
        out.append(_p(base + ":time", f"{line}首末班车时间是几点？",
                      [f"{name}几点收车", f"{name}早上几点发车", f"{name}末班车几点", f"{name}公交运营时间"],
                      [f"{name}晚上最后一趟几点", f"坐{name}最早几点有车"],
                      f"{line}：{a.road}首末站首班{first}、末班{last}；{b.road}方向首班{first}、末班{last}。"
                      f"高峰发车间隔约8-10分钟，平峰12-15分钟，实时到站信息可在{APP}APP“公交”查询。",
                      ["gjjt"], cat + ("首末班时间",), "", tags))
        out.append(_p(base + ":route", f"{line}途经哪些站点？",
                      [f"{name}线路走向", f"{name}经过{stops[2]}吗", f"{name}站点", f"{name}从哪到哪"],
                      [f"{name}到不到{stops[3]}", f"{name}是走哪条路的"],
                      f"{line}由{a.name}（{a.road}）开往{b.name}（{b.road}），主要途经："
                      + "—".join(stops) + "。线路如有临时调整以站牌和公交集团公告为准。",
                      ["gjjt"], cat + ("线路站点",), "", tags))
        out.append(_p(base + ":fare", f"{line}票价多少？可以用什么方式付费？",
                      [f"{name}票价", f"{name}多少钱", f"{name}能扫码吗", f"{name}老年卡能坐吗"],
                      [f"坐{name}要投几块", f"{name}支不支持刷手机"],
                      f"{line}票价：{fare}。支持海州通卡、{APP}APP乘车码、微信支付宝乘车码、银联闪付和现金；"
                      "持老年卡、残疾人卡免费乘车，学生卡5折，60分钟内换乘优惠1元。",
                      ["gjjt"], cat + ("票价",), "", tags))
    return out


def metro_entries(n_lines: int = 6, per_line: int = 22):
    streets = all_streets()
    out = []
    used = set()
    rng = random.Random("metro")
    for ln in range(1, n_lines + 1):
        cands = [s for s in streets if s.name[:2] not in used]
        stations = [s.name[:2] + ("站" if rng.random() < 0.7 else "路站") for s in rng.sample(cands, per_line)]
        used.update(s[:2] for s in stations)
        line = f"地铁{ln}号线"
        for si, stn in enumerate(stations):
            k = ln * 100 + si
            base = f"mt:{ln}:{si}"
            tags = [line, stn]
            first = f"6:{(k * 7) % 50 + 5:02d}"
            last = f"22:{(k * 11) % 50 + 5:02d}"
            out.append(_p(base + ":time", f"{CITY_SHORT}{line}{stn}首末班车是几点？",
                          [f"{line}{stn}末班车", f"{stn}地铁几点停运", f"{stn}首班地铁几点",
                           f"{ln}号线{stn}运营时间"],
                          [f"{stn}晚上最晚几点还有地铁", f"早上几点能在{stn}坐上{ln}号线"],
                          f"{line}{stn}：往{stations[-1]}方向首班{first}、末班{last}；往{stations[0]}方向首班"
                          f"{first}、末班{last}。节假日可能延长运营，以海州地铁公告为准。",
                          ["dtjt"], ("公共交通", "地铁", "首末班时间"), "", tags))
            out.append(_p(base + ":exit", f"{CITY_SHORT}{line}{stn}有几个出入口？",
                          [f"{stn}出口", f"{stn}哪个出口近", f"{stn}出入口分布", f"{stn}有无障碍电梯吗"],
                          [f"{stn}下车从哪个口出去", f"{stn}几号口有电梯"],
                          f"{stn}共设{(k % 4) + 2}个出入口，A口通往{streets[k % len(streets)].road}，"
                          f"B口设无障碍电梯；站内设有卫生间、母婴室和自助票务机。",
                          ["dtjt"], ("公共交通", "地铁", "出入口"), "", tags))
    return out


# (key, title, dept keys, category, unit, values by year 2024..2027, month_from, month_to)
_POLICIES = [
    ("jmyb", "城乡居民医保个人缴费标准", ["ybj", "swj"], ("医疗保障", "城乡居民医保"), "每人每年{v}元", (380, 400, 400, 420)),
    ("dibao", "城乡最低生活保障标准", ["mzj"], ("民政救助", "最低生活保障"), "每人每月{v}元", (860, 900, 950, 980)),
    ("minwage", "最低工资标准", ["rsj"], ("劳动就业", "工资标准"), "月最低工资{v}元，非全日制小时最低工资{h}元", (2200, 2300, 2400, 2490)),
    ("lhjy", "灵活就业人员养老保险缴费基数", ["rsj", "swj"], ("社会保障", "养老保险"), "缴费基数下限{v}元/月、上限{u}元/月，缴费比例20%", (4200, 4400, 4560, 4700)),
    ("gjjbase", "住房公积金缴存基数上下限", ["gjj"], ("住房公积金", "缴存"), "月缴存基数下限{v}元、上限{u}元，缴存比例5%-12%", (2200, 2300, 2400, 2490)),
    ("gjjloan", "住房公积金贷款最高额度", ["gjj"], ("住房公积金", "贷款"), "单方缴存最高{v}万元，双方缴存最高{d}万元，多子女家庭上浮20%", (50, 60, 60, 80)),
    ("heatfee", "居民采暖费收费标准", ["rljt", "fgw"], ("公用事业", "供热"), "每平方米建筑面积{p}元（按供暖季收取）", (24, 24, 25, 25)),
    ("gaoling", "高龄津贴发放标准", ["mzj"], ("养老服务", "高龄津贴"), "80-89周岁每人每月{a}元，90-99周岁{b}元，100周岁以上{c}元", (100, 110, 120, 130)),
    ("canbu", "残疾人两项补贴标准", ["clj", "mzj"], ("残疾人服务", "残疾人补贴"), "困难残疾人生活补贴每人每月{v}元，重度残疾人护理补贴每人每月{b}元", (100, 110, 120, 130)),
    ("yanglao", "退休人员基本养老金调整", ["rsj"], ("社会保障", "养老保险"), "总体调整水平为上年人均基本养老金的{pc}%，定额调整每人每月{v}元", (30, 32, 34, 35)),
    ("shiye", "失业保险金发放标准", ["rsj"], ("社会保障", "失业保险"), "按本市最低工资标准的{pc2}%按月发放，即每月{w}元", (1980, 2070, 2160, 2240)),
    ("yuer", "育儿补贴发放标准", ["wjw", "czj"], ("卫生健康", "生育支持"), "3周岁以下婴幼儿每孩每年{v}元，二孩及以上每孩每年另加{b}元", (3600, 3600, 3600, 4200)),
    ("laojiu", "家电以旧换新补贴标准", ["swjshang", "czj"], ("商贸消费", "消费促进"), "一级能效产品按售价的{pc3}%补贴，单件最高{b}元", (15, 20, 15, 10)),
    ("ladder_water", "居民阶梯水价标准", ["swjt", "fgw"], ("公用事业", "供水"), "第一阶梯（年用水量180吨以内）每吨{w}元，第二阶梯每吨{w2}元，第三阶梯每吨{w3}元", (3, 3, 3, 4)),
    ("gasprice", "居民管道天然气价格", ["rqjt", "fgw"], ("公用事业", "燃气"), "第一档每立方米{g}元，第二档{g2}元，第三档{g3}元", (3, 3, 3, 3)),
    ("jifen", "积分落户分值标准", ["gaj", "rsj"], ("户籍证件", "户口迁移"), "年度落户分值线为{v}分，社保每满1年计{s}分，本科学历计{e}分", (100, 105, 110, 110)),
    ("gongzu", "公共租赁住房租金标准", ["zjj"], ("住房房产", "住房保障"), "市区公租房租金每月每平方米{r}元，低保家庭减免{pc4}%", (8, 8, 9, 9)),
    ("kaoshi", "中考时间安排和录取政策", ["jyj"], ("教育", "中考招生"), "中考于6月{day}日至{day2}日举行，总分{v}分，普高录取比例约{pc5}%", (750, 750, 760, 760)),
]

_SEASONAL = [
    ("heating", "供暖期时间", ["rljt"], ("公用事业", "供热"),
     lambda y: (f"{y}-11-15", f"{y + 1}-03-15"),
     lambda y: f"{y}—{y + 1}年度供暖期为{y}年11月15日至{y + 1}年3月15日，可视气温提前或延长供暖，试供暖提前3天开始。"),
    ("tax", "个人所得税年度汇算办理时间", ["swj"], ("税务服务", "个人所得税"),
     lambda y: (f"{y}-03-01", f"{y}-06-30"),
     lambda y: f"{y - 1}年度个人所得税综合所得汇算时间为{y}年3月1日至6月30日，3月1日至20日需在个税APP预约，3月21日起无需预约。"),
    ("fireworks", "春节期间烟花爆竹燃放规定", ["gaj", "yjj"], ("公共安全", "烟花爆竹"),
     lambda y: (f"{y}-01-20", f"{y}-02-28"),
     lambda y: f"{y}年春节期间，中心城区（临江、东湖、西城）全域禁止燃放烟花爆竹；其他区在除夕至正月初五的指定时段、指定区域可燃放，违规燃放处200-500元罚款。"),
    ("alarm", "防空警报试鸣安排", ["rfb"], ("人防", "人防工程"),
     lambda y: (f"{y}-09-01", f"{y}-09-30"),
     lambda y: f"{y}年9月的第三个星期六10:00-10:23全市试鸣防空警报，依次为预先警报、空袭警报、解除警报，试鸣期间请保持正常秩序。"),
    ("winter", "中小学寒假放假时间", ["jyj"], ("教育", "学校管理"),
     lambda y: (f"{y}-01-15", f"{y}-02-28"),
     lambda y: f"{y}年全市中小学寒假自1月{18 + y % 5}日开始，2月{20 + y % 6}日开学，各校可在规定范围内微调。"),
    ("summer", "中小学暑假放假时间", ["jyj"], ("教育", "学校管理"),
     lambda y: (f"{y}-07-01", f"{y}-08-31"),
     lambda y: f"{y}年全市中小学暑假自7月{3 + y % 5}日开始，8月31日报到、9月1日正式上课。"),
    ("coupon", "消费券发放活动", ["swjshang"], ("商贸消费", "消费促进"),
     lambda y: (f"{y}-04-01", f"{y}-06-30"),
     lambda y: f"{y}年二季度“惠享海州”消费券在{APP}APP分三批发放，满100减20、满300减60，每人每批限领一张，领券后7日内有效。"),
]
YEARS = (2024, 2025, 2026, 2027)


def _fmt(unit: str, v: int) -> str:
    return unit.format(v=v, u=v * 5, h=round(v / 100, 1) * 0 + v // 100 + 19, d=v + 20, p=v, a=v, b=v * 2,
                       c=v * 5, pc=round(v / 10, 1), w=v, w2=round(v * 1.5, 1), w3=v * 3, g=v, g2=round(v * 1.2, 2),
                       g3=round(v * 1.5, 2), s=v // 20 + 1, e=v // 5, r=v, pc4=80 + v, pc2=90, pc3=v, day=14 + v % 3,
                       day2=16 + v % 3, pc5=55 + v % 5)


def policy_entries():
    """Year-bound policies: 2024-2025 expired, 2026 current, 2027 announced (future)."""
    out = []
    for key, title, depts, cat, unit, values in _POLICIES:
        for y, v in zip(YEARS, values):
            sims = [f"{y}年{title[:-2] if title.endswith('标准') else title}是多少", f"{y}年{CITY_SHORT}{title}",
                    f"今年{title}有没有调整" if y == 2026 else f"{y}年度{title}调整了吗",
                    f"{y}年{title}什么时候执行"]
            out.append(_p(f"pol:{key}:{y}", f"{CITY}{y}年度{title}是多少？", sims,
                          [f"{y}年那个{title}现在定了多少", f"想了解{y}年的{title}"],
                          f"{CITY}{y}年度{title}：{_fmt(unit, v)}。执行期限：{y}年1月1日至{y}年12月31日。"
                          + ("（已公布，尚未实施）" if y > 2026 else "") + "政策解读可拨打12345咨询。",
                          depts, cat + ("年度政策",), "", [title, str(y)]) | {"valid_from": f"{y}-01-01",
                                                                               "valid_to": f"{y}-12-31"})
    for key, title, depts, cat, span, text in _SEASONAL:
        for y in YEARS:
            vf, vt = span(y)
            out.append(_p(f"pol:{key}:{y}", f"{CITY}{y}年{title}是怎样的？",
                          [f"{y}年{title}", f"{y}年{title[:4]}什么时候", f"{y}年的{title}定了吗"],
                          [f"{y}年那个{title[:4]}具体哪天"],
                          f"{text(y)}（发布单位：{CITY}相关部门，有效期{vf}至{vt}）",
                          depts, cat + ("时间安排",), "", [title, str(y)]) | {"valid_from": vf, "valid_to": vt})
    # District enrolment calendars: one per district and school year.
    for d in DISTRICTS:
        for y in YEARS:
            day = 10 + int(d.code) % 10
            out.append(_p(f"pol:enrol:{d.short}:{y}", f"{d.name}{y}年义务教育招生报名时间和流程是什么？",
                          [f"{d.short}{y}年小学报名时间", f"{y}年{d.name}小升初什么时候报名",
                           f"{d.name}{y}年一年级入学报名", f"{d.short}{y}年招生政策"],
                          [f"{y}年{d.short}孩子上一年级啥时候网上报名"],
                          f"{d.name}{y}年义务教育招生：网上报名时间为{y}年5月{day}日至5月{day + 7}日（{APP}APP“入学报名”），"
                          f"6月审核材料，7月上旬公布录取结果。户籍生按划片入学，随迁子女按积分排序安排学位。"
                          f"咨询电话：{d.phone(y)}。", ["jyj"], ("教育", "义务教育招生", "年度招生公告"), d.name,
                          ["义务教育招生", str(y), d.name]) | {"valid_from": f"{y}-04-01", "valid_to": f"{y}-09-30"})
    return out
