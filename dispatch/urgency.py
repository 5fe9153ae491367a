"""Urgency levels (紧急 / 较急 / 一般) from keyword and pattern rules a centre
configures, with context handling so that a call that only mentions a danger
is not urgent.

A rule match is dropped (and reported under ``suppressed`` with the cue) when:

* a negation stands just before it in its clause ("没有煤气味"), question forms
  such as 是不是 / 有没有 excepted;
* its sentence refers to a past incident or follows one up ("上次煤气泄漏的事想
  问问进度"), asks about procedure or is hypothetical ("咨询一下燃气泄漏了应该打
  什么电话"), or says after the match that the danger is over ("已经修好");
* a rule's ``unless`` word is in its sentence ("烟囱冒烟" is pollution, not fire),
  ``not_unless`` words excepted ("抽油烟机着火了" is a fire);
* a rule's ``also`` words are all absent from the text (no heating is 紧急 only
  when an elderly person or a baby is mentioned).

A question opener (``question``: 请问, 问一下…) drops a match in its own clause,
and one elsewhere in the sentence unless the match is stated as happening
("请问这个怎么处理，学生上吐下泻了"); ``consult_after`` words (怎么办, 的话, 应该找…)
drop a match only when it is not stated ("车库进水的话" yes, "着火了怎么办" no).
A past, hypothetical or question cue right after a negation does not count
("不是开玩笑，真的着火了").

It is also dropped when a worry word stands right before it ("担心会着火": a
risk, not an event), when 过 follows it ("煤气泄漏过": experience, not now),
"咋办" after it in its clause asks about a
what-if ("倒了砸着人咋办"), and an ``also`` word only counts when it is not negated ("家里没有老人").

In a letter (``dispatch.letters``: over 200 characters, not a call) a match needs more:
a present or ``urgent_now`` cue, or to be stated as happening (了 directly after it,
正在 / 已经 before it); otherwise it is dropped as ``narrative``. Real letters named
past assaults, old injuries and "一旦爆炸" risks in passing.

A present-tense cue in the match's clause ("现在", "正在", "又") overrides the
past and hypothetical cues and a resolution later in the sentence, never a
negation, nor a resolution in the match's own clause ("刚才煤气味已经没了").
An ``urgent_now`` cue anywhere in the sentence ("快来人", "越来越大") also
overrides past and hypothetical: a chaser on an emergency that is still on. The level is the
highest level among the matches kept; each reason carries the words that
triggered it and their span in the text the rules saw.

Beside the rules, a learned signal (``dispatch.urgency_signal``, on by default,
``learned = false`` turns it off) raises a call to 紧急 when it is at least
``learned_threshold`` sure; its reasons carry ``rule = "learned"``, the
n-grams that weighed most, and ``p``.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Mapping

from dispatch import urgency_defaults
from dispatch.errors import DispatchConfigError
from dispatch.letters import is_letter
from dispatch.literals import Prefilter, required_sets
from dispatch.urgency_signal import shipped_signal

LEVELS = ("紧急", "较急", "一般")
_RANK = {level: i for i, level in enumerate(reversed(LEVELS))}  # 一般 0 < 较急 1 < 紧急 2
_SENTENCE = re.compile(r"[。！？!?；;\n]")
_CLAUSE = re.compile(r"[。！？!?；;\n，,：:]")
_RULE_KEYS = {"name", "level", "keywords", "patterns", "also", "unless"}
NEGATION_WINDOW = 4   # characters allowed between a negation and the match
WORRY_WINDOW = 1      # "担心会着火" yes, "担心人出事晕倒" (a guess about now) no
# Experiential 过 right after a match: "泄漏过", not "闻到煤气味过来".
_EXPERIENTIAL = re.compile("过(?![来去])")
# A match stated as happening: 了 / 起来 right after it, 已经 / 正在 before it.
_STATED = re.compile("[^,，。!?！？;；]{0,2}(了|起来|着呢)")
_ONGOING = re.compile("已经|正在|在往|一直")
# Stated right at the match ("着火了"), for narratives: a letter's "骨折住院了两个月"
# tells a story, which _STATED's two-character gap would take for news.
_STATED_HERE = re.compile("了|起来|着呢")


class UrgencyRuleError(DispatchConfigError):
    """An urgency rule or cue list in settings that does not validate."""


@dataclass(frozen=True)
class UrgencyResult:
    level: str
    reasons: list[dict] = field(default_factory=list)
    suppressed: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"level": self.level, "reasons": list(self.reasons),
                "suppressed": list(self.suppressed)}


# The rules see NFKC text, where ，！？；： became ASCII: a class written "[^，。！？]"
# (stay inside the clause) must exclude those too, or it runs across clauses.
_FULLWIDTH = {c: unicodedata.normalize("NFKC", c) for c in "，！？；：（）"}
_NEGATED_CLASS = re.compile(r"\[\^((?:\\.|[^\]\\])*)\]")


def _ascii_too(pattern: str) -> str:
    def widen(m: re.Match) -> str:
        body = m.group(1)
        extra = "".join(re.escape(a) for f, a in _FULLWIDTH.items() if f in body and a not in body)
        return f"[^{body}{extra}]"
    return _NEGATED_CLASS.sub(widen, pattern)


def _alternation(where: str, words: Any, patterns: Any = ()) -> re.Pattern | None:
    parts = []
    for key, values, escape in (("keywords", words, True), ("patterns", patterns, False)):
        if values in (None, ()):
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise UrgencyRuleError(f"{where} {key} = {values!r}: expected a list of non-empty strings")
        for v in values:
            if not escape:
                try:
                    re.compile(v)
                except re.error as exc:
                    raise UrgencyRuleError(f"{where}: pattern {v!r} is not a valid regular "
                                           f"expression: {exc}") from None
            parts.append(re.escape(v.lower()) if escape else f"(?:{_ascii_too(v)})")
    # Longest keyword first so the reason shows the whole phrase.
    parts.sort(key=len, reverse=True)
    return re.compile("|".join(parts)) if parts else None


@dataclass(frozen=True)
class _Rule:
    name: str
    level: str
    match: re.Pattern
    also: re.Pattern | None
    unless: re.Pattern | None


def _rule(spec: Any, i: int) -> _Rule:
    where = f"[[dispatch.urgency.rules]] #{i + 1}"
    if not isinstance(spec, Mapping):
        raise UrgencyRuleError(f"{where} = {spec!r}: expected a table")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise UrgencyRuleError(f"{where}: name = {name!r}: expected a non-empty string")
    where = f"urgency rule {name!r}"
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise UrgencyRuleError(f"{where}: unknown key(s) {sorted(unknown)}; expected some of "
                               f"{sorted(_RULE_KEYS)}")
    level = spec.get("level")
    if level not in LEVELS[:2]:
        raise UrgencyRuleError(f"{where}: level = {level!r}: expected 紧急 or 较急")
    match = _alternation(where, spec.get("keywords", ()), spec.get("patterns", ()))
    if match is None:
        raise UrgencyRuleError(f"{where}: no keywords and no patterns; expected at least one")
    if match.search(""):
        raise UrgencyRuleError(f"{where}: a pattern matches the empty text")
    return _Rule(name, level, match, _alternation(where + " also", spec.get("also", ())),
                 _alternation(where + " unless", spec.get("unless", ())))


class UrgencyRules:
    """``rules``: the centre's rule tables (a rule named like a shipped one
    replaces it); ``defaults=False`` drops the shipped rules; ``cues``
    replaces whole cue lists (``negation``, ``not_negation``, ``worry``,
    ``future``, ``consult_after``, ``past``, ``hypothetical``, ``question``, ``resolved``,
    ``present``, ``urgent_now``, ``not_unless``). ``context=False`` is the
    keyword-only baseline: every match counts."""

    def __init__(self, rules: list | None = None, defaults: bool = True,
                 cues: Mapping | None = None, context: bool = True, signal=None,
                 learned_threshold: float | None = None):
        specs = {r["name"]: r for r in urgency_defaults.RULES} if defaults else {}
        if rules is not None and not isinstance(rules, list):
            raise UrgencyRuleError(f"[dispatch.urgency] rules = {rules!r}: expected an array of "
                                   f"tables ([[dispatch.urgency.rules]])")
        own = [_rule(spec, i) for i, spec in enumerate(rules or [])]
        names = [r.name for r in own]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise UrgencyRuleError(f"[[dispatch.urgency.rules]]: rule name(s) {dup} given twice")
        built = {n: _rule(s, i) for i, (n, s) in enumerate(specs.items())}
        built.update({r.name: r for r in own})
        if not built:
            raise UrgencyRuleError("[dispatch.urgency]: defaults = false and no rules given")
        self.rules = list(built.values())
        # Which rules can match a text at all, from the strings each needs: the
        # rest are not run (a 400-character message: 1.5 -> 0.5 ms, same levels).
        self._prefilter = Prefilter([required_sets(r.match.pattern) for r in self.rules])
        merged = dict(urgency_defaults.CUES)
        for key, values in (cues or {}).items():
            if key not in merged:
                raise UrgencyRuleError(f"[dispatch.urgency.cues]: unknown list {key!r}; expected "
                                       f"some of {sorted(merged)}")
            merged[key] = values
        self.cues = {k: _alternation(f"[dispatch.urgency.cues] {k}", v) for k, v in merged.items()}
        self.context = context
        self.signal = signal
        self.learned_threshold = (learned_threshold if learned_threshold is not None
                                  else getattr(signal, "threshold", 1.0))

    @classmethod
    def from_mapping(cls, raw: Mapping | None, context: bool = True) -> "UrgencyRules":
        """``context=False`` (the keyword baseline) also leaves the learned signal out."""
        raw = dict(raw or {})
        keys = {"rules", "defaults", "cues", "learned", "learned_threshold"}
        unknown = set(raw) - keys
        if unknown:
            raise UrgencyRuleError(f"[dispatch.urgency]: unknown key(s) {sorted(unknown)}; "
                                   f"expected some of {sorted(keys)}")
        learned = raw.get("learned", True)
        if not isinstance(learned, bool):
            raise UrgencyRuleError(f"[dispatch.urgency] learned = {learned!r}: expected true/false")
        threshold = raw.get("learned_threshold")
        if threshold is not None and (isinstance(threshold, bool)
                                      or not isinstance(threshold, (int, float))
                                      or not 0 < threshold < 1):
            raise UrgencyRuleError(f"[dispatch.urgency] learned_threshold = {threshold!r}: "
                                   f"expected a number between 0 and 1")
        defaults = raw.get("defaults", True)
        if not isinstance(defaults, bool):
            raise UrgencyRuleError(f"[dispatch.urgency] defaults = {defaults!r}: expected true/false")
        cues = raw.get("cues") or {}
        if not isinstance(cues, Mapping):
            raise UrgencyRuleError(f"[dispatch.urgency.cues] = {cues!r}: expected a table")
        signal = shipped_signal() if learned and context else None
        return cls(raw.get("rules"), defaults, cues, context, signal, threshold)

    # ------------------------------------------------------------ assessing
    def _cue(self, name: str, text: str) -> str | None:
        pattern = self.cues.get(name)
        m = pattern.search(text) if pattern is not None else None
        return m.group(0) if m else None

    def _live_cue(self, name: str, text: str) -> str | None:
        """A ``name`` cue not itself negated ("不是开玩笑", "不是演练": the
        speaker rules the past or the hypothetical out)."""
        pattern = self.cues.get(name)
        for m in (pattern.finditer(text) if pattern is not None else ()):
            if not self._negated(text[:m.start()], window=0):
                return m.group(0)
        return None

    def _negated(self, before: str, cue: str = "negation",
                 window: int = NEGATION_WINDOW) -> str | None:
        """A ``cue`` word ending at most ``window`` characters before the match."""
        guard = self.cues.get("not_negation") if cue == "negation" else None
        if guard is not None:  # blank question forms, keeping offsets
            before = guard.sub(lambda m: "□" * len(m.group(0)), before)
        neg = self.cues.get(cue)
        if neg is None:
            return None
        tail = before[-(window + 4):]
        for m in neg.finditer(tail):
            if len(tail) - m.end() <= window:
                return m.group(0)
        return None

    def _worry(self, before: str) -> str | None:
        """A worry word right before the match ("怕着火"), or earlier in the
        clause when a future modal leads into the match ("担心电动车充电会着火")."""
        near = self._negated(before, "worry", WORRY_WINDOW)
        if near:
            return near
        future = self.cues.get("future")
        worry = self.cues.get("worry")
        if future is None or worry is None:
            return None
        m = future.search(before[-3:])
        if m and m.end() == len(before[-3:]) and worry.search(before):
            return worry.search(before).group(0)
        return None

    def _also_present(self, rule: _Rule, text: str) -> bool:
        """An ``also`` word that is not negated in its clause ("没有老人小孩")."""
        for m in rule.also.finditer(text):
            c0, _ = _bounds(_CLAUSE, text, m.start())
            if not self._negated(text[c0:m.start()]):
                return True
        return False

    def _why_not(self, rule: _Rule, text: str, start: int, end: int) -> str | None:
        clause = _bounds(_CLAUSE, text, start)
        s0, s1 = _bounds(_SENTENCE, text, start)
        if rule.unless is not None:
            # "抽油烟机着火了" is a fire although 油烟 is an unless word.
            guard = self.cues.get("not_unless")
            masked = guard.sub(lambda g: "□" * len(g.group(0)), text) if guard else text
            m = rule.unless.search(masked, s0, s1)
            if m:
                return f"unless:{m.group(0)}"
        if rule.also is not None:
            if not (rule.also.search(text) if not self.context else self._also_present(rule, text)):
                return "also:absent"
        if not self.context:
            return None
        neg = self._negated(text[clause[0]:start])
        if neg:
            return f"negation:{neg}"
        worry = self._worry(text[clause[0]:start])
        if worry:
            return f"worry:{worry}"
        cue = self._cue("resolved", text[end:clause[1]])
        if cue:
            return f"resolved:{cue}"
        sentence = text[s0:s1]
        if self._cue("present", text[clause[0]:clause[1]]):
            return None
        if _EXPERIENTIAL.match(text, end):
            return "past:过"
        # 尽快来人处理 is a polite request, not 快来人.
        if not self._cue("urgent_now", sentence.replace("尽快", "□□")):
            # "进水的话…", "闻到煤气味应该找谁": a what-if; "着火了怎么办" states it.
            cue = self._cue("consult_after", text[end:clause[1]])
            if cue and not _STATED.match(text, end):
                return f"hypothetical:{cue}"
            for name in ("past", "hypothetical"):
                cue = self._live_cue(name, sentence)
                if cue:
                    return f"{name}:{cue}"
            # A question opener holds its own clause; elsewhere in the sentence
            # it yields to a hazard stated as happening ("请问这个怎么处理，学生
            # 上吐下泻了"), not to one only named ("问一下，闻到煤气味应该做什么").
            cue = self._live_cue("question", text[clause[0]:clause[1]])
            if cue is None and not _STATED.match(text, end) \
                    and not _ONGOING.search(text, clause[0], start):
                cue = self._live_cue("question", sentence)
            if cue:
                return f"hypothetical:{cue}"
            # In a letter (not a call reporting what is happening) a match counts only
            # with a present or urgent_now cue, or stated as happening. Real letters named
            # past assaults, "一旦爆炸" risks and old injuries in passing.
            if is_letter(text) and not _STATED_HERE.match(text, end) \
                    and not _ONGOING.search(text, clause[0], start):
                return f"narrative:{len(text)}"
        cue = self._cue("resolved", text[end:s1])
        return f"resolved:{cue}" if cue else None

    def assess(self, text: str) -> UrgencyResult:
        """The level of ``text`` (best given normalised: simplified, NFKC)."""
        found = self._by_rules(text)
        if found.level != "紧急" and self.signal is not None:
            p = self.signal.probability(text.lower())
            if p >= self.learned_threshold:
                return self._raised(found, text)
        return found

    def assess_many(self, texts: list[str]) -> list[UrgencyResult]:
        """``assess`` of each text; the learned signal scores all the texts the
        rules leave below 紧急 in one pass (the batch path)."""
        out = [self._by_rules(t) for t in texts]
        if self.signal is None:
            return out
        todo = [i for i, r in enumerate(out) if r.level != "紧急"]
        p = self.signal.probabilities([texts[i].lower() for i in todo])
        for i, pi in zip(todo, p.tolist()):
            if pi >= self.learned_threshold:
                out[i] = self._raised(out[i], texts[i])
        return out

    def _by_rules(self, text: str) -> UrgencyResult:
        low = text.lower()
        reasons, suppressed = [], []
        for rule, runnable in zip(self.rules, self._prefilter.runnable(low)):
            if not runnable:
                continue
            for m in rule.match.finditer(low):
                item = {"rule": rule.name, "level": rule.level, "text": text[m.start():m.end()],
                        "start": m.start(), "end": m.end()}
                why = self._why_not(rule, low, m.start(), m.end())
                if why is None:
                    reasons.append(item)
                elif not why.startswith(("also:", "unless:")):
                    suppressed.append({**item, "by": why})
        reasons.sort(key=lambda r: (-_RANK[r["level"]], r["start"]))
        # A lower-level rule on the same words adds nothing ("暖气不热" is
        # elderly_no_heating, not also no_heating).
        kept: list[dict] = []
        for r in reasons:
            if not any(k["start"] < r["end"] and r["start"] < k["end"] for k in kept):
                kept.append(r)
        level = kept[0]["level"] if kept else "一般"
        return UrgencyResult(level, kept, sorted(suppressed, key=lambda r: r["start"]))

    def _raised(self, found: UrgencyResult, text: str) -> UrgencyResult:
        """``found`` raised to 紧急 by the signal, its reasons first: the spans
        of its strongest n-grams, overlapping ones merged."""
        low = text.lower()
        p, grams = self.signal.score(low)
        spans = sorted((i, i + len(g)) for g in grams if (i := low.find(g)) >= 0)
        merged: list[list[int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        learned = [{"rule": "learned", "level": "紧急", "text": text[a:b], "start": a, "end": b,
                    "p": round(p, 3)} for a, b in merged]
        return UrgencyResult("紧急", learned + found.reasons, found.suppressed)


def _bounds(separators: re.Pattern, text: str, pos: int) -> tuple[int, int]:
    """The [start, end) of the clause or sentence holding ``pos``."""
    start = 0
    for m in separators.finditer(text, 0, pos):
        start = m.end()
    m = separators.search(text, pos)
    return start, (m.start() if m else len(text))
