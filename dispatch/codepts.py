"""Lead and co-handling departments of one request (主办 / 协办).

A caller often raises two or three issues in one call ("楼下油烟扰民，另外孩子
一直咳嗽"): each needs its own department. This module splits a request into
issue clauses, lets a department scorer (the trained department head, or the
cold-start router; any callable, so no classifier import here) score the whole
text and every clause, and decides:

* **lead**: the department of the issue the caller marks as the main one
  ("主要是…", "关键是…"), else of the first issue clause the scorer is sure of,
  else the whole text's department (the rule of training/data/compound/README.md);
  a letter (long, titled, or addressed to an official: ``CoRules.for_text``) is led
  by its whole text's department;
* **co**: departments other than the lead that some clause is confidently about.
  A clause counts as a separate issue where the caller opened it (a connective
  such as 还有 / 另外 / 顺便 or a new sentence). A plain comma clause is usually
  detail of the same issue ("物业也不管"), so it adds a co-handler only when the
  scorer and the department list agree on it (the clause names the department
  or carries one of its keywords) and it reports no background (BACKGROUND).
  Thresholds were fitted on the dev half only (docs/dispatch.md); a wrongly
  added co-handler costs a department work, so precision comes first.

Text in: the normalised text (index.text); spans index it.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from dispatch.letters import LETTER_CHARS, addressed
from index.text.wordmatch import WordMatcher

# Openers of a new issue. Longest first, so "还有就是" wins over "还有".
CONNECTIVES = ("还有就是", "再就是", "再一个", "另外还", "另一个", "另外", "还有", "并且",
               "同时", "而且", "顺便", "此外", "再有", "以及", "其次", "第二", "然后还有",
               "还想问", "还想反映", "也想问", "也想反映", "再说")
# Openers that also mark the issue as the caller's main one.
MAIN_CUES = ("主要是", "最主要的是", "最主要是", "最要紧的是", "最要紧是", "关键是", "重点是",
             "最重要的是")
_SENTENCE_END = "。！？!?；;\n"
_COMMA = "，,、：:"
# A comma clause with one of these reports what happened or what someone said
# ("派出所说要房产证", "城管也不来管", "我报过警"): background, never a co-handler by itself.
BACKGROUND = ("说", "不管", "不理", "推给", "推到", "没人管", "打过", "报过", "找过", "找了")
_LEAD_IN = re.compile(r"^(?:喂|哎|那个|就是|对|嗯|然后|你好|您好)+[，,、 ]*")

# "connective": opened by a connective or a main cue; "sentence": first clause of a
# sentence; "comma": any other comma clause.
KINDS = ("connective", "sentence", "comma")


@dataclass(frozen=True)
class Clause:
    text: str
    start: int
    end: int
    kind: str                 # one of KINDS
    main: bool = False        # opened by a MAIN_CUE


@dataclass(frozen=True)
class CoRules:
    """The decision's constants (fitted on training/data/compound/dev.csv)."""

    # An issue (clauses from one opener to the next) is confidently about its top
    # department at or above these: opened by a connective / a new sentence.
    connective: float = 0.4
    sentence: float = 0.4
    # ... or at or above this when the issue also names that department or
    # carries one of its keywords (the scorer and the list agree); None: never.
    evidence: float | None = 0.1
    # A comma clause that is not the first of its issue adds its top department
    # at or above this when it names the department or carries one of its
    # keywords and reports no BACKGROUND; None: a comma clause never adds one.
    comma: float | None = 0.4
    # A department named in an issue ("卫健委也请查查") scores at least this there.
    mention: float = 0.7
    # The lead: the first issue at or above this decides it (else the whole text);
    # on dev any threshold above 0 lost lead accuracy.
    lead_min: float = 0.0
    # Shorter clauses (characters with content) are merged into their neighbour.
    min_chars: int = 4
    max_co: int = 3
    # A text longer than this is a letter, not a call (the fitted calls are all under
    # 100 characters): its sentences are not separate issues and its first sentence is
    # not the lead issue, so only a main cue or a connective opens one, and the lead is
    # the whole text's department. On 1,005 held-out real messages (551 of them longer)
    # lead accuracy rose from 0.886 to 0.921 (the department head: 0.936) and the share
    # given co-handlers fell from 0.54 to 0.21 (docs/dispatch.md). A titled record
    # (``for_text(titled=True)``) or one addressed to an official (dispatch.letters) is
    # read the same way, whatever its length.
    narrative_chars: int = LETTER_CHARS
    # Whether a new sentence opens an issue (a call) or continues the current one (a
    # letter: one sentence after another about the same matter).
    sentence_issues: bool = True
    # Whether the issue a main cue opens leads. A letter's "主要是…" / "关键是…" argues
    # its case ("关键是现在有好几户都入住了") rather than picking one of several issues:
    # on those 1,005 messages the 4 letters whose lead came from a main cue were all
    # wrong, and the whole text's department right.
    main_cue_leads: bool = True

    def threshold(self, kind: str) -> float:
        return getattr(self, kind)

    def for_text(self, text: str, titled: bool = False) -> "CoRules":
        """These rules, or their letter form for a text over ``narrative_chars``, a
        ``titled`` one or one addressed to an official (``dispatch.letters.addressed``):
        a title line over a body is a written record (a web message, a work order as
        filed), not a call typed as it is spoken. On the
        1,005 held-out real messages, titled and mostly under 200 characters, the
        call rules gave a lead other than the department head's to 22 of the 453
        short ones (the head right on 17) and co-handlers to 33 % of them, nearly
        all for a sentence that went on about the same matter (docs/dispatch.md)."""
        if len(text) <= self.narrative_chars and not titled and not addressed(text):
            return self
        return dataclasses.replace(self, lead_min=1.01, sentence=1.01,
                                   main_cue_leads=False, sentence_issues=False)

    def comma_clauses(self, group: list[int]) -> list[int]:
        """The clauses of an issue that may add a co-handler of their own (with
        evidence, ``comma``): in a call all but the first, which its issue speaks
        for; in a letter every one, as its issue is the whole text (a letter's
        "家里停水两天了。小区门口的路灯也坏了" names two departments' matters)."""
        return group[1:] if self.sentence_issues else group


