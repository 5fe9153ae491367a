"""Answers for service items: one function per aspect, built from the catalogue fields."""
from __future__ import annotations

from kb.demo.city import APP, CITY, CITY_SHORT, HOTLINE, PORTAL, District
from kb.demo.catalog import Service
from kb.demo.departments import dept

_IN_PERSON = ("身份证", "护照", "通行证", "结婚", "离婚", "驾驶", "认证", "健康证", "残疾人证办理",
              "居住证申领", "落户", "指纹")
HOURS = [
    "周一至周五 9:00-12:00，13:30-17:00（法定节假日除外）",
    "周一至周五 8:30-12:00，14:00-17:30；周六上午 9:00-12:00 延时服务",
    "周一至周五 9:00-17:00 中午不休息；周六 9:00-16:00",
    "工作日 8:30-17:00，每周三延长至 19:00",
    "周一至周五 9:00-12:00，13:00-17:00；周六、周日 9:00-15:00 部分事项预约办理",
]


def dept_names(s) -> str:
    return "、".join(dept(k).name for k in s.depts)


def steps(s: Service) -> list[str]:
    if s.steps:
        return list(s.steps)
    out = []
    if s.online:
        out.append(f"登录{APP}APP或{PORTAL}，搜索“{s.name}”在线提交申请；也可携带材料到{s.place}现场办理")
    else:
        out.append(f"携带材料到{s.place}现场提交申请（可通过{APP}提前预约取号）")
    out.append("工作人员受理并审核材料，材料不全的一次性告知需补正的内容")
    out.append(f"审核通过后办结，办理时限：{s.days}")
    out.append("办理结果通过短信通知，证件可选择窗口领取或免费邮寄")
    return out


def _numbered(items) -> str:
    return "\n".join(f"{i}. {x}" for i, x in enumerate(items, 1))


def answer(s: Service, aspect: str) -> str:
    n = s.name
    if aspect == "procedure":
        return (f"{n}办理流程：\n{_numbered(steps(s))}\n"
                f"责任部门：{dept_names(s)}。如有疑问可拨打{HOTLINE}热线咨询。")
    if aspect == "materials":
        return (f"办理{n}需提交以下材料：\n{_numbered(s.materials)}\n"
                "说明：以上材料需提供原件，复印件由窗口免费复印；委托他人办理的，另需提供授权委托书和受托人身份证原件。"
                "已有电子证照的可在窗口直接调用，无需再提交纸质件。")
    if aspect == "fee":
        extra = "可使用微信、支付宝、银联卡或现金缴纳，缴费后提供电子票据。" if "元" in s.fee else ""
        return f"{n}：{s.fee}。{extra}如遇收费与公示标准不一致，可拨打{HOTLINE}反映。"
    if aspect == "duration":
        return (f"{n}的承诺办理时限为：{s.days}。时限从材料齐全受理之日起计算，"
                "不含公示、鉴定、邮寄等环节所需时间；超过时限未办结的，可拨打12345督办。")
    if aspect == "conditions":
        cond = s.conditions or f"在{CITY}办理相关业务且材料齐全的申请人"
        return f"{n}的申请条件：{cond}。具体以受理窗口审核结果为准，特殊情况可先电话咨询{dept(s.depts[0]).short}。"
    if aspect == "online":
        if s.online:
            return (f"可以。{n}已实现网上办理：登录{APP}APP或{PORTAL}，实名认证后搜索“{n}”，"
                    f"按提示填写信息并上传材料，提交后可在“我的办件”中查看进度。网上申请与窗口办理时限相同（{s.days}）。")
        return (f"{n}目前暂不支持全程网上办理，需本人到{s.place}现场办理。"
                f"可先通过{APP}APP“预约办事”预约，减少现场排队时间。")
    if aspect == "place":
        return (f"{n}的办理地点：{s.place}。" + ("各区均设有窗口，可就近办理、全市通办。" if s.district else "") +
                f"具体地址和办公时间可在{APP}APP“办事大厅”查询，或拨打{HOTLINE}咨询。")
    if aspect == "proxy":
        if any(k in n for k in _IN_PERSON):
            return (f"{n}原则上须申请人本人到场（需现场核验身份、采集照片或指纹）。"
                    "行动不便的老年人、残疾人可申请上门服务或帮办代办，请提前拨打12345预约。")
        return (f"{n}可以委托他人代为办理。受托人需携带：授权委托书（申请人签字）、申请人和受托人身份证原件，"
                "以及本事项规定的全部材料。")
    if aspect == "progress":
        return (f"{n}的办理进度可通过以下方式查询：1. {APP}APP“我的办件”；2. {PORTAL}“办件查询”，输入受理编号或身份证号；"
                f"3. 拨打{HOTLINE}热线转接查询。审核结果会以短信方式通知申请人。")
    if aspect == "nonlocal":
        c = s.conditions
        if "居住证" in c:
            return f"可以。持有{CITY}居住证的非本市户籍人员可以办理{n}。{c}。"
        if "本市户籍" in c:
            return (f"{n}主要面向{CITY_SHORT}本市户籍居民。非本市户籍人员请向户籍所在地相关部门咨询办理，"
                    f"或先办理{CITY}居住证后咨询是否符合条件。")
        return f"可以。{n}不限户籍，符合条件的在{CITY}工作、生活的人员均可申请。{c + '。' if c else ''}"
    if aspect == "notice":
        mats = "、".join(s.materials[:2])
        return (f"办理{n}的注意事项：1. 请确认{mats}等材料在有效期内、信息一致；2. {s.fee}，"
                "不要相信任何收取“加急费”“代办费”的非官方中介；3. " +
                ("网上办理请认准海州通APP和一网通办平台，谨防仿冒网站；" if s.online else "需现场办理，建议提前预约；")
                + f"4. 办理时限：{s.days}。")
    if aspect == "rejected":
        return (f"{n}申请被退回的，请先在{APP}APP“我的办件”或退件短信中查看退回原因，按要求补正材料后重新提交，"
                f"无需重新排队。对审核结果有异议的，可向{dept(s.depts[0]).short}申请复核，或拨打{HOTLINE}反映，"
                "受理部门应一次性告知全部补正内容。")
    raise ValueError(f"unknown service aspect {aspect!r}")


