"""Writes the text pipeline's dictionary files (index/text/data/) from the hand-written
vocabulary plus the demo catalogue. Run: ``python -m kb.demo.lexicon``.

Long official names (service items) are not added as single words: a query that says
only part of the name would then share no token with the entry. Department names go
in without the city prefix for the same reason.
"""
from __future__ import annotations

from pathlib import Path

from kb.demo.city import CITY, CITY_SHORT, DISTRICTS, all_streets
from kb.demo.departments import DEPARTMENTS
from kb.demo.lexicon_terms import NOUNS, SYNONYMS, VERBS
from kb.demo.topics import TOPICS

DATA = Path(__file__).resolve().parents[2] / "index" / "text" / "data"
MAX_WORD = 10

STOPWORDS = """
的 了 吗 呢 啊 呀 吧 哦 哈 嘛 啦 喽 呗 咯 哎 唉 嗯 呃 噢 哇 喂 嘿 诶 欸 么 之 乎 者 也 矣 焉 哉
我 你 您 他 她 它 我们 你们 他们 她们 它们 咱 咱们 自己 人家 大家 本人
这 那 这个 那个 这些 那些 这样 那样 这么 那么 这里 那里 这边 那边 这儿 那儿 此 其 该 某 某个 各 每
是 在 有 和 与 及 或 或者 以及 并 并且 而 而且 但 但是 可是 不过 然而 因为 所以 因此 如果 假如 要是 虽然 即使 于是 然后 接着 还是 还有 另外 就是 就是说 也就是说
一 一个 一下 一些 一点 一点儿 一直 一样 一般 有点 有些 稍微
都 也 又 还 再 就 才 只 只是 仅 已 已经 曾经 正在 将 将要 刚 刚才 刚刚 马上 立刻 总是 常常 经常 往往 一定 肯定 可能 也许 大概 好像 似乎
很 太 非常 特别 十分 挺 蛮 真 真的 比较 更 最 极 越 越来越
把 被 给 让 叫 对 对于 关于 向 往 从 自 自从 到 至 于 以 用 为 为了 由 由于 按 按照 根据 通过 经过 随着 除了 比 跟 同 像
着 过 地 得 所 等 等等 之类 什么的 啥的
不 没 没有 别 不要 不用 不必 未
能 能够 可以 可 会 要 想 应该 应当 必须 得要 需 愿意 打算
请问 请 麻烦 谢谢 谢谢你 感谢 您好 你好 你好你好 喂喂 打扰 打扰一下 不好意思 劳驾 拜托
怎么说呢 就是那个 那个啥 这个那个 然后呢 对对 对对对 是的 是啊 好的 好吧 行 嗯嗯 哦哦 知道了 明白 清楚 听得到吗 听到吗 听见没 你听我说 我跟你说 我问一下 我想问 我想问一下 想问一下 问一下 问问 咨询一下
呢吗 吧啊 啊呀 哎呀 哎哟 天呐 唉呀
"""


def _words(block: str) -> list[str]:
    return list(dict.fromkeys(w for w in block.split() if w))


def _freq(word: str) -> int:
    # Enough to win against jieba's split of the same characters, not so much that
    # the word swallows neighbours: shorter words need more weight.
    return {2: 3000, 3: 2000, 4: 1500}.get(len(word), 1000)


def _dept_short(name: str) -> str:
    return name[len(CITY):] if name.startswith(CITY) else name


def dictionary() -> list[tuple[str, str]]:
    out: dict[str, str] = {}

    def add(word, pos):
        word = word.strip()
        if 2 <= len(word) <= MAX_WORD and " " not in word and word not in out:
            out[word] = pos

    for w in _words(NOUNS):
        add(w, "n")
    for w in _words(VERBS):
        add(w, "v")
    add(CITY, "ns")
    add(CITY_SHORT, "ns")
    for d in DEPARTMENTS.values():
        short = _dept_short(d.name)
        for part in short.replace("国家税务总局", "国家税务总局 ").split():
            add(part, "nt")
        for a in d.aliases:
            add(a, "nt")
        for k in d.keywords:
            add(k, "n")
    for d in DISTRICTS:
        add(d.name, "ns")
        add(d.short, "ns")
        for st in d.streets:
            add(st.name, "ns")
            add(st.road, "ns")
            for c in st.communities:
                add(c, "ns")
    for t in TOPICS:
        add(t.name, "n")
    return list(out.items())


def synonym_groups() -> list[list[str]]:
    groups = [line.split(",") for line in SYNONYMS.strip().splitlines() if line.strip()]
    for d in DEPARTMENTS.values():
        groups.append(list(dict.fromkeys([_dept_short(d.name), *d.aliases[:3]])))
    for d in DISTRICTS:
        groups.append([d.name, d.short])
    return groups


def write(data_dir: Path = DATA) -> dict:
    words = dictionary()
    (data_dir / "userdict.txt").write_text(
        "".join(f"{w} {_freq(w)} {pos}\n" for w, pos in words), encoding="utf-8")
    stop = _words(STOPWORDS)
    (data_dir / "stopwords.txt").write_text("\n".join(stop) + "\n", encoding="utf-8")
    groups = synonym_groups()
    (data_dir / "synonyms.txt").write_text("".join(",".join(g) + "\n" for g in groups), encoding="utf-8")
    return {"userdict": len(words), "stopwords": len(stop), "synonym_groups": len(groups)}


if __name__ == "__main__":
    print(write())
