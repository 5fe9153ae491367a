"""Cold-start routing (classifier/coldstart.py): the project's written examples,
keyword matching, the review margin, self-training on a run's input and its
persistence in the batch bundle, and `hotline eval coldstart`."""
from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifier.coldstart import (ColdStartRouter, KeywordMatcher, credit_bare_departments,
                                  load_topics, matched_keywords)
from classifier.errors import BadModel
from classifier.features import TextFeatures

ROOT = Path(__file__).resolve().parents[1]
DEPTS = [
    {"name": "供水公司", "responsibilities": "城市供水、停水抢修、水质问题",
     "keywords": ["停水", "自来水", "水压", "水管"]},
    {"name": "教育局", "responsibilities": "中小学和幼儿园管理", "keywords": ["学校", "招生"]},
    {"name": "城管局", "responsibilities": "占道经营、违章搭建、噪音扰民",
     "keywords": ["占道", "违建", "噪音", "摆摊"]},
]


def _route(router: ColdStartRouter, texts: list[str]) -> list[str]:
    p = router.predict_proba(TextFeatures(texts))
    return [router.labels_[i] for i in p.argmax(1)]


def test_keyword_matcher_finds_what_the_per_keyword_loop_finds():
    depts = [{"name": "a", "keywords": ["停水", "停水通知", "水", "ＡＢＣ"]},
             {"name": "b", "keywords": ["通知", "水压", "abc", "停"]}, {"name": "c"}]
    texts = ["小区停水通知没有贴出来，水压也低", "ABC公司停电", "", "毫无关系的话",
             "停停停水水水"]
    got = KeywordMatcher(depts).counts(texts)
    want = [[len(matched_keywords(t, d)) for d in depts] for t in texts]
    assert got.tolist() == want
    assert got[0].tolist() == [3, 3, 0]     # nested keywords all count (停水, 停水通知, 水)
    # The evidence path passes TextFeatures.full, normalised already: not normalised again.
    full = TextFeatures(texts).full
    assert [[matched_keywords(t, d, normalized=True) for d in depts] for t in full] == \
        [[matched_keywords(t, d) for d in depts] for t in texts]


def test_topics_go_only_to_departments_of_the_list_that_do_them():
    router = ColdStartRouter(DEPTS).fit()
    mapped = router.topic_departments_
    assert mapped["学校与教育"] == "教育局" and mapped["供水与自来水"] == "供水公司"
    assert mapped["市政设施与城市管理"] == "城管局"
    # Nothing in this list does hospitals or wages: those examples are left out.
    assert "医院与医疗卫生" not in mapped and "工资与劳动关系" not in mapped
    assert set(mapped.values()) <= {d["name"] for d in DEPTS}
    assert len(load_topics()) >= 20


def test_written_examples_route_requests_the_list_does_not_name():
    texts = ["班主任体罚孩子，家长很气愤", "路灯坏了一个月没人修"]
    plain = ColdStartRouter(DEPTS, examples=False).fit()
    assert _route(plain, texts) != ["教育局", "城管局"]
    assert _route(ColdStartRouter(DEPTS).fit(), texts) == ["教育局", "城管局"]


# A list that splits the work as many city lists do: city buses and streets
# with urban construction, highways and intercity transport with transport,
# noise and pollution with the environment bureau (our own wording).
CITY_DEPTS = [
    {"name": "住建局", "responsibilities": "城市建设和市政管理",
     "keywords": ["公共汽车", "地铁城铁", "城乡规划", "物业服务", "城管执法", "建筑市场"]},
    {"name": "交通局", "responsibilities": "公路建设养护和道路运输",
     "keywords": ["出租车管理", "客货运输", "设施维护", "运输安全"]},
    {"name": "环保局", "responsibilities": "环境污染防治",
     "keywords": ["噪音污染", "大气污染", "水污染", "环境执法"]},
    {"name": "教育局", "responsibilities": "学校和教师管理", "keywords": ["学校", "招生"]},
    {"name": "人社局", "responsibilities": "就业、工资、社会保险",
     "keywords": ["社会保险", "劳动关系", "职称"]},
]


