"""Classifier heads, bundle, calibration, registry: trained for real on a small
work-order set the test writes (10 departments x 3 types)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from classifier import BadTrainingData, load_bundle, prediction_columns
from classifier.calibration import ece, pick_thresholds, review_mask, softmax
from classifier.features import TextFeatures, char_ngrams, ngram_index
from training.train_classifier import train_head

TOPICS = [("路灯", "市城管局"), ("居住证", "市公安局"), ("失业保险金", "市人社局"),
          ("医保报销", "市医保局"), ("公积金提取", "市住房公积金中心"), ("噪音扰民", "市生态环境局"),
          ("自来水", "市水务集团"), ("小学入学", "市教育局"), ("营业执照", "市市场监管局"),
          ("公交线路", "市交通运输局")]
TEMPLATES = [
    ("consult", "请问{t}怎么办理", "您好，我想咨询一下{t}需要哪些材料，去哪里办理，谢谢。"),
    ("consult", "咨询{t}", "想了解{t}的具体流程和办理时间。"),
    ("complaint", "投诉{t}问题", "{t}的问题反映多次一直没人处理，严重影响生活，要求尽快整改。"),
    ("complaint", "对{t}不满", "工作人员态度很差，{t}的事情拖了一个月还没解决。"),
    ("fault", "{t}坏了", "我们这里{t}出现故障已经三天了，请尽快派人维修。"),
]
DEPARTMENTS = [{"name": d, "responsibilities": f"{t}相关事务", "keywords": [t], "reply_days": 5 + i,
                "aliases": []} for i, (t, d) in enumerate(TOPICS)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("clf")
    path = root / "orders.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "detail", "type", "department"])
        for rep in range(4):
            for topic, dept in TOPICS:
                for kind, title, detail in TEMPLATES:
                    w.writerow([title.format(t=topic), f"{detail.format(t=topic)}（第{rep}次）",
                                kind, dept])
        w.writerow(["", "", "consult", "市公安局"])  # empty text: dropped
    tax = root / "departments.json"
    tax.write_text(json.dumps(DEPARTMENTS, ensure_ascii=False), encoding="utf-8")
    return root, path, tax


@pytest.fixture(scope="module")
def model(data):
    root, path, tax = data
    out = root / "M"
    train_head("department", path, out, ["title", "detail"], "department", taxonomy=tax,
               progress=False)
    train_head("type", path, out, ["title", "detail"], "type", progress=False)
    return out


def test_bundle_predicts_both_heads_with_evidence(model):
    bundle = load_bundle(model)
    [p] = bundle.predict(["小区路灯坏了\n我们小区的路灯坏了好几天，晚上很黑，请派人维修"])
    assert p.department == "市城管局"
    assert p.type == "fault"
    assert sum(p.type_probs.values()) == pytest.approx(1.0, abs=1e-3)
    probs = [d["prob"] for d in p.department_top3]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True)
    assert p.department_conf == pytest.approx(probs[0], abs=1e-4)
    assert p.reply_days == 5
    ev = p.evidence
    assert "路灯" in ev["keywords"]
    assert any("路灯" in w["term"] or "灯" in w["term"] for w in ev["words"])
    assert ev["similar_cases"] and ev["similar_cases"][0]["department"] == "市城管局"
    assert "type" in ev["similar_cases"][0]


def test_department_scores_mix_in_the_router_for_issue_clauses(model):
    """What dispatch.codepts scores clauses with: the head's probabilities with
    ISSUE_ROUTER_WEIGHT of the cold-start router mixed in by name; 0 gives the
    head alone (the prediction's top 3)."""
    from classifier.bundle import ISSUE_ROUTER_WEIGHT

    bundle = load_bundle(model)
    text = "另外公积金提取"
    [head] = bundle.department_scores([text], k=10, router_weight=0)
    [p] = bundle.predict([text])
    assert [max(head, key=head.get)] == [p.department]
    assert head[p.department] == pytest.approx(p.department_conf, abs=1e-4)
    router = bundle._issue_router
    assert router is None                       # fitted only when mixed in
    [mixed] = bundle.department_scores([text], k=10)
    assert 0 < ISSUE_ROUTER_WEIGHT < 1 and bundle._issue_router is not None
    r = dict(zip(bundle._issue_router.labels_,
                 bundle._issue_router.predict_proba(TextFeatures([text]))[0]))
    for name, v in mixed.items():
        assert v == pytest.approx((1 - ISSUE_ROUTER_WEIGHT) * head.get(name, 0)
                                  + ISSUE_ROUTER_WEIGHT * r[name], abs=1e-6)
    assert sum(mixed.values()) == pytest.approx(1.0, abs=1e-3)   # 10 departments, k=10
    assert bundle.department_scores(["！！"]) == [{}]


def test_batch_path_matches_single_path(model):
    bundle = load_bundle(model)
    texts = ["请问居住证怎么办理\n需要哪些材料", "投诉噪音扰民\n楼下工地半夜施工", "公交线路咨询"]
    a, b = bundle.predict(texts), bundle.predict_batch(texts)
    assert [x.department for x in a] == [x.department for x in b]
    assert [x.type_conf for x in a] == pytest.approx([x.type_conf for x in b])
    cols = prediction_columns(b[0])
    assert cols[0] == b[0].type and isinstance(cols[4], bool)
    assert json.loads(cols[5])[0]["label"] == b[0].department


def test_training_second_head_leaves_first_untouched(data, tmp_path):
    root, path, _ = data
    out = tmp_path / "M"
    train_head("department", path, out, ["title", "detail"], "department", progress=False)
    before = {p.name: p.read_bytes() for p in (out / "department").iterdir()}
    train_head("type", path, out, ["title", "detail"], "type", progress=False)
    after = {p.name: p.read_bytes() for p in (out / "department").iterdir()}
    assert before == after
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["heads"]) == ["department", "type"]
    head_manifest = json.loads((out / "type" / "manifest.json").read_text(encoding="utf-8"))
    assert head_manifest["labels"] == ["complaint", "consult", "fault"]
    assert set(head_manifest["thresholds"]) == {"complaint", "consult", "fault"}
    assert head_manifest["data_hash"] and head_manifest["metrics"]["macro_f1"] > 0.8