def district_place(s: Service, d: District, k: int) -> tuple[str, str]:
    """(where, address) of the service window in a district."""
    streets = d.streets
    place = s.place
    if place.startswith("区"):
        where = d.name + place[1:]
        addr = d.centre_address if "政务服务中心" in place else f"{d.name}{d.road}{(k * 13) % 300 + 1}号"
    elif any(x in place for x in ("街道", "社区", "派出所", "镇")):
        where = f"{d.name}各{place}（如{streets[k % len(streets)].name}、{streets[(k + 5) % len(streets)].name}）"
        addr = f"{streets[k % len(streets)].name}便民服务中心位于{streets[k % len(streets)].road}{(k * 7) % 150 + 1}号"
    else:
        where = f"{d.name}{place}"
        addr = f"{d.name}{streets[k % len(streets)].road}{(k * 11) % 200 + 1}号"
    return where, addr


def district_answer(s: Service, d: District, aspect: str, k: int) -> str:
    where, addr = district_place(s, d, k)
    hours = HOURS[(k + int(d.code)) % len(HOURS)]
    if aspect == "d_place":
        return (f"{d.name}办理{s.name}：{where}，地址：{addr}。\n办公时间：{hours}。\n"
                f"本事项全市通办，也可到其他区窗口或通过{APP}APP网上办理。")
    if aspect == "d_phone":
        return (f"{d.name}{s.name}咨询电话：{d.phone(k)}（工作时间接听）。"
                f"非工作时间或电话占线时，可拨打{HOTLINE}热线，由话务员转接或记录后回电。")
    if aspect == "d_booking":
        weekend = "周六上午提供延时服务，可办理本事项" if "周六" in hours else "周末不对外办公，可通过网上渠道办理"
        need = "建议提前预约，现场也可取号" if (k + int(d.code)) % 3 else "需提前1个工作日预约"
        return (f"在{d.name}办理{s.name}{need}。预约方式：{APP}APP“预约办事”选择{d.name}及办理网点，"
                f"或拨打{d.phone(k + 1)}电话预约。{weekend}。办公时间：{hours}。")
    raise ValueError(f"unknown district aspect {aspect!r}")
