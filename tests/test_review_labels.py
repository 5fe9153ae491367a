"""Review-only labels: a type head that learned `other` (proposals, thanks) never
answers it; a text most like it goes to a person with the reason `type:other`,
typed as the likeliest request type, on every prediction path."""
from __future__ import annotations

import numpy as np
import pytest

PLACES = ["人民路", "解放大道", "滨江公园", "火车站", "实验小学", "中心医院", "体育馆",
          "汽车站", "图书馆", "东湖小区", "新华书店", "老城区"]
IDEAS = ["增设一个公交站", "修建一座人行天桥", "多安排几条公交线路", "建一个停车场",
         "增加一些公共厕所", "开通一条地铁线", "设置一个非机动车道", "增设几个垃圾分类点"]
THANKS = ["的工作人员服务很好", "的民警帮我找回了钱包", "的社区干部热心帮忙", "的医生很负责"]


def proposals(places):
    rows = [{"title": f"建议在{p}附近{idea}，方便市民出行", "detail": "", "type": "other"}
            for p in places for idea in IDEAS[: len(IDEAS) // 2]]
    rows += [{"title": f"特别感谢{p}{t}，给他们点赞", "detail": "", "type": "other"}
             for p in places for t in THANKS[:2]]
    return rows


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from training import gov_data
    from training.train_classifier import REQUEST_TYPES, REVIEW_LABELS, train_head

    calls = [r for r in gov_data.phone_calls() if r["split"] == "train"][::3]
    out = tmp_path_factory.mktemp("review_labels") / "model"
    m = train_head("type", None, out, ["title", "detail"], "type",
                   extra_rows=calls + proposals(PLACES[:8]), progress=False,
                   labels=REQUEST_TYPES, review_labels=REVIEW_LABELS)
    return out, m


def test_the_review_label_is_learned_and_recorded(model):
    from classifier import load_bundle

    out, m = model
    assert m["review_labels"] == ["other"]
    assert set(m["labels"]) == {"consult", "complaint", "fault", "other"}
    bundle = load_bundle(out)
    assert set(bundle.heads["type"].labels_) == set(m["labels"])
    assert set(bundle.type_labels) == {"consult", "complaint", "fault"}


def test_a_proposal_goes_to_review_typed_as_a_request(model):
    from classifier import load_bundle
    from classifier.bundle import prediction_columns

    out, _ = model
    bundle = load_bundle(out)
    unseen = [f"建议在{p}{idea}" for p in PLACES[8:] for idea in IDEAS[4:]]
    unseen += [f"感谢{p}{t}" for p in PLACES[8:] for t in THANKS[2:]]
    preds = bundle.predict(unseen)
    diverted = [p for p in preds if "type:other" in p.review_reasons]
    assert len(diverted) >= 0.6 * len(unseen), [(p.type, p.review_reasons) for p in preds]
    for p in preds:
        assert p.type in ("consult", "complaint", "fault")
        assert set(p.type_probs) == {"consult", "complaint", "fault"}
        assert sum(p.type_probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert p.type_conf == pytest.approx(max(p.type_probs.values()), abs=1e-4)
    for p in diverted:
        assert p.needs_review and "type" not in p.review_reasons
    # The batch path answers the same: a request type, and review for the diverted.
    cols = bundle.predict_columns(unseen)
    assert [c[:2] for c in cols] == [c[:2] for c in map(prediction_columns, preds)]
    assert all(c[4] for c, p in zip(cols, preds) if "type:other" in p.review_reasons)


def test_requests_are_not_diverted(model):
    from classifier import load_bundle
    from training import gov_data

    out, _ = model
    dev = [r for r in gov_data.phone_calls() if r["split"] == "dev"]
    preds = load_bundle(out).predict_batch([r["title"] for r in dev])
    diverted = np.mean(["type:other" in p.review_reasons for p in preds])
    right = np.mean([p.type == r["type"] for p, r in zip(preds, dev)])
    assert diverted < 0.05 and right > 0.8, (diverted, right)


def test_a_review_label_survives_the_share_rule_down_to_a_floor():
    from training.train_classifier import MIN_REVIEW_LABEL_ROWS, prepare_rows

    def rows(n_other):
        out = [{"t": f"第{i}条路灯不亮了请修", "type": "fault"} for i in range(300)]
        out += [{"t": f"第{i}个问题怎么办理", "type": "consult"} for i in range(300)]
        out += [{"t": f"第{i}条建议增设座椅", "type": "other", "alt": ""} for i in range(n_other)]
        return out

    keep = ("consult", "fault")
    items, report = prepare_rows(rows(40), ["t"], "type", 60, keep_labels=keep,
                                 review_labels=("other",))
    assert sum(o["label"] == "other" for o in items) == 40 and report["rare_labels"] == []
    items, _ = prepare_rows(rows(40), ["t"], "type", 60, keep_labels=keep)
    assert not any(o["label"] == "other" for o in items)      # not asked for: dropped
    items, report = prepare_rows(rows(MIN_REVIEW_LABEL_ROWS - 1), ["t"], "type", 60,
                                 keep_labels=keep, review_labels=("other",))
    assert report["rare_labels"] == ["other"] and not any(o["label"] == "other" for o in items)


def test_the_served_demo_model_sends_proposals_and_thanks_to_review(served_home):
    """The demo type head (training.prepare -> train_demo) learns the project's written
    proposals and thanks (kb/demo/proposals.py) as the review-only label."""
    from classifier import load_bundle
    from foundation.artifacts import resolve_current
    from tests.conftest import make_settings

    settings = make_settings(served_home)
    bundle = load_bundle(resolve_current(settings.models_root), settings=settings)
    assert bundle.review_labels == {"type": ("other",)}
    preds = bundle.predict(["建议在我们小区门口增设一个公交站，方便老人出行",
                            "感谢城管局的工作人员，上次反映的问题第二天就解决了，给他们点赞",
                            "小区门口的路灯坏了一个星期了，晚上一片漆黑，请尽快派人维修"])
    assert "type:other" in preds[0].review_reasons and "type:other" in preds[1].review_reasons
    assert "type:other" not in preds[2].review_reasons


def test_the_answered_probabilities_are_renormalised_even_when_tiny():
    """A head sure of the hidden label leaves ~1e-89 to the others: still a
    distribution over the answered labels (it once showed 4e-89 as the confidence)."""
    from classifier.bundle import ClassifierBundle

    bundle = ClassifierBundle.__new__(ClassifierBundle)
    bundle.review_labels = {"type": ("other",)}
    p = np.array([[1e-89, 3e-89, 1.0], [0.0, 0.0, 1.0], [0.6, 0.3, 0.1]])
    (labels, q, review), notes = bundle.answerable("type", ["consult", "fault", "other"], p,
                                                    np.zeros(3, bool))
    assert labels == ["consult", "fault"]
    assert np.allclose(q, [[0.25, 0.75], [0.5, 0.5], [2 / 3, 1 / 3]])
    assert review.tolist() == [True, True, False]
    assert notes == ["type:other", "type:other", None]


def test_train_cli_takes_review_labels_and_refuses_an_unknown_one(tmp_path, capsys):
    import csv
    import json

    from hotline.cli.main import main
    from training import gov_data

    rows = [r for r in gov_data.phone_calls() if r["split"] == "train"][::4] + proposals(PLACES)
    data = tmp_path / "orders.csv"
    with open(data, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, ["title", "detail", "type"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    base = ["--home", str(tmp_path / "home"), "train", "--head", "type", "--data", str(data),
            "--out", str(tmp_path / "model")]
    assert main(base + ["--review-labels", "other"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["review_labels"] == ["other"] and "other" in printed["labels"]
    manifest = json.loads((tmp_path / "model" / "type" / "manifest.json").read_text("utf-8"))
    assert manifest["review_labels"] == ["other"]
    assert main(base + ["--review-labels", "suggestion"]) != 0
    err = capsys.readouterr()
    assert "suggestion" in err.out + err.err and "complaint" in err.out + err.err
    dept = [("department" if a == "type" else a) for a in base]
    assert main(dept + ["--review-labels", "other"]) == 2
    assert "--head type only" in capsys.readouterr().out
