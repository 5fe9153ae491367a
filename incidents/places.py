"""Place mentions in a report: 幸福小区3栋, 人民路与解放路交叉口, 市第一人民医院.

A mention is a *core name* followed by a *place suffix* (小区, 路, 医院 ...). The
suffix is found with a regular expression; where the name starts is decided by
the project's jieba segmentation (``index.text.get_tokenizer``): the core is the
word(s) right before the suffix, stopping at function words, verbs of calling
(反映, 住在) and administrative units (朝阳区, 和平街道), which name the area,
not the place. Variants reduce to one comparable key, ``kind:core``:

    幸福小区3栋 / 幸福小区东门 / 幸福里小区 / 幸福家园  ->  res:幸福

Building parts (3栋, 2单元, 东门, 二期) are dropped: callers of one incident
name different buildings of one estate.
"""
from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

# suffix -> kind. Longest suffixes first in the regex, so 大道 wins over 道 and
# 地铁站 over 站. Kinds group suffixes callers use for the same place
# (金海花园 / 金海小区 are one estate).
SUFFIX_KIND = {
    "小区": "res", "花园": "res", "家园": "res", "新村": "res", "社区": "res", "公寓": "res",
    "大院": "res", "苑": "res", "村": "res", "府": "res", "名邸": "res", "雅居": "res", "园": "res", "华庭": "res",
    "庭": "res", "湾": "res",
    "路口": "road", "交叉口": "junction", "大道": "road", "大街": "road", "路": "road",
    "街": "road", "巷": "road", "胡同": "road", "立交桥": "bridge", "立交": "bridge",
    "大桥": "bridge", "桥": "bridge", "学校": "school", "中学": "school", "小学": "school",
    "幼儿园": "school", "大学": "school", "学院": "school", "医院": "hospital",
    "卫生院": "hospital", "诊所": "hospital", "公园": "park", "广场": "plaza",
    "大厦": "building", "写字楼": "building", "商场": "mall", "购物中心": "mall",
    "超市": "mall", "市场": "market", "菜市场": "market", "农贸市场": "market",
    "车站": "station", "地铁站": "station", "火车站": "station", "汽车站": "station",
    "公交站": "station", "站": "station", "工地": "site", "工业园": "site", "产业园": "site",
    "厂": "org", "工厂": "org", "公司": "org", "有限公司": "org", "集团": "org",
}
# What a company does, which callers vary or leave out (宏达电子厂 / 宏达电子科技
#有限公司 / 宏达厂 -> org:宏达).
_TRADE = re.compile(r"(?:电子|科技|服装|制衣|衣服|饲料|化工|石材|加工|食品|建材|实业|集团|有限|"
                    r"机械|制造|纺织|印染|塑料|家具|物流|建筑|工程|贸易|发展)+$")
_SUFFIX_RE = re.compile("|".join(sorted(map(re.escape, SUFFIX_KIND), key=len, reverse=True)))
# Parts of a place that callers vary: 3栋, 12号楼, 2单元, 东门, 北区, 二期, 1号.
_PART_RE = re.compile(
    r"[0-9一二三四五六七八九十百零两]+\s*(?:号楼|栋|幢|单元|号院|期|号|楼|层|室|区)"
    r"|[东南西北][门区侧面边口]|[东南西北]{1,2}角|(?:正|后|侧|大|小)门|门口")
# Trailing words that vary between mentions of one place (幸福里小区, 幸福家园小区).
_CORE_TAILS = ("里", "新", "一", "二", "三", "东", "西", "南", "北", "中", "老")
# Tokens the core never crosses: the caller's words, not the place's name.
_STOP = frozenset("""
我 我们 我家 家 家里 住 住在 在 位于 于 的 是 有 到 从 去 往 对 向 这 那 这个 那个 个 了 和 与 及 跟 同
反映 投诉 举报 咨询 求助 报修 来电 市民 居民 业主 师傅 附近 旁边 对面 门口 周边 一带 里面 内 外 整片 片区 住户 小区内
前 后 上 下 边 楼下 楼上 我市 本市 市 区 县 镇 乡 该 其 就 都 也 还 又 已经 一直 今天 昨天 现在 目前
发现 看到 说 讲 问 请 帮忙 麻烦 希望 要求 需要 没有 没 不 很 非常 严重 出现 导致 所在 所在地 整个 多个
整条 那段 这段 一条 那条 这条 整片 外面 因为 就是 只能 我住 好几个 问下 问一下 想问 那边 这边 那片
靠近 临近 靠 每天 每天晚上 晚上 早上 白天 半夜 一个 那家 这家 一家 做 开 干 搞 走
""".split())
_ADMIN = re.compile(r".*(?:省|(?<!城|都|超)市|区|县|镇|乡|街道|办事处)$")
_LOCATIVE = frozenset("上 口 边 旁 段 中 里 内 外 头 两侧 附近 那边 这边".split())
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
_MAX_CORE = 6


@dataclass(frozen=True)
class Place:
    kind: str      # res, road, school ... (SUFFIX_KIND's values)
    core: str      # the comparable name: 幸福
    text: str      # the mention as written, parts included: 幸福里小区3栋
    start: int
    end: int

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.core}"


def _token_spans(tokens: list[str], text: str) -> list[tuple[int, int, str]]:
    spans, pos = [], 0
    for tok in tokens:
        i = text.find(tok, pos)
        if i < 0:
            continue
        spans.append((i, i + len(tok), tok))
        pos = i + len(tok)
    return spans