def test_bad_label_column_is_named(data, tmp_path):
    _, path, _ = data
    with pytest.raises(BadTrainingData, match="label_l1"):
        train_head("department", path, tmp_path / "M", ["title", "detail"], "label_l1",
                   progress=False)


def test_cold_start_routes_by_taxonomy(data, tmp_path):
    _, _, tax = data
    out = tmp_path / "cold"
    out.mkdir()
    (out / "taxonomy.json").write_bytes(tax.read_bytes())
    bundle = load_bundle(out)
    [p] = bundle.predict(["我想办理营业执照，需要什么材料"])
    assert p.department == "市市场监管局"
    # No labelled history: the review flag is the router's margin (top-1 minus
    # top-2 below REVIEW_MARGIN), not "always"; no type head adds no doubt.
    from classifier.coldstart import REVIEW_MARGIN

    for q in bundle.predict(["我想办理营业执照，需要什么材料", "你们好", "停水了还有人占道摆摊"]):
        top = sorted((d["prob"] for d in q.department_top3), reverse=True) + [0.0]
        margin = top[0] - top[1]
        if abs(margin - REVIEW_MARGIN) > 1e-3:     # top3 probabilities are rounded
            assert q.needs_review == (margin < REVIEW_MARGIN)
        assert q.review_reasons == (["department"] if q.needs_review else [])
    assert not p.needs_review


def test_hashed_ngrams_match_analyzer():
    prep = TextFeatures(["路灯坏了\n小区路灯不亮"])
    cols = set(prep.counts[0].indices.tolist())
    grams = char_ngrams(prep.full[0])
    assert {ngram_index(g) for g in grams} == cols
    assert prep.titles == ["路灯坏了"]


def test_thresholds_reach_target_precision():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    conf = rng.uniform(0.5, 1.0, 2000)
    correct = rng.uniform(size=2000) < conf  # accuracy grows with confidence
    pred = np.where(correct, y, 1 - y)
    probs = np.zeros((2000, 2))
    probs[np.arange(2000), pred] = conf
    probs[np.arange(2000), 1 - pred] = 1 - conf
    thr = pick_thresholds(probs, y, ["a", "b"], target_precision=0.9)
    auto = ~review_mask(probs, ["a", "b"], thr)
    for k, label in enumerate(["a", "b"]):
        sel = auto & (pred == k)
        assert (y[sel] == k).mean() >= 0.9
        assert 0 < thr[label]["coverage"] < 1
    assert ece(probs, y) < 0.05
    assert softmax(np.array([[0.0, 0.0]]))[0].tolist() == [0.5, 0.5]