@dataclass
class Departments:
    lead: dict | None                       # {"name", "confidence"} or None
    co: list = field(default_factory=list)  # [{"name", "confidence"}]
    clauses: list = field(default_factory=list)  # [{"text","start","end","kind","department","confidence"}]

    def to_dict(self, clauses: bool = False) -> dict:
        out = {"lead": self.lead, "co": list(self.co)}
        if clauses:
            out["clauses"] = list(self.clauses)
        return out

    @property
    def co_names(self) -> list[str]:
        return [c["name"] for c in self.co]


# [^\W_] is str.isalnum() in the regex engine: counting in C, not per character in Python.
_ALNUM = re.compile(r"[^\W_]")
_SEPARATOR = re.compile("[" + re.escape(_SENTENCE_END + _COMMA) + "]")


def _content_len(s: str) -> int:
    return len(_ALNUM.findall(s))


# Whether any main cue stands in the first characters, or any connective opens the piece:
# most pieces have none, and these one-pass tests spare them the loops below (the loops,
# in tuple order, still pick the cue).
_ANY_MAIN = re.compile("^.{0,2}(?:" + "|".join(map(re.escape, MAIN_CUES)) + ")", re.S)
_ANY_CONNECTIVE = re.compile("|".join(map(re.escape, CONNECTIVES)))


def _opener(piece: str) -> tuple[str | None, bool]:
    """(cue, is_main) when ``piece`` (after fillers) opens with a connective or main cue."""
    body = _LEAD_IN.sub("", piece.lstrip())
    if not _ANY_MAIN.match(body) and not _ANY_CONNECTIVE.match(body):
        return None, False
    for cue in MAIN_CUES:
        # "我最要紧的是…", "但关键是…": a word or two may stand before a main cue.
        if 0 <= body.find(cue) <= 2:
            return cue, True
    for cue in CONNECTIVES:
        if body.startswith(cue):
            return cue, False
    return None, False


