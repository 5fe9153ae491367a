"""The fictional city the demo KB describes: 海州市, its districts, streets and communities.

Names are invented (no real addresses or phone numbers); they are assigned to
districts from fixed stem lists so the same seed always yields the same city.
"""
from __future__ import annotations

from dataclasses import dataclass, field

CITY = "海州市"
CITY_SHORT = "海州"
HOTLINE = "12345"
APP = "海州通"
PORTAL = "海州市一网通办平台"
MINIPROGRAM = "海州通微信小程序"

# (name, short, government seat road, area code suffix used for fake phone numbers)
_DISTRICTS = [
    ("临江区", "临江", "滨江大道", "81"),
    ("东湖区", "东湖", "东湖路", "82"),
    ("西城区", "西城", "西城大街", "83"),
    ("北塘区", "北塘", "塘北路", "84"),
    ("南湾区", "南湾", "南湾大道", "85"),
    ("高新区", "高新", "科技大道", "86"),
    ("海港区", "海港", "港城路", "87"),
    ("青山区", "青山", "青山路", "88"),
    ("金沙区", "金沙", "金沙江路", "89"),
    ("白鹭区", "白鹭", "白鹭洲路", "71"),
    ("云台区", "云台", "云台山路", "72"),
    ("望海区", "望海", "望海路", "73"),
]

_STREET_STEMS = (
    "滨河 中山 人民 解放 新华 建设 朝阳 胜利 和平 文化 光明 东风 长江 黄河 龙山 "
    "凤凰 桃源 柳湖 梅园 兰亭 竹林 松涛 石桥 清水 大港 渔港 盐场 码头 港湾 海滨 "
    "科创 软件园 智谷 学院 大学城 高铁 机场 新城 老城 古镇 北关 南关 东关 西关 "
    "金水 银湖 玉泉 铜山 铁路 钢城 纺织 化工 仓储 物流 花园 果园 茶园 稻香 "
    "白沙 黄沙 青石 红星 红旗 前进 先锋 团结 友谊 幸福 永安 长安 太平 康宁 "
    "望江 观澜 听涛 揽月 临湖 湖滨 湖东 湖西 城南 城北 城东 城西 江湾 江北 "
    "鹭岛 云山 云峰 天台 望海 海韵 海晏 双塔 三里 五里 七星 九龙 十里 百花 "
    "千禧 万福 金桥 银河 锦绣 翠屏 紫荆 丹桂 青松 翠竹 荷塘 芦苇 沙洲 盐田 "
    "锦江 秀水 春晖 秋实 晨光 晓月 杏林 橘洲 榕城 梧桐 槐荫 柏树 杨柳 芙蓉 "
    "牡丹 月湖 星湖 日升 东港 西港 南港 北港 新港 旧港 渡口 驿站 "
    "营盘 校场 钟楼 鼓楼 城隍 府前 县前 学前 河西 河东"
).split()

_COMMUNITY_STEMS = (
    "幸福里 阳光 和平里 安居 康乐 怡园 景苑 翠苑 枫林 桂花 樱花 海棠 紫薇 "
    "碧水 蓝湾 金色家园 银杏 丽景 华府 名门 新村 北苑 南苑 东苑 西苑 馨园 "
    "书香 文苑 雅居 龙湾 凤鸣 锦园 绿洲 春晓 晨曦 星光 明珠 宝龙 嘉禾 "
    "恒祥 瑞丰 永和 泰和 安澜 华庭 滨湖 鹭港 海景 渔村 盐仓 船坞 灯塔"
).split()

_ROAD_SUFFIX = ("路", "街", "大道", "巷", "西路", "东路", "南路", "北路")


@dataclass(frozen=True)
class District:
    name: str
    short: str
    road: str
    code: str
    streets: tuple = field(default=())

    def phone(self, n: int) -> str:
        """A fake but well-formed local number (fictional area code 0599)."""
        return f"0599-{self.code}{(n * 7919) % 1000000:06d}"

    @property
    def centre(self) -> str:
        return f"{self.name}政务服务中心"

    @property
    def centre_address(self) -> str:
        return f"{self.name}{self.road}{(int(self.code) * 3) % 200 + 1}号"


@dataclass(frozen=True)
class Street:
    name: str          # 滨河街道
    district: str      # 临江区
    road: str          # 滨河路
    communities: tuple


def _build_districts(streets_per_district: int = 12, communities_per_street: int = 6):
    out = []
    stem_i = 0
    comm_i = 0
    for d_i, (name, short, road, code) in enumerate(_DISTRICTS):
        streets = []
        for s in range(streets_per_district):
            stem = _STREET_STEMS[stem_i % len(_STREET_STEMS)]
            stem_i += 1
            # Rural districts have towns (镇), central ones streets (街道).
            kind = "镇" if (d_i >= 9 and s % 3 == 2) else "街道"
            comms = []
            for c in range(communities_per_street):
                cstem = _COMMUNITY_STEMS[comm_i % len(_COMMUNITY_STEMS)]
                # Round numbers keep community names unique city-wide.
                rnd = comm_i // len(_COMMUNITY_STEMS)
                comm_i += 1
                suffix = "村" if kind == "镇" and c % 2 else "社区"
                comms.append(f"{cstem}{suffix}" if rnd == 0 else f"{stem}{cstem}{suffix}")
            # Guard against duplicates inside one street (not across the city).
            comms = tuple(dict.fromkeys(comms))
            streets.append(Street(f"{stem}{kind}", name, stem + _ROAD_SUFFIX[s % len(_ROAD_SUFFIX)], comms))
        out.append(District(name, short, road, code, tuple(streets)))
    return tuple(out)


DISTRICTS = _build_districts()
DISTRICT_NAMES = tuple(d.name for d in DISTRICTS)


def all_streets():
    return [s for d in DISTRICTS for s in d.streets]
