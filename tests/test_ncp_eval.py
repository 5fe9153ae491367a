"""The NCP policy KB dev set: the document split, the written rewrites, and
`hotline eval search --task ncp` against the external protocol (kb import,
index build, search --json) on a tiny synthetic KB. Only the rewrites check
reads the shared NCP file, and it skips cleanly without it."""
from __future__ import annotations

import collections
import contextlib
import csv
import io
import json

import pytest

from foundation.settings import Settings
from training.ncp_data import (DATA, STYLES, _key, is_dev_doc, ncp_split, read_qa,
                               read_rewrites, resolve_refs, rewrite_sample)

# A tiny KB written for this test (not the shared data): id, docid, question, answer.
QA = [
    ("q01", "d1", "疫情期间社保费可以延期缴纳吗？", "可申请缓缴，最长6个月，免收滞纳金。"),
    ("q02", "d1", "小微企业房租减免有哪些政策？", "承租国有资产用房的免收3个月房租。"),
    ("q03", "d2", "纳税申报期限延长到什么时候？", "2月份申报期延长至2月24日。"),
    ("q04", "d2", "发热咨询热线电话是多少？", "拨打24小时发热咨询专线。"),
    ("q05", "d3", "复工企业需要做好哪些防控措施？", "测体温、戴口罩、分散就餐、每日消毒。"),
    ("q06", "d3", "捐赠防疫物资进口免征关税吗？", "免征进口关税和进口环节增值税。"),
    ("q07", "d4", "学校什么时候开学？", "2月底前不开学，具体时间另行通知。"),
    ("q08", "d4", "医务人员临时补助要交个人所得税吗？", "免征个人所得税。"),
    ("q09", "d5", "企业贷款到期还不上怎么办？", "可申请展期或无还本续贷。"),
    ("q10", "d5", "结婚登记预约取消了怎么办？", "重新预约登记时间。"),
    ("q11", "d6", "纳税申报期限延长到什么时候？", "延长至2月24日。"),   # twin of q03
]
REWRITES = [
    ("q01", "colloquial", "我想问一下疫情这段时间社保费能不能晚点交啊？"),
    ("q02", "keyword", "小微企业 房租 减免"),
    ("q03", "typo", "纳税申报期限廷长到什么时后？"),
    ("q04", "phone", "嗯 那个发热了 想咨询 就是打哪个电话"),
    ("q05", "traditional", "復工的企業要做好哪些防控措施啊？"),
    ("q07", "colloquial", "我想问下学校到底啥时候开学？"),
    ("q08", "keyword", "医务人员 临时补助 个税"),
    ("q09", "phone", "喂 就是企业那个贷款到期了 嗯 还不上了 怎么办"),
]