def split_clauses(text: str, min_chars: int = 4) -> list[Clause]:
    """The request's clauses in order: sentences cut at 。！？；, each cut further at
    commas; a clause with fewer than ``min_chars`` letters/digits/characters is
    merged into the one before it (or the one after, at the start)."""
    pieces: list[tuple[int, int, str]] = []   # start, end, kind
    start, sentence_start = 0, True
    for m in _SEPARATOR.finditer(text + "\n"):
        i, ch = m.start(), m.group()
        if i > start:
            pieces.append((start, i, "sentence" if sentence_start else "comma"))
            sentence_start = ch in _SENTENCE_END
        elif ch in _SENTENCE_END:
            sentence_start = True
        start = i + 1
    clauses: list[Clause] = []
    pending = None   # (start, kind, main) of tiny pieces waiting for the next real one
    for s, e, kind in pieces:
        cue, main = _opener(text[s:e])
        if cue is not None:
            kind = "connective"
        if _content_len(text[s:e]) < min_chars:
            if clauses and kind == "comma" and pending is None:
                prev = clauses[-1]     # "好，谢谢": detail of the clause before
                clauses[-1] = Clause(text[prev.start:e], prev.start, e, prev.kind, prev.main)
            elif pending is None:      # a filler ("喂你好") or a bare opener ("还有，")
                pending = (s, kind, main)
            else:
                pending = (pending[0], pending[1] if pending[1] != "comma" else kind,
                           pending[2] or main)
            continue
        if pending is not None:        # the tiny pieces lend their start, kind and cue
            s, kind, main = pending[0], pending[1] if pending[1] != "comma" else kind, \
                pending[2] or main
            pending = None
        clauses.append(Clause(text[s:e], s, e, kind, main))
    if pending is not None:
        if clauses:
            prev = clauses[-1]
            end_ = pieces[-1][1]
            clauses[-1] = Clause(text[prev.start:end_], prev.start, end_, prev.kind, prev.main)
        else:
            clauses.append(Clause(text[pending[0]:pieces[-1][1]], pending[0], pieces[-1][1],
                                  pending[1], pending[2]))
    return [c for c in clauses if _content_len(c.text) > 0]


Scores = Mapping[str, float]   # department -> probability


def issues(clauses: Sequence[Clause], sentences: bool = True) -> list[list[int]]:
    """Clause positions grouped into issues: a connective or (``sentences``) a new
    sentence opens one; comma clauses continue the current one."""
    groups: list[list[int]] = []
    for i, c in enumerate(clauses):
        if not groups or c.kind == "connective" or (sentences and c.kind == "sentence"):
            groups.append([i])
        else:
            groups[-1].append(i)
    return groups


def mention_patterns(departments: Sequence[Mapping]) -> dict[str, tuple[str, ...]]:
    """Per department, the words that name it in a call: its name, aliases, and
    for an alias ending in 局/委 the "X部门" form ("卫生局" -> "卫生部门")."""
    out = {}
    for d in departments:
        words = {d["name"], *[a for a in (d.get("aliases") or []) if len(a) >= 2]}
        for a in list(words):
            for suffix in ("局", "委"):
                if a.endswith(suffix) and len(a) >= 3:
                    words.add(a[:-1].removeprefix("市") + "部门")
        out[d["name"]] = tuple(sorted(words, key=len, reverse=True))
    return out


def keyword_patterns(departments: Sequence[Mapping]) -> dict[str, tuple[str, ...]]:
    """Per department, its keywords in the list (what the evidence rules look for
    beside the names of :func:`mention_patterns`)."""
    return {d["name"]: tuple(k for k in (d.get("keywords") or []) if k) for d in departments}


# {name: words} mapping -> (the mapping, its matcher, word -> names). Keyed by the
# mapping's id and holding it, so the id stays its own; the served mappings live
# as long as their snapshot, so a few entries suffice.
_MATCHERS: dict[int, tuple] = {}


