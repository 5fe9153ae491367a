"""Place-bound entries: street offices, communities, hospitals, schools and parks.

Each builder returns proto-entries (plain dicts) that generate.py turns into KB rows.
"""
from __future__ import annotations

from kb.demo.city import APP, CITY, DISTRICTS, HOTLINE
from kb.demo.services_text import HOURS

# (suffix, dept key, what it does)
FACILITIES = [
    ("便民服务中心", "zsj", "居住登记、社保医保参保登记、老年人优待证、生育登记、低保申请受理等"),
    ("社区卫生服务中心", "wjw", "基本医疗、预防接种、慢性病管理、家庭医生签约、老年人免费体检"),
    ("派出所", "gaj", "户籍办理、身份证受理、居住登记和居住证、治安案件受理"),
    ("司法所", "sfj", "人民调解、法律咨询、法律援助申请受理、社区矫正"),
    ("劳动保障所", "rsj", "就业登记、失业登记、就业困难人员认定、灵活就业社保补贴、劳动纠纷调解"),
    ("退役军人服务站", "tyjr", "退役军人信息采集、优待证申领受理、优抚对象走访帮扶、就业创业服务"),
    ("城管执法中队", "cgj", "市容环境、占道经营、违法建设、餐饮油烟、户外广告等城市管理执法"),
    ("环卫所", "cgj", "道路清扫保洁、生活垃圾清运、大件垃圾预约清运、公厕管理"),
    ("市场监管所", "scjg", "个体工商户登记、食品经营监管、消费投诉调解、价格监督"),
    ("综合文化站", "wlj", "图书借阅、文体活动、公益培训、非遗展示"),
    ("养老服务中心", "mzj", "日间照料、助餐助浴、居家养老上门服务、老年人能力评估受理"),
    ("残疾人之家", "clj", "残疾人日间照料、康复训练、辅助性就业、残疾人证申请受理"),
    ("物业管理办公室", "zjj", "物业服务监督、业委会组建指导、物业纠纷调处、老旧小区改造"),
    ("医保服务站", "ybj", "医保参保登记、异地就医备案、医保报销材料受理、医保电子凭证激活"),
    ("应急避难场所", "yjj", "地震、台风等突发事件时的临时避难安置，配有应急物资、饮用水和应急厕所"),
    ("农贸市场", "scjg", "蔬菜、肉禽、水产等农产品零售，市场监管所驻场检测，设有公平秤和投诉点"),
]


def _p(key, std, sims, qry, answer, depts, cat, region, tags=()):
    return {"key": key, "question": std, "sims": sims, "qry": qry, "answer": answer,
            "depts": list(depts), "category": list(cat), "region": region, "tags": list(tags)}


def street_entries():
    out = []
    for d in DISTRICTS:
        for si, st in enumerate(d.streets):
            stem = st.name[:-2] if st.name.endswith("街道") else st.name[:-1]
            for fi, (suffix, dk, does) in enumerate(FACILITIES):
                fname = f"{stem}{suffix}" if suffix == "派出所" else f"{st.name}{suffix}"
                k = si * 31 + fi * 7 + int(d.code)
                addr = f"{d.name}{st.road}{(k * 17) % 260 + 1}号"
                hours = HOURS[k % len(HOURS)]
                phone = d.phone(k * 3 + 11)
                base = f"st:{d.short}:{si}:{fi}"
                cat = ("便民服务", "街镇服务机构")
                tags = [st.name, suffix, d.name]
                out.append(_p(
                    base + ":addr", f"{d.name}{fname}在哪里？办公时间是什么？",
                    [f"{fname}地址", f"{st.name}的{suffix}在什么位置", f"{fname}几点上班",
                     f"去{fname}怎么走", f"{d.short}{fname}位置和开放时间"],
                    [f"{st.name[:2]}那边的{suffix}在哪个路上", f"{fname}今天开门没有"],
                    f"{fname}地址：{addr}。\n办公时间：{hours}。\n可乘坐公交到“{st.road}站”下车步行前往，"
                    f"部分业务可通过{APP}APP网上办理。", [dk], cat + ("地址和办公时间",), d.name, tags))
                out.append(_p(
                    base + ":phone", f"{d.name}{fname}的联系电话是多少？",
                    [f"{fname}电话", f"{fname}怎么联系", f"{st.name}{suffix}电话号码", f"打{fname}什么电话"],
                    [f"找{fname}的人打哪个号码", f"{st.name[:2]}{suffix}的电话有吗"],
                    f"{fname}联系电话：{phone}（工作日办公时间接听）。节假日及非工作时间请拨打{HOTLINE}热线。",
                    [dk], cat + ("联系电话",), d.name, tags))
                out.append(_p(
                    base + ":scope", f"{d.name}{fname}可以办理哪些业务？",
                    [f"{fname}能办什么", f"{fname}管哪些事", f"{fname}的服务项目",
                     f"{st.name}{suffix}办理范围"],
                    [f"{fname}那里能不能帮我办事", f"{st.name[:2]}{suffix}都负责些啥"],
                    f"{fname}主要负责：{does}。服务对象为{st.name}辖区居民和单位，地址：{addr}。",
                    [dk], cat + ("业务范围",), d.name, tags))
    return out


