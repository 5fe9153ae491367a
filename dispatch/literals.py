"""The words a regular expression cannot match without: a prefilter for the
urgency rules.

A rule is an alternation of keywords and patterns such as
``(人|孩子|老人)[^，。]{0,6}(一动不动|没反应)``. Python's ``re`` tries every
alternative at every position of the text, which on a 400-character message
cost ~2 ms a row for the 28 shipped rules. Each alternative, though, needs one
of a few literal strings (here 一动不动 or 没反应) somewhere in the text; one
pass of a word matcher over all rules' strings tells which rules can match at
all, and only those run. The answer is the same: a rule is skipped only when
none of its alternatives' required strings occurs.
"""
from __future__ import annotations

try:  # Python >= 3.11
    from re import _constants as sre_c, _parser as sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as sre_c
    import sre_parse

_LITERAL, _SUBPATTERN, _BRANCH = sre_c.LITERAL, sre_c.SUBPATTERN, sre_c.BRANCH
_MAX_REPEAT, _MIN_REPEAT, _IN = sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.IN


def _literal_run(items) -> str | None:
    """The string a sequence matches when it is literals only, else None."""
    chars = []
    for op, av in items:
        if op is not _LITERAL:
            return None
        chars.append(chr(av))
    return "".join(chars)


def _choices(items) -> list[frozenset[str]]:
    """Sets of strings of which the sequence ``items`` needs one each."""
    out: list[frozenset[str]] = []
    run: list[str] = []

    def close():
        if run:
            out.append(frozenset(["".join(run)]))
            run.clear()

    for op, av in items:
        if op is _LITERAL:
            run.append(chr(av))
            continue
        close()
        if op is _SUBPATTERN:            # a plain group: its content is needed
            out.extend(_choices(list(av[-1])))
        elif op is _BRANCH:              # one arm is needed: a set when all are literal runs
            runs = [_literal_run(arm) for arm in av[1]]
            if all(runs):
                out.append(frozenset(runs))
        elif op is _IN and av and all(o is _LITERAL for o, _ in av):
            out.append(frozenset(chr(c) for _, c in av))   # (到|中|着) parses as a class
        elif op in (_MAX_REPEAT, _MIN_REPEAT) and av[0] >= 1:
            out.extend(_choices(list(av[2])))  # needed at least once
    close()
    return out


def required_sets(pattern: str) -> list[list[frozenset[str]]] | None:
    """Per alternative of ``pattern``, the sets of strings it needs one of each
    (all of them); None when some alternative needs none, or for a construct
    this cannot read (it must always run)."""
    try:
        parsed = list(sre_parse.parse(pattern))
    except Exception:  # re's parser is internal: never let it cost a rule
        return None
    if len(parsed) == 1 and parsed[0][0] is _BRANCH:
        arms = [list(arm) for arm in parsed[0][1][1]]
    else:
        arms = [parsed]
    out = []
    for arm in arms:
        sets = _choices(arm)
        if not sets:
            return None
        out.append(sets)
    return out


class Prefilter:
    """``runnable(text)``: for each rule, whether it can match ``text``. A rule
    is given as its alternatives' needed sets (``required_sets``; None: always
    run). One word-matcher pass finds the strings present; an alternative is
    looked at only when its most selective set (its trigger) has one of them."""

    def __init__(self, rules: list[list[list[frozenset[str]]] | None]):
        self.always = [arms is None for arms in rules]
        self.arms_by_word: dict[str, list[tuple[int, list[frozenset[str]]]]] = {}
        vocabulary: set[str] = set()
        for i, arms in enumerate(rules):
            for sets in arms or ():
                # The most selective set: its shortest string longest, then its
                # strings longest on average (醒/答应/应了 over 不).
                trigger = max(sets, key=lambda s: (min(map(len, s)), sum(map(len, s)) / len(s)))
                rest = [s for s in sets if s is not trigger]
                for word in trigger:
                    self.arms_by_word.setdefault(word, []).append((i, rest))
                vocabulary.update(*sets)
        # Words by first character: a text's distinct characters pick the few
        # words worth a substring test (a regex pass over every position cost
        # ~0.5 ms on a 400-character message; this ~0.05 ms).
        self.by_first: dict[str, list[str]] = {}
        for word in sorted(vocabulary):
            self.by_first.setdefault(word[0], []).append(word)

    def found(self, text: str) -> set[str]:
        """The needed strings that occur in ``text``."""
        out: set[str] = set()
        for ch in set(text).intersection(self.by_first):
            for word in self.by_first[ch]:
                if len(word) == 1 or word in text:
                    out.add(word)
        return out

    def runnable(self, text: str) -> list[bool]:
        out = list(self.always)
        found = self.found(text)
        for word in found:
            for i, rest in self.arms_by_word.get(word, ()):
                if not out[i] and all(not s.isdisjoint(found) for s in rest):
                    out[i] = True
        return out
