"""The learned urgency signal: scoring without scikit-learn gives scikit-learn's
probabilities, the saved artifact round-trips and is checked on load, the
shipped one is in step with the calls it was fitted on, and the rules use it
(on by default, off and threshold by setting)."""
import json

import numpy as np
import pytest

from dispatch import UrgencyRules, UrgencyRuleError
from dispatch.urgency_signal import SHIPPED, UrgencySignal, UrgencySignalError

URGENT = ["煤气味好重头好晕", "有人掉进河里了快来", "老人摔倒了叫不醒", "楼道里全是烟", "电梯里困了人出不来",
          "孩子吞了电池在哭", "路上有个大坑车掉进去了有人受伤"]
CALM = ["燃气费怎么交", "上次电梯的事想问进度", "社保卡怎么补办", "路灯不亮了", "楼下烧烤油烟大",
        "想问问公积金怎么提取", "小区停车位收费太贵", "孩子上学的户口问题"]


def test_scores_equal_scikit_learn_and_round_trip(tmp_path):
    """The batch, one-text and saved signal give scikit-learn's probabilities
    over the same design matrix (hashed counts -> tf-idf rows)."""
    from sklearn.linear_model import LogisticRegression

    from dispatch.urgency_signal import _counts

    texts, y = URGENT + CALM, [True] * len(URGENT) + [False] * len(CALM)
    signal = UrgencySignal(min_df=1).fit(texts, y)
    model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=5000)
    model.fit(signal.design(_counts(texts)), y)
    probe = ["家里煤气味很重，老人晕了", "想问一下燃气费", "zzz", ""]
    expected = model.predict_proba(signal.design(_counts(probe)))[:, 1]
    assert np.allclose(signal.probabilities(probe), expected, atol=1e-9)
    assert np.allclose([signal.probability(t) for t in probe], expected, atol=1e-9)
    # Rows are tf-idf of unit length, as scikit-learn's TfidfVectorizer gives.
    rows = signal.design(_counts(texts)).toarray()
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0)
    signal.save(tmp_path / "sig", sources={"x.csv": "abc"})
    back = UrgencySignal.load(tmp_path / "sig")
    assert np.allclose(back.probabilities(probe), expected, atol=1e-9) and back.threshold == 0.7
    p, grams = back.score(probe[0])
    assert abs(p - expected[0]) < 1e-9 and grams and all(g in probe[0] for g in grams)
    manifest = json.loads((tmp_path / "sig" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "urgency_signal" and manifest["sources"] == {"x.csv": "abc"}


def test_only_the_opening_is_scored():
    signal = UrgencySignal(min_df=1).fit(URGENT + CALM, [True] * 7 + [False] * 8)
    text = "燃气费怎么交" * 60          # 360 characters: past MAX_CHARS
    assert signal.probability(text) == signal.probability(text + "煤气味好重头好晕" * 50)


def test_fit_needs_both_classes():
    with pytest.raises(ValueError, match="urgent and non-urgent"):
        UrgencySignal().fit(CALM, [False] * len(CALM))


def test_broken_artifact_is_refused(tmp_path):
    UrgencySignal(min_df=1).fit(URGENT + CALM, [True] * 7 + [False] * 8).save(tmp_path / "sig")
    np.save(tmp_path / "sig" / "coef.npy", np.zeros(3))
    with pytest.raises(UrgencySignalError, match="inconsistent"):
        UrgencySignal.load(tmp_path / "sig")
    (tmp_path / "sig" / "manifest.json").unlink()
    with pytest.raises(UrgencySignalError, match="train_urgency"):
        UrgencySignal.load(tmp_path / "sig")


def test_shipped_signal_matches_its_training_files():
    """Editing a training file without refitting would ship a stale model."""
    from training.train_urgency import TEST, source_paths, sources

    manifest = json.loads((SHIPPED / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sources"] == sources(source_paths()), \
        "run `python -m training.train_urgency` and commit dispatch/data/urgency_signal"
    assert TEST not in manifest["sources"]


def test_rules_use_the_signal_by_default():
    from index.text import Normalizer

    text = Normalizer()("孩子把一颗纽扣电池吞下去了")
    on = UrgencyRules.from_mapping({})
    found = on.assess(text)
    assert found.level == "紧急"
    assert {r["rule"] for r in found.reasons} == {"learned"}
    assert all(text[r["start"]:r["end"]] == r["text"] and r["p"] >= 0.7 for r in found.reasons)
    assert UrgencyRules.from_mapping({"learned": False}).assess(text).level == "一般"
    assert UrgencyRules.from_mapping({"learned_threshold": 0.999}).assess(text).level == "一般"
    # The keyword baseline is the rules' vocabulary alone.
    assert UrgencyRules.from_mapping({}, context=False).signal is None
    # A rule's 紧急 is not second-guessed, and an ordinary call stays 一般.
    assert on.assess("燃气泄漏了").reasons[0]["rule"] != "learned"
    assert on.assess("社保卡怎么补办").level == "一般"


@pytest.mark.parametrize("raw, needle", [
    ({"learned": "yes"}, "learned = 'yes'"),
    ({"learned_threshold": 1.5}, "between 0 and 1"),
    ({"learned_threshold": True}, "between 0 and 1"),
])
def test_signal_settings_are_validated(raw, needle):
    with pytest.raises(UrgencyRuleError) as exc:
        UrgencyRules.from_mapping(raw)
    assert needle in str(exc.value)
