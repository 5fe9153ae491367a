"""Probe sentences for the shipped urgency rules, by hazard family: written by
hand for this test (not copied from the tuning or test sets), positive (紧急)
and hard negatives (a mention, a past case, a question, a chronic nuisance,
a word that only looks like a hazard). Run through the same normaliser as the
service (traditional → simplified, NFKC). The sentences are kept in
training/data/urgency_probes.csv (id,text,urgent,family); the learned signal
also trains on them, so these tests check the rules alone."""
import csv
from pathlib import Path

import pytest

from dispatch import UrgencyRules

PROBES = Path(__file__).resolve().parents[1] / "training" / "data" / "urgency_probes.csv"


def _probes(urgent: bool):
    with open(PROBES, encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if (r["urgent"] == "紧急") == urgent]
    return [pytest.param(r["text"], id=f"{r['family']}-{r['id']}") for r in rows]


def test_probe_file_is_whole():
    urgent, calm = _probes(True), _probes(False)
    assert len(urgent) >= 250 and len(calm) >= 150


@pytest.fixture(scope="module")
def urgency():
    from index.text import Normalizer

    norm, r = Normalizer(), UrgencyRules()
    return lambda text: r.assess(norm(text))


@pytest.mark.parametrize("text", _probes(True))
def test_probe_urgent(urgency, text):
    assert urgency(text).level == "紧急", urgency(text)


@pytest.mark.parametrize("text", _probes(False))
def test_probe_not_urgent(urgency, text):
    assert urgency(text).level != "紧急", urgency(text)


def test_worry_cues_see_question_forms():
    """会不会 is a question form for negation (not blanked for worry): "会不会被淹"
    is a risk; a hyperbole (得我都快) is not an event; a worry about a named
    person holds only right before the match."""
    r = UrgencyRules()
    res = r.assess("下大雨会不会被淹")
    assert res.level == "一般" and res.suppressed[0]["by"] == "worry:会不会"
    assert r.assess("排队排得我都快晕倒了").level == "一般"
    assert r.assess("我怕孩子被咬").level == "一般"
    assert r.assess("担心人出事晕倒在家里,敲门没反应").level == "紧急"
    # Lookalikes: a clearance sale, a job change, a card, a stove's small flame.
    for text in ("跳楼价甩卖", "他要跳槽", "社保卡在哪里激活", "燃气灶火苗特别小", "我家猫要生了",
                 "孩子的学籍卡在教育局", "孩子在学校丢了书包", "电表噼里啪啦地跳字",
                 "我被这个态度气得说不出话", "有人在地里放火烧秸秆"):
        assert r.assess(text).level != "紧急", text