def _write_shared(root):
    d = root / "ncp_policy_qa"
    d.mkdir(parents=True)
    with open(d / "qa_train.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "docid", "question", "answer"])
        w.writerows(QA)
    return root


def test_split_is_by_document_stable_and_drops_dev_question_twins(tmp_path):
    rows = [(f"r{i}", f"doc{i // 3}", f"问题{i}怎么办？", f"答案{i}") for i in range(600)]
    dev_docs = sorted({d for _, d, _, _ in rows if is_dev_doc(d)})
    # a training-document row that repeats a dev question (punctuation aside) must be dropped
    twin_of = next(q for _, d, q, _ in rows if d == dev_docs[0])
    train_doc = next(d for _, d, _, _ in rows if not is_dev_doc(d))
    rows.append(("twin", train_doc, twin_of.rstrip("？") + " ?", "另一个答案"))
    d = tmp_path / "ncp_policy_qa"
    d.mkdir()
    with open(d / "qa_train.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("id", "docid", "question", "answer"), *rows])
    train, dev = ncp_split(tmp_path)
    assert {r["docid"] for r in train}.isdisjoint({r["docid"] for r in dev})
    assert all(r["id"] != "twin" for r in train)
    assert len(train) + len(dev) == len(rows) - 1
    assert 0.12 < len(dev_docs) / 200 < 0.28                     # ~20 % of documents
    assert ncp_split(tmp_path) == (train, dev)                   # stable
    assert rewrite_sample(dev, 5) == rewrite_sample(list(reversed(dev)), 5)   # order-free


def test_written_rewrites_are_balanced_and_refer_to_dev_rows():
    rewrites = read_rewrites()
    counts = collections.Counter(r["style"] for r in rewrites)
    assert len(rewrites) >= 320 and set(counts) == set(STYLES) and min(counts.values()) >= 60
    assert len({r["id"] for r in rewrites}) == len(rewrites)
    shared = Settings.load(env={}).shared_data
    if not (shared / "ncp_policy_qa" / "qa_train.csv").is_file():
        pytest.skip(f"shared NCP data not at {shared}: checked the file alone")
    _, dev = ncp_split(shared)
    ids = resolve_refs(rewrites, read_qa(shared))              # each names one row
    assert all(len(r["id"]) < 30 for r in rewrites)            # a reference, not the shared cell
    dev_q = {r["id"]: r["question"] for r in dev}
    assert all(i in dev_q for i in ids)                        # only held-out questions
    assert not [r for r, i in zip(rewrites, ids) if _key(r["query"]) == _key(dev_q[i])]   # no copies
    assert set(ids) == {r["id"] for r in rewrite_sample(dev, len(rewrites))}


@pytest.mark.parametrize("name", ["train.csv", "train_heavy.csv"])
def test_training_rewrites_refer_to_training_rows_only(name):
    """The training rewrites feed fine-tuning: a reference to a dev row would leak the dev set."""
    path = DATA / name
    rewrites = read_rewrites(path)
    counts = collections.Counter(r["style"] for r in rewrites)
    assert len(rewrites) >= 1000 and set(counts) == set(STYLES) and min(counts.values()) >= 200
    assert len({r["id"] for r in rewrites}) == len(rewrites)
    assert {r["id"] for r in rewrites}.isdisjoint({r["id"] for r in read_rewrites()})
    shared = Settings.load(env={}).shared_data
    if not (shared / "ncp_policy_qa" / "qa_train.csv").is_file():
        pytest.skip(f"shared NCP data not at {shared}: checked the file alone")
    train, dev = ncp_split(shared)
    ids = resolve_refs(rewrites, read_qa(shared), path)
    train_q = {r["id"]: r["question"] for r in train}
    assert all(i in train_q for i in ids)                      # never a dev document's row
    assert not [r for r, i in zip(rewrites, ids) if _key(r["query"]) == _key(train_q[i])]
    with pytest.raises(ValueError, match="names 0 rows"):       # a dev row is refused
        resolve_refs([{"id": dev[0]["id"][:16]}], train, path)


def test_eval_ncp_matches_the_external_protocol_on_a_tiny_kb(search_home, tmp_path):
    from hotline.cli.main import main
    from training.eval_ncp import score_search_output
    from training.eval_search import run, to_markdown

    shared = _write_shared(tmp_path / "shared")
    rw = tmp_path / "rewrites.csv"
    with open(rw, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("id", "style", "query"), *REWRITES])
    home = tmp_path / "home"
    home.mkdir()
    (home / "embedders").symlink_to(search_home / "embedders")   # the exported default embedder
    settings = Settings.load({"home": home, "shared_data": shared}, env={})
    out = tmp_path / "export"

    report = run(settings, progress=False, tasks=("ncp",), ncp_rewrites=rw, ncp_export=out)
    task = report["tasks"][0]
    assert task["task"] == "ncp" and task["entries"] == len(QA) and task["queries"] == len(REWRITES)
    res = task["results"]
    assert set(res) == {"all", *STYLES}
    for subset in res.values():
        assert set(subset) == {"fused", "fused_no_aspect", "fused_no_place",
                               "fused_no_unasked_place", "dense", "lexical", "tfidf"}
        for m in subset.values():
            assert 0 <= m["R@1"] <= m["R@5"] <= 1 and m["R@1"] <= m["MRR@10"] <= 1
    assert res["all"]["fused"]["R@5"] >= 0.75        # a working pipeline finds most of them
    assert "| keyword | tfidf |" in to_markdown(report)

    gold = json.loads((out / "gold.json").read_text(encoding="utf-8"))
    assert gold[2]["relevant"] == ["q03", "q11"]      # the twin question counts as found

    # The external protocol on the exported files gives the same fused figures.
    assert main(["--home", str(home), "kb", "import", str(out / "kb.csv"), "--no-progress"]) == 0
    assert main(["--home", str(home), "index", "build"]) == 0
    results = tmp_path / "results.jsonl"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["--home", str(home), "search", "--queries", str(out / "queries.txt"),
                     "--k", "10", "--json"]) == 0
    results.write_text(buf.getvalue(), encoding="utf-8")
    assert score_search_output(out / "gold.json", results) == {
        s: m["fused"] for s, m in res.items()}