def _matcher(mapping: Mapping[str, Sequence[str]]):
    got = _MATCHERS.get(id(mapping))
    if got is None or got[0] is not mapping:
        owners: dict[str, list[str]] = {}
        for name, words in mapping.items():
            for w in words:
                if w:
                    owners.setdefault(w, []).append(name)
        got = (mapping, WordMatcher(owners), owners)
        if len(_MATCHERS) >= 16:
            _MATCHERS.clear()
        _MATCHERS[id(mapping)] = got
    return got[1], got[2]


def prepare_words(mapping: Mapping[str, Sequence[str]] | None) -> None:
    """Compile the matcher of a {name: words} mapping now (a department list's
    keywords: ~10-20 ms), not in the first request that needs it."""
    if mapping:
        _matcher(mapping)


def _mentioned(text: str, mentions: Mapping[str, Sequence[str]] | None) -> list[str]:
    """The names whose words occur in ``text``, in the mapping's order (one regex
    pass instead of a substring test per word: ~1 ms a request saved)."""
    if not mentions:
        return []
    matcher, owners = _matcher(mentions)
    named = {n for w in matcher.found(text) for n in owners[w]}
    return [name for name in mentions if name in named] if named else []


def _top(scores: Scores) -> tuple[str | None, float]:
    if not scores:
        return None, 0.0
    name = max(scores, key=scores.get)
    return name, float(scores[name])


def _evidence(text: str, mentions, keywords) -> set[str]:
    return set(_mentioned(text, mentions)) | set(_mentioned(text, keywords))


def _with_mentions(scores: Scores, text: str, mentions, floor: float) -> Scores:
    named = _mentioned(text, mentions)
    if not named:
        return scores
    out = dict(scores)
    for n in named:
        out[n] = max(float(out.get(n, 0.0)), floor)
    return out


def decide(whole: Scores, clauses: Sequence[Clause], issue_scores: Sequence[Scores],
           clause_scores: Sequence[Scores], rules: CoRules = CoRules(),
           mentions: Mapping[str, Sequence[str]] | None = None,
           text: str | None = None,
           keywords: Mapping[str, Sequence[str]] | None = None) -> Departments:
    """Lead and co-handlers from the department scores of the whole text, of each
    issue (``issues(clauses)`` order) and of each clause ({} for a clause not
    scored). ``mentions`` / ``keywords``: :func:`mention_patterns` /
    :func:`keyword_patterns` of the department list, or None."""
    w_name, w_conf = _top(whole)
    groups = issues(clauses, rules.sentence_issues)
    joined = [(text[clauses[g[0]].start:clauses[g[-1]].end] if text is not None
               else "".join(clauses[i].text for i in g)) for g in groups]
    i_tops = [_top(_with_mentions(s, t, mentions, rules.mention))
              for s, t in zip(issue_scores, joined)]
    detail = [{"text": t, "start": clauses[g[0]].start, "end": clauses[g[-1]].end,
               "kind": clauses[g[0]].kind, "department": n, "confidence": round(p, 4)}
              for g, t, (n, p) in zip(groups, joined, i_tops)]
    if w_name is None:
        return Departments(None, [], detail)
    lead, lead_conf = w_name, w_conf
    mains = [(n, p) for g, (n, p) in zip(groups, i_tops)
             if rules.main_cue_leads and clauses[g[0]].main and n is not None
             and p >= rules.threshold(clauses[g[0]].kind)]
    if mains:
        lead, lead_conf = mains[0]
    elif i_tops and i_tops[0][0] is not None and i_tops[0][1] >= rules.lead_min:
        lead, lead_conf = i_tops[0]
    co: dict[str, float] = {}
    if len(groups) > 1:
        for g, t, (n, p) in zip(groups, joined, i_tops):
            if n is None or n == lead:
                continue
            if p >= rules.threshold(clauses[g[0]].kind) or (
                    rules.evidence is not None and p >= rules.evidence
                    and n in _evidence(t, mentions, keywords)):
                co[n] = max(co.get(n, 0.0), p)
    if rules.comma is not None and clause_scores:
        for g, (issue_top, _) in zip(groups, i_tops):
            for j in rules.comma_clauses(g):
                c = clauses[j]
                n, p = _top(_with_mentions(clause_scores[j], c.text, mentions, rules.mention))
                if (n is not None and n not in (lead, issue_top) and p >= rules.comma
                        and _comma_candidate(c.text, mentions, keywords)
                        and n in _evidence(c.text, mentions, keywords)):
                    co[n] = max(co.get(n, 0.0), p)
    ranked = sorted(co.items(), key=lambda kv: (-kv[1], kv[0]))[:rules.max_co]
    return Departments({"name": lead, "confidence": round(float(lead_conf), 4)},
                       [{"name": n, "confidence": round(p, 4)} for n, p in ranked], detail)