def test_written_examples_follow_the_lists_boundaries():
    """Village roads are the transport bureau's, buses the city's (the list says
    公共汽车 under construction), construction noise the environment bureau's,
    teachers' titles the education bureau's: one contradicting topic (buses in
    both the transport and the city topics) sent them the other way."""
    router = ColdStartRouter(CITY_DEPTS).fit()
    assert router.topic_departments_["公交地铁与城市道路规划"] == "住建局"
    assert router.topic_departments_["交通运输与客运"] == "交通局"
    texts = ["我们村通往镇上的公路坑坑洼洼，一下雨车就开不过去",
             "这路公交车太难等了，半个小时都不来一趟",
             "旁边工地每天晚上施工到凌晨，吵得睡不着",
             "今年的教师职称评审什么时候开始"]
    assert _route(router, texts) == ["交通局", "住建局", "环保局", "教育局"]


# A terse list: names and a few words of responsibility, no keywords (our own wording).
TERSE_DEPTS = [{"name": "住房和城乡建设局", "responsibilities": "城市建设、物业、市政"},
               {"name": "交通运输局", "responsibilities": "公路和道路运输"},
               {"name": "生态环境局", "responsibilities": "环境污染"},
               {"name": "教育局", "responsibilities": "学校"},
               {"name": "人力资源和社会保障局", "responsibilities": "就业、工资、社保"},
               {"name": "卫生健康委员会", "responsibilities": "医院、卫生"}]


def test_a_terse_list_still_gets_the_topics_its_departments_do():
    """Every topic scores lower against a terse list than against a wordy one:
    with the absolute floor alone this list kept 4 topics and sent street lamps,
    wages and pensions to the transport bureau."""
    router = ColdStartRouter(TERSE_DEPTS).fit()
    mapped = router.topic_departments_
    assert mapped["市政设施与城市管理"] == "住房和城乡建设局"
    assert mapped["工资与劳动关系"] == mapped["社会保险与退休待遇"] == "人力资源和社会保障局"
    assert "治安与公安" not in mapped and "供水与自来水" not in mapped
    texts = ["路灯坏了一个月没人修", "老板拖欠了三个月工资不发", "退休养老金什么时候调整",
             "我们村通往镇上的公路坑坑洼洼"]
    assert _route(router, texts) == ["住房和城乡建设局", "人力资源和社会保障局",
                                     "人力资源和社会保障局", "交通运输局"]


MIXED_DEPTS = DEPTS[:2] + [
    {"name": "城管局", "responsibilities": "占道经营、违章搭建、噪音扰民、餐饮油烟",
     "keywords": ["占道", "违建", "噪音", "摆摊", "油烟"]},
    # No keywords, as a centre's list often has for some departments.
    {"name": "农业农村局",
     "responsibilities": "负责农业生产、农村经营管理、农资质量、动物防疫、农村宅基地管理"},
    {"name": "残疾人联合会",
     "responsibilities": "负责残疾人证办理、残疾人两项补贴、康复救助、残疾人就业与无障碍环境",
     "keywords": ["残疾人", "残疾证", "康复", "无障碍", "补贴"]},
]


def test_a_department_without_keywords_keeps_its_topics_beside_keyworded_ones():
    """Before, the keyworded 残联 took the farming examples (its 补贴 is in many of
    them) and the keyword-less 农业农村局 was left with land, telecoms and product
    quality, which none of this list does."""
    mapped = ColdStartRouter(MIXED_DEPTS).fit().topic_departments_
    assert mapped["农业农村与农民"] == "农业农村局"
    assert mapped["学校与教育"] == "教育局" and mapped["供水与自来水"] == "供水公司"
    assert not {"土地与矿产", "通信与网络", "特种设备与产品质量"} & set(mapped)
    router = ColdStartRouter(MIXED_DEPTS).fit()
    assert _route(router, ["今年的种子化肥质量有问题，庄稼都死了"]) == ["农业农村局"]


def test_only_a_list_mixing_keyworded_and_bare_departments_is_credited():
    shares = np.array([[0.5, 0.0, 0.1], [0.0, 0.3, 0.0]])
    cos = np.array([[0.10, 0.20, 0.05], [0.02, 0.05, 0.30]])
    for keyworded in ([True, True, True], [False, False, False]):
        assert credit_bare_departments(shares, cos, np.array(keyworded)) is shares
    got = credit_bare_departments(shares, cos, np.array([True, False, True]))
    # Topic 0: the bare department is credited the best keyworded share (0.5) and wins on
    # similarity, then gets the median best share if that is higher (it is not).
    assert got[0].tolist() == [0.5, 0.5, 0.1]
    # Topic 1: credited 0.0 (no keyworded department names it); a keyworded one wins.
    assert got[1].tolist() == [0.0, 0.0, 0.0]
    assert shares[0, 1] == 0.0   # the input is left as it was


