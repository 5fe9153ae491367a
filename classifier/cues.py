"""Request-type cue phrases: dense features that carry the label descriptions
(consult = wants information, complaint = wants wrongdoing rectified, fault =
something broken, wants it repaired) into a head trained on a few hundred rows.

Why: with ~400 labelled rows a character n-gram model never learns ``fault``
(cross-validated F1 0.0); ~20 cue counts that a linear model can weight from
a few dozen examples lift it to ~0.6 (docs/classifier.md). The lexicon is the
request-type definition written down, not mined from the evaluation data.
"""
from __future__ import annotations

import hashlib
import json
import re
from math import log1p

import numpy as np

GROUPS = {
    # something that can break, be cut off or be repaired
    "fault_obj": "停电|停水|断电|断水|没水|没电|无水|无电|水压|电压|跳闸|路灯|红绿灯|信号灯|电梯|井盖|"
                 "漏水|渗水|爆管|水管|管道|下水道|化粪池|堵塞|网络|信号|宽带|供水|供电|自来水|燃气|天然气|"
                 "暖气|供暖|线路|变压器|电线|电表|水表|设施",
    # it is broken / wants it repaired
    "fault_state": "坏|损坏|故障|不亮|破损|塌陷|坍塌|破裂|断裂|失灵|瘫痪|维修|修复|修好|修理|抢修|报修|"
                   "更换|停运|中断|不稳|掉层|关人|困人|堵|漏|老化|没有修|未修|无法使用|不能用|用不了",
    # a utility or service that is cut off: a fault by definition even with no
    # "broken" word (小区频繁停水, 信号差); also what the weak-label rule keys on
    "outage": "停水|停电|断水|断电|没水|没电|无水|无电|断网|没信号|无信号|信号差|信号弱|网络差|"
              "水压低|水压不足|电压低|电压不稳|跳闸",
    # wants information
    "consult": "咨询|请问|询问|想问|问一下|想了解|了解一下|是否|能否|可否|可不可以|能不能|是不是|可以吗|"
               "何时|什么时候|何日|怎么|如何|怎样|哪里|哪些|哪个|多少|吗|呢|\\?|政策|条件|规定|流程|手续|"
               "办理|申请|标准|报考|补贴|资格|解答|答复",
    # wrongdoing, nuisance, dissatisfaction; wants it rectified
    "complaint": "投诉|举报|反映|扰民|噪音|噪声|违规|违法|非法|乱|污染|拖欠|欠薪|强制|不作为|霸王|黑心|"
                 "恶意|强拆|克扣|无人管|不管|没人管|严惩|查处|整治|取缔|处理|监管|要求|希望|恳请|请求|严重|"
                 "影响|损害|侵害|欺骗|诈骗|虚假|私自|擅自|占用|违建|偷排|臭|脏",
    # proposals and thanks (deployments that keep an "other"/"suggestion" class)
    "other": "建议|提议|感谢|表扬|致谢|谢谢|点赞",
}
_PATS = {k: re.compile(v) for k, v in GROUPS.items()}
# A head stores the lexicon it was trained with; any edit to GROUPS changes the
# cue columns, so a head built with another lexicon must be retrained.
CUE_IDENTITY = "cues/v2-" + hashlib.sha1(
    json.dumps(GROUPS, ensure_ascii=False, sort_keys=False).encode("utf-8")).hexdigest()[:10]
_CONSULT_START = ("咨询", "请问", "关于咨询", "询问")
N_FEATURES = len(GROUPS) * 3 + 3


def cue_vector(title: str, body: str) -> list[float]:
    """Counts (log1p) of each cue group in the title and the body, presence in
    the title, and three interactions (broken thing + broken state)."""
    # math.log1p on ints: numpy's scalar path costs more than the regexes here.
    out: list[float] = []
    counts = {}
    for name, pat in _PATS.items():
        a, b = len(pat.findall(title)), len(pat.findall(body))
        counts[name] = (a, b)
        out += [log1p(a), log1p(b), float(a > 0)]
    fo, fs = counts["fault_obj"], counts["fault_state"]
    out += [float(fo[0] > 0 and fs[0] > 0), float(log1p(min(fo[0] + fo[1], fs[0] + fs[1]))),
            float(title.startswith(_CONSULT_START))]
    return out


def cue_matrix(pairs) -> np.ndarray:
    return np.asarray([cue_vector(t, b) for t, b in pairs], dtype=np.float32).reshape(-1, N_FEATURES)


def matched_cues(text: str) -> dict[str, list[str]]:
    """Which cue phrases occur in ``text`` (evidence for the type head)."""
    out = {}
    for name, pat in _PATS.items():
        found = sorted(set(pat.findall(text)))
        if found:
            out[name] = found
    return out