def community_entries():
    out = []
    for d in DISTRICTS:
        for si, st in enumerate(d.streets):
            for ci, c in enumerate(st.communities):
                k = si * 13 + ci * 5 + int(d.code)
                full = f"{d.name}{st.name}{c}"
                phone = d.phone(k * 5 + 3)
                road = f"{st.road}{(k * 23) % 300 + 1}号"
                base = f"cm:{d.short}:{si}:{ci}"
                tags = [c, st.name, d.name]
                out.append(_p(
                    base + ":office", f"{full}居委会在哪里？联系电话是多少？",
                    [f"{c}居委会地址", f"{c}居委会电话", f"{st.name}{c}社区办公室在哪", f"{c}村委会怎么联系"
                     if c.endswith("村") else f"{c}居委会几点上班"],
                    [f"{c}那个居委会在哪栋楼", f"找{c}的社区干部打什么电话"],
                    f"{c}{'村委会' if c.endswith('村') else '居委会'}地址：{d.name}{road}，联系电话：{phone}。"
                    f"办公时间：工作日 8:30-12:00、14:00-17:30，周末安排值班。",
                    ["mzj"], ("便民服务", "社区服务", "居委会"), d.name, tags))
                t1, t2 = ("7:00-9:00", "18:00-20:00") if k % 2 else ("6:30-8:30", "17:30-19:30")
                out.append(_p(
                    base + ":waste", f"{full}垃圾分类投放点在哪里？定时投放时间是几点？",
                    [f"{c}垃圾几点能扔", f"{c}垃圾分类投放时间", f"{c}垃圾房在哪", f"{c}厨余垃圾什么时候投放"],
                    [f"{c}晚上几点以后不能倒垃圾了", f"我们{c}的垃圾桶撤到哪去了"],
                    f"{c}实行定时定点分类投放：早上{t1}、晚上{t2}，投放点设在小区{(k % 4) + 1}号门旁和中心广场东侧。"
                    "其他时段可投放至24小时误时投放点。厨余垃圾请破袋投放，大件垃圾和装修垃圾请预约清运。",
                    ["cgj"], ("城市管理", "垃圾分类", "投放点和时间"), d.name, tags))
                out.append(_p(
                    base + ":police", f"{full}的社区民警是谁？怎么联系？",
                    [f"{c}片警电话", f"{c}社区民警联系方式", f"{c}警务室在哪"],
                    [f"{c}这一片归哪个警察管", f"{c}有事想找片儿警"],
                    f"{c}警务室设在居委会一楼，社区民警工作日驻点办公，警务室电话：{d.phone(k * 7 + 1)}。"
                    "紧急情况请直接拨打110。居住登记、居住证申请也可在社区警务室办理。",
                    ["gaj"], ("公共安全", "社区警务", "社区民警"), d.name, tags))
                out.append(_p(
                    base + ":property", f"{full}的物业公司是哪家？物业电话多少？",
                    [f"{c}物业电话", f"{c}物业是谁家", f"{c}物业服务中心在哪", f"{c}报修找物业打什么电话"],
                    [f"{c}那个物业管事的电话给一个", f"{c}物业办公室在哪栋"],
                    f"{c}由{st.name[:2]}{'安居永泰华润嘉和'[k % 4 * 2:k % 4 * 2 + 2]}物业服务有限公司提供物业服务，"
                    f"物业服务中心位于小区{(k % 3) + 1}号楼一楼，24小时报修电话：{d.phone(k * 11 + 7)}。"
                    f"对物业服务不满意的，可向{st.name}物业管理办公室或12345反映。",
                    ["zjj"], ("住房房产", "物业管理", "物业信息"), d.name, tags))
                out.append(_p(
                    base + ":meal", f"{full}附近的老年助餐点在哪里？",
                    [f"{c}老年食堂", f"{c}老人吃饭的地方", f"{c}助餐点", f"{c}社区食堂几点开饭"],
                    [f"{c}有没有给老人送饭的", f"我家老人在{c}能不能在社区吃饭"],
                    f"{c}老年助餐点设在{st.road}{(k * 31) % 200 + 1}号社区食堂，供餐时间：午餐 11:00-12:30、"
                    "晚餐 17:00-18:00。60周岁以上老人凭身份证或老年卡就餐享受补贴，80周岁以上、失能老人可预约送餐上门。",
                    ["mzj"], ("养老服务", "老年助餐", "助餐点"), d.name, tags))
    return out