def test_registry_promote_and_rollback(model, tmp_path):
    from classifier import registry

    root = tmp_path / "models"
    first = registry.promote(root, str(model))
    second = registry.promote(root, str(model))
    assert first != second
    assert [v["current"] for v in registry.list_versions(root)] == [False, True]
    assert registry.rollback(root) == first
    assert load_bundle(root / first).department_labels


def test_evidence_words_skip_pii_and_punctuation_fragments(model):
    from classifier.head import _shown_term, evidence_text

    masked = evidence_text("路灯坏了，电话13812345678，身份证110101199003074514")
    assert "138" not in masked and "1101" not in masked and "手机号" not in masked
    assert not _shown_term("12") and not _shown_term("了，电") and _shown_term("路灯")
    assert _shown_term("a3区")
    from classifier.head import _word_aligned
    span = _word_aligned("严重影响住房公积金提取")
    assert span(1, 2) is None                  # 重影 straddles 严重|影响
    assert span(0, 2) == (0, 2)                # 严重 is a word
    assert span(7, 2) == (4, 9)                # 积金 stands for the word 住房公积金
    bundle = load_bundle(model)
    [p] = bundle.predict(["路灯坏了\n第1次反映，路灯坏了请维修，联系电话13812345678，谢谢"])
    terms = [w["term"] for w in p.evidence["words"]]
    assert terms
    for t in terms:
        assert _shown_term(t), t
        assert t not in "13812345678" and "手机" not in t


def test_weak_fault_labels_train_but_are_never_scored(data, tmp_path):
    root, path, _ = data
    pool = tmp_path / "unlabeled.csv"
    with open(pool, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "detail", "reply"])
        w.writerow(["小区电梯坏了", "电梯故障一周了没人修", ""])
        w.writerow(["红绿灯损坏", "路口红绿灯不亮", ""])
        w.writerow(["请问电梯年检", "想咨询电梯年检流程", ""])        # no broken state: not fault
        w.writerow(["路灯坏了", "我们这里路灯出现故障已经三天了，请尽快派人维修。（第0次）", ""])
        w.writerow(["井盖破损", "路中间井盖破损很危险", ""])
    out = tmp_path / "M"
    m = train_head("type", path, out, ["title", "detail"], "type", progress=False,
                   unlabeled=pool, exclude_texts=["井盖破损\n路中间井盖破损很危险"])
    assert m["weak_labels"]["rows"] == 2  # the excluded text and a training duplicate are skipped
    assert m["n_rows"] == 200
    assert sum(v["support"] for v in m["metrics"]["per_class"].values()) == 200
    plain = train_head("type", path, tmp_path / "P", ["title", "detail"], "type", progress=False)
    assert plain["weak_labels"] is None and plain["data_hash"] != m["data_hash"]
    [p] = load_bundle(out).predict(["小区电梯坏了\n电梯故障一周了没人修"])
    assert p.type == "fault"


def test_outage_titles_are_weak_fault_labels(data, tmp_path):
    from training.weak_labels import is_fault_title

    # An outage is a fault by definition even with no "broken" word; a question
    # or a complaint without a fault object or outage is not.
    assert is_fault_title("小区频繁停水") and is_fault_title("村里手机信号差")
    assert is_fault_title("路灯坏了") and not is_fault_title("请问居住证怎么办理")
    assert not is_fault_title("投诉噪音扰民")
    root, path, _ = data
    pool = tmp_path / "unlabeled.csv"
    with open(pool, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "detail"])
        w.writerow(["小区频繁停水", "这个月已经停了三次，居民生活很不方便"])
        w.writerow(["村里手机信号差", "打电话经常断线"])
        w.writerow(["请问停车证怎么办理", "想咨询一下流程"])
    m = train_head("type", path, tmp_path / "M", ["title", "detail"], "type", progress=False,
                   unlabeled=pool)
    assert m["weak_labels"]["rows"] == 2 and m["weak_labels"]["weight"] == 0.3


