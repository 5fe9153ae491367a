"""Rewrite a written question the way callers and agents actually phrase it.

Used to make training pairs for the encoder: (rewrite → original question). The
styles follow what the hotline's search receives: colloquial framing, an agent
typing a caller's run-on words, bare keywords, and pinyin-input typos.
Traditional characters are not a style here: the normaliser maps them to
simplified before any encoder sees the text.

Deterministic for a given ``random.Random``.
"""
from __future__ import annotations

import random
import re

_OPENERS = ("我想问一下", "请问一下", "想咨询下", "问一下啊", "你好，我想了解下", "麻烦问下", "那个我想问问")
_CLOSERS = ("", "", "？", "呢", "啊", "，谢谢", "，能告诉我吗", "，怎么弄啊")
_FILLERS = ("那个", "就是", "嗯", "就是说", "然后", "这个")
_PHONE_OPENERS = ("喂你好，", "你好你好，", "喂，", "", "就是我想问下啊，")
_PHONE_CLOSERS = ("这个怎么弄啊", "是这样吗", "你们知道吗", "我不太清楚", "能帮我查查吗", "")
_QUESTION_TAIL = re.compile(r"[？?。！!，,\s]+$")
_PUNCT = re.compile(r"[，,、；;：:（）()“”\"《》]")
# Pinyin-input slips: same or near syllable, picked by the input method.
_HOMOPHONES = {
    "在": "再", "再": "在", "已": "以", "以": "已", "的": "得", "地": "的", "做": "作",
    "哪": "那", "那": "哪", "办": "半", "理": "里", "证": "正", "明": "名", "需": "须",
    "要": "药", "期": "其", "间": "见", "策": "测", "保": "包", "险": "显", "费": "废",
    "疫": "役", "情": "请", "复": "付", "工": "公", "企": "起", "业": "也", "补": "不",
    "贴": "帖", "申": "身", "请": "清", "核": "合", "检": "减", "测": "侧", "防": "方",
    "控": "空", "延": "言", "缓": "换", "税": "说", "减": "检", "免": "面", "租": "组",
}
_STOP = set("的 了 吗 呢 啊 是 在 有 和 与 及 或 对 为 可以 可 能 哪些 什么 怎么 如何 多少 是否 "
            "哪 吧 会 要 将 被 把 从 等 其 该 这 那 个 中 上 下 们 给 让 通过 进行 相关 有关".split())


def _strip(q: str) -> str:
    return _QUESTION_TAIL.sub("", q.strip())


def colloquial(q: str, rng: random.Random) -> str:
    return rng.choice(_OPENERS) + _strip(q) + rng.choice(_CLOSERS)


def phone(q: str, rng: random.Random) -> str:
    """An agent typing a caller: fillers dropped into the clause breaks, no
    punctuation, a trailing remark."""
    parts = [p for p in _PUNCT.split(_strip(q)) if p]
    words = []
    for p in parts:
        if rng.random() < 0.5:
            words.append(rng.choice(_FILLERS))
        words.append(p)
    return rng.choice(_PHONE_OPENERS) + "".join(words) + rng.choice(_PHONE_CLOSERS)


def keyword(q: str, rng: random.Random) -> str:
    import jieba

    words = [w for w in jieba.lcut(_strip(q)) if w.strip() and w not in _STOP and not _PUNCT.match(w)]
    words = list(dict.fromkeys(words))
    if len(words) > 6:
        # keep the longest words (names of policies and bodies), in their order
        keep = set(sorted(words, key=len, reverse=True)[:rng.randint(3, 6)])
        words = [w for w in words if w in keep]
    return " ".join(words)


def typo(q: str, rng: random.Random) -> str:
    chars = list(q)
    spots = [i for i, c in enumerate(chars) if c in _HOMOPHONES]
    rng.shuffle(spots)
    for i in spots[:max(1, min(2, len(spots)))]:
        chars[i] = _HOMOPHONES[chars[i]]
    out = "".join(chars)
    if rng.random() < 0.5:
        out = _strip(out)   # typed in a hurry: no question mark either
    return out


STYLES = {"colloquial": colloquial, "phone": phone, "keyword": keyword, "typo": typo}


def rewrite(q: str, style: str, rng: random.Random) -> str:
    try:
        return STYLES[style](q, rng)
    except KeyError:
        raise ValueError(f"unknown paraphrase style {style!r}; expected one of {sorted(STYLES)}") from None