def _hospital_names(d):
    return [f"{d.short}区人民医院", f"{d.short}区中医院", f"{d.short}区妇幼保健院",
            f"{d.streets[0].name[:2]}医院", f"{d.short}区第二人民医院"]


def institution_entries():
    out = []
    for d in DISTRICTS:
        for hi, h in enumerate(_hospital_names(d)):
            k = hi * 17 + int(d.code)
            addr = f"{d.name}{d.streets[(hi * 3) % len(d.streets)].road}{(k * 19) % 400 + 1}号"
            base = f"hp:{d.short}:{hi}"
            tags = [h, d.name]
            out.append(_p(base + ":addr", f"{h}的地址和门诊时间是什么？",
                          [f"{h}在哪", f"{h}几点开始挂号", f"{h}门诊时间", f"去{h}怎么走"],
                          [f"{h}早上几点能看病", f"{h}具体在哪条路上"],
                          f"{h}地址：{addr}。门诊时间：周一至周日 8:00-12:00、14:00-17:30，急诊24小时开放。",
                          ["wjw"], ("医疗卫生", "医疗机构", "地址和门诊时间"), d.name, tags))
            out.append(_p(base + ":reg", f"{h}怎么预约挂号？",
                          [f"{h}挂号方式", f"{h}网上挂号", f"{h}能不能预约", f"{h}专家号怎么挂"],
                          [f"{h}号太难挂了有什么办法", f"{h}手机上能挂号吗"],
                          f"{h}支持{APP}APP“健康”频道、医院公众号、电话及现场自助机预约挂号，可预约7天内号源；"
                          "65岁以上老人可到人工窗口或使用绿色通道。", ["wjw"],
                          ("医疗卫生", "医疗机构", "预约挂号"), d.name, tags))
            out.append(_p(base + ":insurance", f"{h}可以直接刷医保结算吗？",
                          [f"{h}能用医保吗", f"{h}异地医保能不能直接结算", f"{h}是不是医保定点"],
                          [f"在{h}看病医保卡能刷不", f"外地医保到{h}能报销吗"],
                          f"{h}是{CITY}医保定点医疗机构，支持医保电子凭证和社保卡直接结算；已办理异地就医备案的外地参保人员"
                          "可直接结算住院和门诊费用。", ["ybj", "wjw"], ("医疗保障", "定点机构", "结算"), d.name, tags))
        schools = [f"{d.short}区实验小学"] + [f"{st.name[:2]}小学" for st in d.streets[:8]] + \
                  [f"{d.short}区第一中学"] + [f"{st.name[:2]}中学" for st in d.streets[8:12]]
        for sci, sc in enumerate(schools):
            st = d.streets[sci % len(d.streets)]
            base = f"sc:{d.short}:{sci}"
            tags = [sc, d.name]
            comms = "、".join(st.communities[:4])
            out.append(_p(base + ":zone", f"{d.name}{sc}的招生划片范围是哪里？",
                          [f"{sc}学区范围", f"{sc}对口哪些小区", f"住{st.communities[0]}能上{sc}吗",
                           f"{sc}划片"],
                          [f"{sc}的学区包括我们小区吗", f"哪些小区能读{sc}"],
                          f"{sc}招生范围（以当年区教育局公布为准）：{st.name}{comms}等。"
                          "学区内适龄儿童凭户籍和房产（或租赁备案）报名，学位不足时统筹安排。",
                          ["jyj"], ("教育", "义务教育招生", "学区划片"), d.name, tags))
            out.append(_p(base + ":contact", f"{d.name}{sc}的地址和招生咨询电话是多少？",
                          [f"{sc}在哪", f"{sc}电话", f"{sc}招生办电话"],
                          [f"{sc}怎么联系学校", f"{sc}具体位置"],
                          f"{sc}地址：{d.name}{st.road}{(sci * 29 + 5) % 300 + 1}号，招生咨询电话：{d.phone(sci * 41 + 9)}。",
                          ["jyj"], ("教育", "学校信息", "联系方式"), d.name, tags))
        parks = [f"{st.name[:2]}公园" for st in d.streets[2:6]]
        for pi, pk in enumerate(parks):
            base = f"pk:{d.short}:{pi}"
            out.append(_p(base + ":open", f"{d.name}{pk}开放时间和停车情况怎么样？",
                          [f"{pk}几点开门", f"{pk}能停车吗", f"{pk}开放时间", f"{pk}要门票吗"],
                          [f"{pk}晚上几点关门", f"去{pk}车停哪"],
                          f"{pk}免费开放，开放时间 5:30-22:00（冬季 6:00-21:00）。公园东门设有公共停车场，"
                          "首小时免费，之后每小时2元。禁止在园内燃放烟花、放风筝注意避开高压线。",
                          ["ylj"], ("文化旅游", "公园景区", "开放时间"), d.name, [pk, d.name]))
    return out