def _stopwords() -> frozenset:
    global _ALL_STOP
    if _ALL_STOP is None:
        from index.text import get_tokenizer

        _ALL_STOP = _STOP | get_tokenizer().stopwords
    return _ALL_STOP


_ALL_STOP = None


_CLAUSE_END = re.compile(r"[,.;!?，。；！？、\s]")


def _clause_spans(text: str) -> list[tuple[int, int, str]]:
    """Token spans of only the clauses that hold a place suffix: segmenting
    them, not the whole report, is most of the speed of `hotline incidents`."""
    spans, done = [], -1
    ends = None
    for m in _SUFFIX_RE.finditer(text):
        if m.start() < done:
            continue
        if ends is None:   # clause boundaries, found once per text
            ends = [e.start() for e in _CLAUSE_END.finditer(text)]
        k = bisect.bisect_left(ends, m.start())
        a = ends[k - 1] + 1 if k else 0
        k = bisect.bisect_left(ends, m.end(), k)
        b = ends[k] if k < len(ends) else len(text)
        spans += [(a + s, a + e, t) for s, e, t in _clause_tokens(text[a:b])]
        done = b
    return spans


@functools.lru_cache(maxsize=16384)
def _clause_tokens(clause: str) -> tuple[tuple[int, int, str], ...]:
    """A clause's token spans. Cached: callers repeat clauses (幸福小区停水了)
    across reports, and jieba is most of the cost of preparing one."""
    from index.text import get_tokenizer

    return tuple(_token_spans(get_tokenizer().cut(clause), clause))


def _core_before(text: str, spans, start: int, stop=_STOP) -> tuple[str, int]:
    """The name that ends at ``start`` and where it begins: inside the token that
    holds the suffix (人民医院 -> 人民), then whole words leftwards while they are
    name-like (CJK, not a stop word, not an area) and the core stays short."""
    core, begin, words = "", start, 0
    for s, e, tok in reversed(spans):
        if s >= start:
            continue
        piece = text[s:min(e, start)]
        if piece in stop or not _CJK.match(piece) or (len(piece) > 1 and _ADMIN.match(piece)):
            break
        if len(core) + len(piece) > _MAX_CORE:
            break
        core, begin = piece + core, s
        # At most two words (阳光/城市 广场, 幸福/里 小区): further left it is
        # usually the caller's sentence, not the name.
        words += 1
        if words == 2:
            break
    return core, begin


def normalize_core(core: str, kind: str = "") -> str:
    core = _PART_RE.sub("", core)
    if kind == "org" and len(core) > 2:
        core = _TRADE.sub("", core) or core
    while len(core) > 2 and core.endswith(_CORE_TAILS):
        core = core[:-1]
    return core


def extract_places(text: str, tokens: list[str] | None = None) -> list[Place]:
    """Place mentions in ``text`` (normalised text: index.text.normalize), in order.
    ``tokens`` is the text's jieba segmentation; when not given, only the clauses
    holding a suffix are segmented."""
    if tokens is None:
        spans = _clause_spans(text)
    else:
        spans = _token_spans(tokens, text)
    stops = _stopwords()
    out: list[Place] = []
    taken_until = 0
    for m in _SUFFIX_RE.finditer(text):
        suffix, start, end = m.group(), m.start(), m.end()
        kind = SUFFIX_KIND[suffix]
        if kind == "junction":
            continue  # 人民路与解放路交叉口: the roads are the places
        holder = next((sp for sp in spans if sp[0] <= start < sp[1]), None)
        if holder and holder[1] > end and text[end:holder[1]] not in _LOCATIVE:
            continue  # the suffix starts a longer word: 路面, 路灯, 广场舞, 村民 (路上 is fine)
        if holder and holder[0] < start and start - holder[0] < 2 and len(suffix) == 1:
            continue  # one character and a suffix in one word: 走路, 马路, 一路
        core, begin = _core_before(text, spans, start, stops)
        if not core and len(suffix) >= 3:
            core = suffix  # a landmark by itself: 火车站, 农贸市场
        if begin < taken_until:
            core = text[taken_until:start]
            begin = taken_until
        # 站/村/街/路 alone inside an ordinary word (车站 counted above, 农村, 街道)
        if not core or (len(suffix) == 1 and len(core) < 2 and kind != "road"):
            continue
        if text[end:end + 1] == "道" and suffix == "街":
            continue  # 街道 is an administrative unit, not a street
        part = _PART_RE.match(text, end)
        stop = part.end() if part else end
        norm = normalize_core(core, kind)
        if norm:
            out.append(Place(kind, norm, text[begin:stop], begin, stop))
        taken_until = stop
    return out


def place_similarity(a: Place, b: Place) -> float:
    """1 for one key; containment or the same first two characters
    (人民 / 第一人民, 恒远服装 / 恒远制衣) 0.8; else the Dice overlap of
    the cores' character bigrams, halved across kinds (幸福小区 vs 幸福路)."""
    if a.key == b.key:
        return 1.0
    ca, cb = a.core, b.core
    if len(ca) >= 2 and len(cb) >= 2 and (ca in cb or cb in ca or ca[:2] == cb[:2]):
        sim = 0.8
    else:
        ga = {ca[i:i + 2] for i in range(len(ca) - 1)} or {ca}
        gb = {cb[i:i + 2] for i in range(len(cb) - 1)} or {cb}
        sim = 2 * len(ga & gb) / (len(ga) + len(gb))
    return sim if a.kind == b.kind else sim * 0.5