def test_review_holds_the_low_margin_rows():
    router = ColdStartRouter(DEPTS).fit()
    texts = ["幸福小区从早上开始停水了，自来水一直没来", "学校门口占道摆摊，晚上噪音很大",
             "学校停水了"]
    p = router.predict_proba(TextFeatures(texts))
    review = router.needs_review(p)
    top = -np.sort(-p, axis=1)
    assert review.tolist() == ((top[:, 0] - top[:, 1]) < 0.3).tolist()
    assert review.tolist() == [False, False, True]


def _sample() -> list[str]:
    """240 requests of a centre's day, written from parts (no labels)."""
    places = ["幸福小区", "东风路", "阳光花园", "人民路", "新华街", "滨江苑", "文化路", "和平里",
              "建设路", "解放街", "金桥苑", "翠湖湾", "北门巷", "南湖路", "春晖园", "西城里"]
    water = ["从早上开始停水了", "自来水发黄有异味", "水压太低楼上没水", "水管爆裂漏水严重",
             "停水也不提前通知"]
    school = ["学校强制补课收费", "幼儿园招生不公平", "老师体罚学生", "学校食堂饭菜太差",
              "孩子入学没有学位"]
    city = ["有人占道摆摊到深夜", "违建越盖越高", "广场噪音扰民", "路边摊油烟很大",
            "楼顶违章搭建"]
    out = []
    for place, (a, b, c) in itertools.product(places, zip(water, school, city)):
        out += [f"{place}{a}，请尽快处理", f"{place}附近{b}，希望管一管", f"{place}{c}，影响休息"]
    return out


def test_a_small_input_self_trains_too():
    """Self-training starts at 50 rows (on 50-150-row draws of real messages it still adds
    0.018-0.03 macro-F1); fewer rows are routed by the list and the examples alone."""
    sample = _sample()
    assert ColdStartRouter(DEPTS).fit(sample[:60]).head_ is not None
    assert ColdStartRouter(DEPTS).fit(sample[:40]).head_ is None


def test_self_training_on_a_sample_saves_and_loads_the_same_router(tmp_path):
    sample = _sample()
    assert len(sample) >= 200
    router = ColdStartRouter(DEPTS).fit(sample)
    assert router.head_ is not None and set(router.head_.labels_) == {d["name"] for d in DEPTS}
    router.save(tmp_path / "cs")
    again = ColdStartRouter.load(tmp_path / "cs", DEPTS)
    prep = TextFeatures(sample[:30] + ["学校周边有人摆摊卖零食"])
    np.testing.assert_allclose(again.predict_proba(prep), router.predict_proba(prep), atol=1e-6)
    assert _route(again, ["滨江苑又停水了，自来水一直没来"]) == ["供水公司"]
    with pytest.raises(BadModel, match="lacks"):
        ColdStartRouter.load(tmp_path / "cs", DEPTS[:2])


def test_the_batch_bundle_is_reused_on_resume_and_rebuilt_for_another_input(tmp_path):
    from classifier.bundle import load_bundle
    from hotline.batch import departments

    depts = tmp_path / "depts.json"
    depts.write_text(json.dumps(DEPTS, ensure_ascii=False), encoding="utf-8")
    sample = _sample()
    target = departments.build(depts, None, tmp_path / "model", sample)
    state = target / "coldstart" / "coldstart.json"
    state.write_text(state.read_text(encoding="utf-8"), encoding="utf-8")
    marker = state.stat().st_mtime_ns
    departments.build(depts, None, target, sample, reuse=True)
    assert state.stat().st_mtime_ns == marker            # same list, same sample: kept
    departments.build(depts, None, target, sample[:-1], reuse=True)
    assert state.stat().st_mtime_ns != marker            # another input: refitted
    bundle = load_bundle(target)
    assert bundle.cold_start.head_ is not None
    cols = bundle.predict_columns(["阳光花园停水了，自来水一直没来"])
    assert cols[0][2] == "供水公司" and cols[0][4] is False   # no type head: no type doubt


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hotline.cli.main", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_eval_coldstart_compares_with_the_plain_router(tmp_path):
    depts = tmp_path / "depts.json"
    depts.write_text(json.dumps(DEPTS, ensure_ascii=False), encoding="utf-8")
    data = tmp_path / "labelled.csv"
    rows = [("班主任体罚孩子", "家长很气愤", "教育局"), ("路灯坏了", "一个月没人修", "城管局"),
            ("小区停水", "自来水一直没来", "供水公司"), ("门口摆摊", "占道经营到深夜", "城管局"),
            ("招生不公", "学校招生暗箱操作", "教育局"), ("水压低", "楼上水管没水", "供水公司")]
    with open(data, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "detail", "label_l1"])
        w.writerows(rows)
    got = _cli("--home", str(tmp_path / "home"), "eval", "coldstart", "--departments", str(depts),
               "--data", str(data), "--json")
    assert got.returncode == 0, got.stderr
    report = json.loads(got.stdout)
    assert set(report["variants"]) == {"list", "list+examples", "list+examples+self-train"}
    assert report["variants"]["list+examples"]["all"]["macro_f1"] == 1.0
    assert report["variants"]["list"]["all"]["macro_f1"] < 1.0
    bad = _cli("--home", str(tmp_path / "home"), "eval", "coldstart", "--departments", str(depts),
               "--data", str(tmp_path / "absent.csv"))
    assert bad.returncode == 2 and "error:" in bad.stderr and "absent.csv" in bad.stderr


