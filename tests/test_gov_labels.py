"""The project's request-type labels of real messages (stored by id only):
well-formed, and the evaluation sample kept apart from what the gov recipe
trains on."""
from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest

from training import gov_data

TYPES = {"consult", "complaint", "fault", "other"}


def _rows(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("path", [gov_data.GOV_LABELS, gov_data.GOV_EVAL_LABELS],
                         ids=["training", "evaluation"])
def test_label_file_is_well_formed(path):
    rows = _rows(path)
    assert list(rows[0]) == ["msg_id", "type", "clarity", "alt", "src", "pass"]
    keys = [(r["msg_id"], r["pass"]) for r in rows]
    assert len(keys) == len(set(keys)), "a message read twice in one pass"
    for r in rows:
        assert r["msg_id"].isdigit() and r["pass"] in ("1", "2"), r
        assert r["type"] in TYPES and r["clarity"] in ("clear", "ambiguous"), r
        if r["clarity"] == "clear":
            assert r["alt"] == "", r
        else:
            assert r["alt"] in TYPES and r["alt"] != r["type"], r
    first = {r["msg_id"] for r in rows if r["pass"] == "1"}
    second = {r["msg_id"] for r in rows if r["pass"] == "2"}
    assert second and second <= first, "a second reading of a message the first pass lacks"


def test_evaluation_sample_is_disjoint_from_the_training_labels():
    trained = {r["msg_id"] for r in _rows(gov_data.GOV_LABELS)}
    held = {r["msg_id"] for r in _rows(gov_data.GOV_EVAL_LABELS)}
    assert len(held) == 1600
    assert not trained & held


def test_eval_messages_joins_first_pass_labels_with_their_text(tmp_path, monkeypatch):
    gov = tmp_path / "gov_messages"
    gov.mkdir()
    (gov / "messages_train.csv").write_text("title,detail,label_l1\n", encoding="utf-8")
    with open(gov / "unlabeled_messages.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["msg_id", "title", "detail"])
        w.writerow(["11", "路灯坏了", "小区门口的路灯一周没亮"])
        w.writerow(["12", "咨询社保", "社保卡怎么补办"])
    labels = tmp_path / "labels.csv"
    labels.write_text("msg_id,type,clarity,alt,src,pass\n"
                      "11,fault,clear,,random,1\n"
                      "12,consult,ambiguous,complaint,random,1\n"
                      "11,complaint,clear,,random,2\n"      # a second reading: not a label
                      "99,fault,clear,,random,1\n",         # no such message: skipped
                      encoding="utf-8")
    monkeypatch.setattr(gov_data, "GOV_EVAL_LABELS", labels)
    rows = gov_data.eval_messages(SimpleNamespace(shared_data=tmp_path))
    assert [(r["msg_id"], r["type"], r["title"]) for r in rows] == [
        ("11", "fault", "路灯坏了"), ("12", "consult", "咨询社保")]
    assert rows[1]["alt"] == "complaint" and rows[1]["detail"] == "社保卡怎么补办"
