"""The urgency rules' prefilter: the strings a pattern cannot match without,
and rules skipped only where they could not have matched."""
import csv
import random
import re
from pathlib import Path

import pytest

from dispatch import UrgencyRules
from dispatch.literals import Prefilter, required_sets

DATA = Path(__file__).resolve().parents[1] / "training" / "data"


@pytest.mark.parametrize("pattern, expected", [
    ("煤气泄漏", [[{"煤气泄漏"}]]),
    ("(人|孩子)[^，。]{0,6}(一动不动|没反应)", [[{"人", "孩子"}, {"一动不动", "没反应"}]]),
    ("流了?(好多|很多)?的?血", [[{"流"}, {"血"}]]),
    ("中风(?!险)", [[{"中风"}]]),
    ("砸(到|中)人", [[{"砸"}, {"到", "中"}, {"人"}]]),
    ("(?:燃气|煤气)(?:漏了|泄漏)", [[{"燃气", "煤气"}, {"漏了", "泄漏"}]]),
    ("a|b+c", [[{"a"}], [{"b"}, {"c"}]]),
])
def test_required_sets(pattern, expected):
    got = required_sets(pattern)
    assert sorted(map(sorted, got[0])) == sorted(map(sorted, expected[0]))
    assert len(got) == len(expected)


@pytest.mark.parametrize("pattern", [".*", "[^，]{1,3}", "a|.+", "(x)?y?"])
def test_patterns_that_need_no_string_always_run(pattern):
    assert required_sets(pattern) is None
    assert Prefilter([required_sets(pattern)]).runnable("anything") == [True]


def test_a_rule_is_skipped_only_when_it_cannot_match():
    """Random texts over the patterns' own characters: whenever a pattern
    matches, the prefilter let it run."""
    patterns = ["(人|孩子)[^，。]{0,6}(一动不动|没反应)", "流了?(好多|很多)?的?血", "砸(到|中)人",
                "(?:燃气|煤气)(?:漏了|泄漏)", "中风(?!险)", "被(困|关)在", "(压|砸)(在|着)[^，]{0,2}(人|孩子)"]
    compiled = [re.compile(p) for p in patterns]
    filt = Prefilter([required_sets(p) for p in patterns])
    alphabet = sorted(set("".join(patterns)) - set("()|[]^{},.?!:0123456789") | {"，", "x"})
    rng = random.Random(0)
    matched = 0
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 14)))
        runnable = filt.runnable(text)
        for c, go in zip(compiled, runnable):
            if c.search(text):
                matched += 1
                assert go, (c.pattern, text)
    assert matched > 200    # the property was exercised


def test_shipped_rules_give_the_same_levels_with_and_without_the_prefilter():
    texts = []
    for name in ("urgency_dev", "urgency_test", "urgency_probes", "phone_calls"):
        with open(DATA / f"{name}.csv", encoding="utf-8", newline="") as fh:
            texts += [r["text"] for r in csv.DictReader(fh)]
    from index.text import Normalizer

    norm = Normalizer()
    fast = UrgencyRules()
    slow = UrgencyRules()
    slow._prefilter = Prefilter([None] * len(slow.rules))
    skipped = 0
    for t in map(norm, texts):
        a, b = fast.assess(t), slow.assess(t)
        assert a == b, t
        skipped += fast._prefilter.runnable(t.lower()).count(False)
    assert skipped > len(texts) * 10   # most rules are skipped for most texts