MARKET_CITY_DEPTS = CITY_DEPTS + [
    {"name": "市场监管局", "responsibilities": "市场秩序和产品质量",
     "keywords": ["物价监督", "市场垄断", "传销", "特种设备管理", "商品质量"]}]


def test_prices_monopolies_and_pyramid_schemes_go_to_the_market_regulator():
    """The list files 物价监督, 市场垄断 and 传销 with the market regulator and
    邮政管理 with transport; a pyramid scheme in a housing estate is not the
    housing bureau's because the word 小区 occurs, and a fare rise is a price
    matter, not the transport bureau's."""
    depts = [dict(d) for d in MARKET_CITY_DEPTS]
    depts[1] = {**depts[1], "keywords": depts[1]["keywords"] + ["邮政管理"]}
    router = ColdStartRouter(depts).fit()
    texts = ["我们小区住了一伙搞传销的人，天天聚在一起上课拉人头",
             "县里几家混凝土公司联合起来垄断经营，统一抬高价格",
             "镇上的邮政网点只开一个窗口，取个包裹要排一个小时",
             "过年期间县里的客车票价一下涨了好几块，小孩也要买全票"]
    assert _route(router, texts) == ["市场监管局", "市场监管局", "交通局", "市场监管局"]


def test_a_one_department_list_routes_everything_to_it_without_self_training():
    """It crashed with an IndexError once the input reached the self-training size."""
    texts = ["路灯坏了没人修", "工资拖欠三个月", "学校乱收费", "小区停水两天了"] * 20
    router = ColdStartRouter([{"name": "综合办"}]).fit(texts)
    assert router.head_ is None
    assert set(_route(router, texts)) == {"综合办"}


def test_the_draws_experiment_scores_each_topics_file_on_the_same_draws(tmp_path):
    """training.experiments.coldstart_draws: extra examples join their topic once, an
    unknown topic name is refused, and every topics file is scored on the same draws
    (the same seed gives the same draws)."""
    from training.experiments.coldstart_draws import BROAD_DIR, merged_topics, score_draws

    shipped = load_topics()
    name, _, examples = shipped[0]
    merged = merged_topics({name: [examples[0], "新写的一条请求"]})
    got = {t["topic"]: t["examples"] for t in merged["topics"]}
    assert got[name] == list(examples) + ["新写的一条请求"]
    with pytest.raises(ValueError, match="没有这个话题"):
        merged_topics({"没有这个话题": ["x"]})
    broad = json.loads((BROAD_DIR / "examples.json").read_text(encoding="utf-8"))
    assert sum(map(len, broad.values())) == 425 and set(broad) <= set(got)

    texts = _sample()
    labels = np.array(["供水公司", "教育局", "城管局"] * (len(texts) // 3))
    one_topic = tmp_path / "one_topic.json"
    one_topic.write_text(json.dumps({"topics": [
        {"topic": "供水", "keywords": ["停水", "自来水"],
         "examples": ["家里停水了", "自来水发黄", "水压太低", "水管爆裂"]}]},
        ensure_ascii=False), encoding="utf-8")
    report = score_draws(DEPTS, texts, labels, [None, str(one_topic)], draws=2, size=150, seed=1)
    assert list(report) == ["0:shipped", f"1:{one_topic}"]
    shipped_scores, one_topic_scores = report.values()
    assert len(shipped_scores) == len(one_topic_scores) == 2
    assert min(shipped_scores) >= 0.9
    assert shipped_scores != one_topic_scores          # the topics file is what differs
    again = score_draws(DEPTS, texts, labels, [None], draws=2, size=150, seed=1)
    assert list(again.values())[0] == shipped_scores   # same seed, same draws