def test_unlabeled_pool_beside_the_data_first_then_shared_data(tmp_path):
    from foundation.settings import Settings
    from training.weak_labels import POOL, POOL_NAME, unlabeled_pool

    shared = tmp_path / "shared"
    (shared / POOL).parent.mkdir(parents=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    settings = Settings.load(overrides={"home": tmp_path / "home", "shared_data": shared}, env={})
    assert unlabeled_pool(settings, mine / "typed.csv") is None  # neither exists: no weak labels
    (shared / POOL).write_text("title,detail\n", encoding="utf-8")
    assert unlabeled_pool(settings, mine / "typed.csv") == shared / POOL
    (mine / POOL_NAME).write_text("title,detail\n", encoding="utf-8")
    assert unlabeled_pool(settings, mine / "typed.csv") == mine / POOL_NAME
    assert unlabeled_pool(None, mine / "typed.csv") == mine / POOL_NAME


def test_type_head_from_another_cue_lexicon_is_refused(model, tmp_path):
    import shutil

    from classifier.cues import CUE_IDENTITY
    from classifier.errors import BadModel
    from classifier.head import TextHead

    head_dir = tmp_path / "type"
    shutil.copytree(model / "type", head_dir)
    assert TextHead.load(head_dir).cues
    state = json.loads((head_dir / "head.json").read_text(encoding="utf-8"))
    assert state["cue_lexicon"] == CUE_IDENTITY
    del state["cue_lexicon"]  # a head from before the lexicon was versioned
    (head_dir / "head.json").write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(BadModel, match="cue lexicon 'cues/v1'.*retrain"):
        TextHead.load(head_dir)


def test_type_rare_labels_are_a_share_of_the_training_rows(tmp_path):
    import csv

    from training.train_classifier import train_head

    places = ["幸福小区", "滨江花园", "东湖社区", "南门街道", "城西新村", "北苑家园", "金桥小区",
              "红星路", "长江路", "人民路"]
    kinds = {"complaint": ("{p}夜里施工噪音太大，多次反映没人管", 60),
             "consult": ("请问{p}附近怎么办理居住证", 20),
             "fault": ("{p}停水一整天了，请尽快维修", 7),
             "other": ("{p}表扬社区工作人员热心服务", 3)}
    path = tmp_path / "typed.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "detail", "type"])
        for label, (template, n) in kinds.items():
            for i in range(n):
                w.writerow([template.format(p=places[i % len(places)]), f"第{i}次", label])
    # 90 rows: the rare bar is max(5, 7.5 %) = 6, so fault (7) stays and other (3) goes.
    report = train_head("type", path, tmp_path / "M", ["title", "detail"], "type", progress=False)
    assert report["labels"] == ["complaint", "consult", "fault"]
    assert report["cleaning"]["rare_labels"] == ["other"]


def test_text_without_content_gets_no_confident_label(model):
    """A Python-API caller (the HTTP layer refuses such text) gets no label and
    needs_review with reason no_content, on every prediction path, instead of the
    prior's confident guess."""
    bundle = load_bundle(model)
    texts = ["？？！！。。", "小区路灯坏了\n路灯坏了好几天", "……\n😀👍", " \t！ 。"]
    for preds in (bundle.predict(texts), bundle.predict_batch(texts)):
        for i in (0, 2, 3):
            p = preds[i]
            assert p.type is None and p.department is None, p
            assert p.type_conf == 0.0 and p.department_conf == 0.0
            assert p.type_probs == {} and p.department_top3 == []
            assert p.needs_review and p.review_reasons == ["no_content"]
        assert preds[1].department == "市城管局" and "no_content" not in preds[1].review_reasons
    [p] = bundle.predict(["!!!"])
    assert p.evidence["similar_cases"] == [] and p.evidence["words"] == []
    cols = bundle.predict_columns(texts)
    assert cols == [prediction_columns(p) for p in bundle.predict_batch(texts)]
    assert cols[0] == ("", 0.0, "", 0.0, True, "[]")


def test_top_labels_that_show_the_same_probability_keep_label_order():
    """Ranks follow the probabilities as shown (4 decimals), ties in label order:
    noise in the last bits, which depends on the batch a text is scored in, must not
    reorder a top 3 (a resumed batch run once wrote 市医保局 and 市市场监管局, both 0.0,
    in the other order than an uninterrupted run)."""
    import numpy as np

    from classifier.bundle import _ranked

    p = np.array([[0.9998, 1e-12, 3e-12, 0.0002], [3e-12, 1e-12, 0.9998, 0.0002]])
    assert _ranked(p).tolist() == [[0, 3, 1, 2], [2, 3, 0, 1]]