def _comma_candidate(text: str, mentions, keywords) -> bool:
    """A comma clause worth scoring: it names a department or carries a keyword,
    and reports no background."""
    return not any(w in text for w in BACKGROUND) and bool(_evidence(text, mentions, keywords))


def assign(texts: Sequence[str], score: Callable[[list[str]], list[Scores]],
           rules: CoRules = CoRules(), whole: Sequence[Scores] | None = None,
           mentions: Mapping[str, Sequence[str]] | None = None,
           keywords: Mapping[str, Sequence[str]] | None = None,
           titled: Sequence[bool] | None = None) -> list[Departments]:
    """Lead and co-handlers of each text. ``score`` maps texts to department
    scores; it is called once, for the issues of texts with more than one clause
    (one issue too: it decides the lead) and their comma clauses that could add a
    co-handler, and for the whole texts unless ``whole`` gives their scores
    already (the classifier's top 3 of the same text). ``mentions`` /
    ``keywords``: :func:`mention_patterns` / :func:`keyword_patterns` of the
    department list, or None. ``titled``: per text, whether it came as a title
    line over a body (``index.text.records.has_title`` of the text as received;
    the normalised text has lost the line break): such a text reads as a letter."""
    plans = []
    batch = [] if whole is not None else list(texts)
    for i, t in enumerate(texts):
        r = rules.for_text(t, titled=bool(titled[i]) if titled is not None else False)
        cl = split_clauses(t, r.min_chars)
        groups = issues(cl, r.sentence_issues)
        if len(cl) < 2 or (r.comma is None and len(groups) < 2):
            plans.append((r, cl, len(groups), None, None))
            continue
        it = [t[cl[g[0]].start:cl[g[-1]].end] for g in groups]
        wanted = ([j for g in groups for j in r.comma_clauses(g)
                   if _comma_candidate(cl[j].text, mentions, keywords)]
                  if r.comma is not None else [])
        plans.append((r, cl, len(groups), len(batch), wanted))
        batch += it + [cl[j].text for j in wanted]
    scores = score(batch) if batch else []
    if whole is None:
        whole = scores[:len(texts)]
    out = []
    for t, w, (r, cl, n, at, wanted) in zip(texts, whole, plans):
        if at is None:
            out.append(decide(w, cl, [w] * n, [], r, mentions, t, keywords))
            continue
        clause_scores: list[Scores] = [{} for _ in cl]
        for k, j in enumerate(wanted):
            clause_scores[j] = scores[at + n + k]
        out.append(decide(w, cl, scores[at:at + n], clause_scores, r, mentions, t, keywords))
    return out


def keyword_baseline(text: str, departments: Sequence[Mapping]) -> Departments:
    """The same-run baseline: keyword rules alone. Each department's keywords
    (and its short names) are looked up in the text; the department of the
    earliest match leads, every other matched department co-handles."""
    first: dict[str, int] = {}
    for d in departments:
        words = [w for w in list(d.get("keywords") or []) + list(d.get("aliases") or []) if w]
        pos = [text.find(w) for w in words]
        pos = [p for p in pos if p >= 0]
        if pos:
            first[d["name"]] = min(pos)
    order = sorted(first, key=first.get)
    if not order:
        return Departments(None, [])
    return Departments({"name": order[0], "confidence": 1.0},
                       [{"name": n, "confidence": 1.0} for n in order[1:]])
