"""Lead and co-handling departments (dispatch.codepts): the clause splitter, the
issue grouping, the decision and its wiring into /v1/classify and batch.

The decision takes department scores as its input; the unit tests give it the
scores a department head would (a scorer over fixed words), so each test pins
one rule. The slow test runs the real demo model over the dev set."""
from __future__ import annotations

import pytest

from dispatch.codepts import (CoRules, Departments, assign, decide, issues, keyword_baseline,
                              keyword_patterns, mention_patterns, split_clauses)

CG, SW, WJ, GD = "市城管局", "市水务集团", "市卫健委", "市供电公司"
WORDS = {CG: ("油烟", "路灯", "摆摊", "占道"), SW: ("停水", "水压", "自来水"),
         WJ: ("咳嗽", "医生", "发烧"), GD: ("停电", "跳闸")}
DEPTS = [{"name": CG, "aliases": ["城管局", "城管"], "keywords": list(WORDS[CG])},
         {"name": SW, "aliases": ["自来水公司"], "keywords": list(WORDS[SW])},
         {"name": WJ, "aliases": ["卫健委", "卫生局"], "keywords": list(WORDS[WJ])},
         {"name": GD, "aliases": ["供电公司"], "keywords": list(WORDS[GD])}]


def scorer(texts, calls=None):
    """What a department head answers: 0.9 to the department whose word is in
    the text (first word wins), 0.25 spread otherwise."""
    if calls is not None:
        calls.append(list(texts))
    out = []
    for t in texts:
        hits = sorted((t.find(w), d) for d, ws in WORDS.items() for w in ws if w in t)
        out.append({hits[0][1]: 0.9, **{d: 0.03 for d in WORDS if d != hits[0][1]}} if hits
                   else {d: 0.25 for d in WORDS})
    return out


def one(text, rules=CoRules(), mentions=None) -> Departments:
    return assign([text], scorer, rules, mentions=mentions)[0]


# ------------------------------------------------------------------ splitting
def test_connectives_and_sentences_open_issues_commas_continue_them():
    text = "楼下饭店油烟很大，熏得孩子一直咳嗽，另外路口的路灯坏了。还有就是家里停水两天了"
    cl = split_clauses(text)
    assert [c.kind for c in cl] == ["sentence", "comma", "connective", "connective"]
    assert [[cl[i].text for i in g] for g in issues(cl)] == [
        ["楼下饭店油烟很大", "熏得孩子一直咳嗽"], ["另外路口的路灯坏了"], ["还有就是家里停水两天了"]]
    for c in cl:    # spans index the text
        assert text[c.start:c.end] == c.text


def test_tiny_pieces_merge_and_fillers_do_not_make_an_issue():
    cl = split_clauses("喂你好，那个，家里停水了，好，谢谢")
    assert len(issues(cl)) == 1
    assert "停水" in cl[0].text


def test_main_cue_marks_the_main_issue():
    cl = split_clauses("路灯坏了好几天，主要是家里停水两天了")
    assert [(c.kind, c.main) for c in cl] == [("sentence", False), ("connective", True)]


# ------------------------------------------------------------------ decision
def test_compound_request_gets_lead_of_first_issue_and_a_co_handler():
    d = one("楼下饭店油烟很大，另外家里停水两天了")
    assert d.lead["name"] == CG and d.co_names == [SW]
    assert 0 < d.co[0]["confidence"] <= 1 and 0 < d.lead["confidence"] <= 1


def test_caller_marked_main_issue_leads():
    d = one("楼下饭店油烟很大，主要是家里停水两天了")
    assert d.lead["name"] == SW and d.co_names == [CG]


def test_comma_detail_in_another_domain_adds_no_co_handler():
    # One issue told with another domain's words: the comma clause about the
    # child coughing is detail, not a request to the health commission.
    d = one("楼下饭店油烟很大，孩子咳嗽，窗户都不敢开")
    assert d.lead["name"] == CG and d.co == []


def test_single_issue_ramble_with_connectives_of_the_same_department():
    d = one("家里停水两天了，另外水压平时也很小，而且自来水发黄")
    assert d.lead["name"] == SW and d.co == []


def test_unsure_issue_is_not_a_co_handler():
    # The second issue scores 0.25 at most (no word the head knows): below the bar.
    d = one("楼下饭店油烟很大，另外那个事情也一直没人管")
    assert d.co == []
    strict = one("楼下饭店油烟很大，另外家里停水两天了", CoRules(connective=0.95))
    assert strict.co == []


def test_named_department_counts_in_its_issue():
    text = "楼下饭店油烟很大，另外卫健委也请派人来看看"
    assert one(text).co == []
    d = one(text, mentions=mention_patterns(DEPTS))
    assert d.co == [{"name": WJ, "confidence": CoRules().mention}]
    # "X部门" names the department too (alias 卫生局 -> 卫生部门).
    assert one("油烟很大，另外请卫生部门来看看", mentions=mention_patterns(DEPTS)).co_names == [WJ]


def test_three_issues_and_max_co():
    text = "油烟很大，另外家里停水了，还有就是昨晚停电了"
    assert one(text).co_names == [SW, GD] or set(one(text).co_names) == {SW, GD}
    assert len(one(text, CoRules(max_co=1)).co) == 1


def test_no_scores_no_lead():
    cl = split_clauses("！！")
    assert decide({}, cl, [], []).to_dict() == {"lead": None, "co": []}


def test_assign_scores_once_and_skips_single_clause_texts_when_whole_is_given():
    calls = []
    texts = ["油烟很大，另外家里停水了", "家里停水两天了，一直没人管", "家里停水两天了"]
    whole = scorer(texts)
    out = assign(texts, lambda b: scorer(b, calls), whole=whole,
                 mentions=mention_patterns(DEPTS), keywords=keyword_patterns(DEPTS))
    # One call: the issues of texts with two clauses or more (a single issue
    # decides the lead); "一直没人管" is background, so it is not scored.
    assert calls == [["油烟很大", "另外家里停水了", "家里停水两天了，一直没人管"]]
    assert [d.co_names for d in out] == [[SW], [], []]


# ------------------------------------------------------------------ evidence rules
def evidence(text, rules=CoRules(), score=scorer):
    return assign([text], score, rules, mentions=mention_patterns(DEPTS),
                  keywords=keyword_patterns(DEPTS))[0]


def test_comma_clause_with_evidence_adds_a_co_handler():
    # No connective: the comma clause names the health commission and asks it to act.
    d = evidence("楼下饭店油烟很大，想请卫健委派医生来看看孩子")
    assert d.lead["name"] == CG and d.co_names == [WJ]
    # Without the list's names and keywords the same clause is detail.
    assert one("楼下饭店油烟很大，想请卫健委派医生来看看孩子").co == []
    assert evidence("楼下饭店油烟很大，想请卫健委派医生来看看孩子", CoRules(comma=None)).co == []


def test_comma_clause_reporting_background_adds_none():
    for text in ("楼下饭店油烟很大，卫健委说不归他们管", "楼下饭店油烟很大，找了自来水公司也不管"):
        assert evidence(text).co == [], text


def test_unsure_issue_with_the_departments_keyword_counts():
    # The second issue's top department scores 0.2: below the issue bar alone,
    # above the evidence bar when the issue carries its keyword (水压).
    def unsure(texts):
        return [{SW: 0.2, GD: 0.1} if "水压" in t or "那个" in t else scorer([t])[0]
                for t in texts]
    assert evidence("楼下饭店油烟很大，另外水压特别小", score=unsure).co_names == [SW]
    assert evidence("楼下饭店油烟很大，另外那个事一直拖着", score=unsure).co == []
    assert evidence("楼下饭店油烟很大，另外水压特别小", CoRules(evidence=None),
                    score=unsure).co == []


def test_keyword_baseline_adds_every_matched_department():
    d = keyword_baseline("油烟很大，孩子咳嗽", DEPTS)
    assert d.lead["name"] == CG and d.co_names == [WJ]   # the false co the model avoids
    assert keyword_baseline("你好", DEPTS).lead is None


def test_metrics_count_lead_co_and_false_co():
    from dispatch.codepts_eval import metrics

    rows = [{"id": "1", "text": "a", "lead": CG, "co": [SW]},
            {"id": "2", "text": "b", "lead": SW, "co": []}]
    preds = [Departments({"name": CG, "confidence": 1}, [{"name": SW, "confidence": 1},
                                                         {"name": GD, "confidence": 1}]),
             Departments({"name": CG, "confidence": 1}, [{"name": WJ, "confidence": 1}])]
    m = metrics(rows, preds)
    assert m["lead_acc"] == 0.5 and m["co_precision"] == pytest.approx(1 / 3)
    assert m["co_recall"] == 1.0 and m["false_co_single"] == 1.0


def test_sets_ship_with_enough_rows_and_no_shared_group():
    from dispatch.codepts_eval import DATA_DIR, read_set

    dev, test = read_set(DATA_DIR / "dev.csv"), read_set(DATA_DIR / "test.csv")
    for rows in (dev, test):
        assert all(r["lead"] not in r["co"] for r in rows)
        assert all((r["kind"] == "compound") == bool(r["co"]) for r in rows)
    both = dev + test
    assert sum(1 for r in both if r["co"]) >= 200 and sum(1 for r in both if not r["co"]) >= 200
    assert not {r["group"] for r in dev} & {r["group"] for r in test}


# ------------------------------------------------------------------ wiring
def test_classify_returns_departments(served_app):
    from tests.conftest import KEYS

    c = served_app.test_client()
    h = {"Authorization": f"Bearer {KEYS['agent']}"}
    r = c.post("/v1/classify", json={"text": "家里停水三天了，另外小区门口的路灯坏了"}, headers=h)
    assert r.status_code == 200
    d = r.get_json()["departments"]
    # The first issue leads, whatever the whole text's department (here 市城管局).
    assert d["lead"]["name"] == "市水务集团"
    assert [x["name"] for x in d["co"]] == ["市城管局"]
    single = c.post("/v1/classify", json={"text": "家里停水三天了，水龙头一滴水都没有"},
                    headers=h).get_json()["departments"]
    assert single["co"] == [] and single["lead"]["name"] == "市水务集团"
    # Two sentences of a call are two issues, the first leading; under a title they
    # are one record's, led by the whole text, its clauses adding co-handlers only
    # where they carry a department's keyword.
    call = "家里停水三天了。小区门口的路灯坏了"
    body = {"items": [{"text": call}, {"text": "反映停水和路灯\n" + call},
                      {"text": "反映停水\n家里停水三天了。物业说过两天就好，一直没来水"}]}
    got = [i["departments"] for i in
           c.post("/v1/classify/batch", json=body, headers=h).get_json()["items"]]
    assert got[0]["lead"]["name"] == "市水务集团"
    assert [x["name"] for x in got[0]["co"]] == ["市城管局"]
    assert got[1]["lead"]["name"] == "市城管局", got[1]
    assert [x["name"] for x in got[1]["co"]] == ["市水务集团"], got[1]
    assert got[2]["co"] == [], got[2]


@pytest.mark.slow
def test_demo_model_on_dev_set(tmp_path):
    """The shipped demo (scale 0.3) trained as `hotline train --demo` does, scored
    on dev: the model beats the keyword rules and adds few co-handlers to singles."""
    from classifier import load_bundle
    from dispatch.codepts_eval import DATA_DIR, evaluate, read_set
    from hotline.batch import resolve_model
    from kb.demo import build_demo
    from tests.conftest import make_settings
    from training.prepare import ensure_models

    settings = make_settings(tmp_path / "home")
    build_demo(settings, scale=0.3, progress=False)
    assert ensure_models(settings)
    bundle = load_bundle(resolve_model(settings, None))
    rep = evaluate({"dev": read_set(DATA_DIR / "dev.csv")}, bundle.department_scores,
                   list(bundle.departments.values()))
    model, kw = rep[("dev", "model")], rep[("dev", "keywords")]
    assert model["lead_acc"] > kw["lead_acc"] and model["co_f1"] > kw["co_f1"]
    assert model["co_precision"] >= 0.8 and model["false_co_single"] <= 0.05
    # the comma and evidence rules (before them: recall 0.488 with this model)
    assert model["co_recall"] >= 0.55


def test_word_matcher_finds_what_substring_tests_find():
    """The one-pass matcher behind department mentions and keywords answers exactly
    what ``any(w in text for w in words)`` does, nested and overlapping words included."""
    import random

    from dispatch.codepts import _mentioned

    rng = random.Random(0)
    chars = "路灯杆坏了公交站噪音水管爆裂电梯物业市局"
    words = {f"d{i}": tuple({"".join(rng.choice(chars) for _ in range(rng.randint(1, 4)))
                             for _ in range(6)}) for i in range(30)}
    for _ in range(2000):
        text = "".join(rng.choice(chars) for _ in range(rng.randint(0, 40)))
        assert _mentioned(text, words) == [n for n, ws in words.items()
                                           if any(w in text for w in ws)], text


# ------------------------------------------------------------------ letters
def _letter(first: str, rest: str, pad: int = 210) -> str:
    """A letter: a background first sentence, then the matter, padded with plain
    sentences past CoRules().narrative_chars."""
    filler = "我们反映过很多次，一直没有得到解决。"
    text = first + rest
    while len(text) <= pad:
        text += filler
    return text


def test_a_letter_is_led_by_its_whole_text_and_its_sentences_are_not_issues():
    """A call's first issue leads; a letter's first sentence is background (who the
    writer is, what they did before), so its whole text decides the lead, and a new
    sentence alone adds no co-handler."""
    short = "家里停水两天了。楼下饭店油烟很大"
    assert one(short).lead["name"] == SW and one(short).co_names == [CG]
    # The whole text's scores say 城管 (the scorer's first word wins); the first
    # sentence alone would say 水务.
    letter = _letter("我家住在自来水厂旁边的小区。", "楼下饭店油烟很大，每天熏得受不了。")
    whole = [{CG: 0.8, SW: 0.1, WJ: 0.05, GD: 0.05}]
    d = assign([letter], scorer, CoRules(), whole=whole)[0]
    assert len(letter) > CoRules().narrative_chars
    assert d.lead["name"] == CG and d.co == [], d
    # A connective still opens a second issue in a letter.
    d = assign([_letter("我家住在自来水厂旁边的小区。", "楼下饭店油烟很大，另外家里停电三天了。")],
               scorer, CoRules(), whole=whole)[0]
    assert d.lead["name"] == CG and d.co_names == [GD], d
    # A main cue in a letter argues the case: it opens an issue (a co-handler) but
    # does not lead, while in a call it names the lead.
    d = assign([_letter("楼下饭店油烟很大。", "主要是家里停电三天了。")], scorer, CoRules(),
               whole=whole)[0]
    assert d.lead["name"] == CG and d.co_names == [GD], d
    d = assign(["楼下饭店油烟很大。主要是家里停电三天了。"], scorer, CoRules())[0]
    assert d.lead["name"] == GD, d


def test_a_titled_record_reads_as_a_letter_whatever_its_length():
    """A title line over a body (a web message, a filed work order) goes on about
    one matter sentence after sentence: led by the whole text, a new sentence is
    no new issue; a connective still opens one."""
    text = "家里停水两天了。楼下饭店油烟很大"
    whole = [{CG: 0.8, SW: 0.1, WJ: 0.05, GD: 0.05}]
    call = assign([text], scorer, CoRules(), whole=whole)[0]
    assert call.lead["name"] == SW and call.co_names == [CG]
    record = assign([text], scorer, CoRules(), whole=whole, titled=[True])[0]
    assert record.lead["name"] == CG and record.co == [], record
    record = assign(["家里停水两天了。另外楼下饭店油烟很大"], scorer, CoRules(),
                    whole=[{SW: 0.8, CG: 0.1, WJ: 0.05, GD: 0.05}], titled=[True])[0]
    assert record.lead["name"] == SW and record.co_names == [CG], record


def test_a_letters_clause_with_another_departments_keyword_adds_a_co_handler():
    """In a letter no sentence opens an issue, but any clause (the first too) that
    carries another department's keyword, is scored for it and reports no
    background adds it, as a comma clause does in a call."""
    words = dict(mentions=mention_patterns(DEPTS), keywords=keyword_patterns(DEPTS))
    whole = [{SW: 0.8, CG: 0.1, WJ: 0.05, GD: 0.05}]
    d = assign(["家里停水两天了。小区门口的路灯也坏了"], scorer, CoRules(), whole=whole,
               titled=[True], **words)[0]
    assert d.lead["name"] == SW and d.co_names == [CG], d

    def last_word(texts):
        """The department of the text's last keyword: the issue's top is then its
        last clause's, so the first clause's department is not the issue's."""
        out = []
        for t in texts:
            hits = sorted((t.rfind(w), d) for d, ws in WORDS.items() for w in ws if w in t)
            out.append({hits[-1][1]: 0.9} if hits else {})
        return out

    d = assign(["小区门口的路灯坏了。好几天没人来看。家里停水两天了"], last_word, CoRules(),
               whole=[{GD: 0.8, CG: 0.1, WJ: 0.05, SW: 0.05}], titled=[True], **words)[0]
    assert d.lead["name"] == GD and d.co_names == [CG], d       # the first clause counts too
    d = assign(["家里停水两天了。路灯的事城管说不归他们管"], scorer, CoRules(), whole=whole,
               titled=[True], **words)[0]
    assert d.co == [], d                                        # background, not an issue


def test_a_text_addressed_to_an_official_reads_as_a_letter():
    """A salutation ("王书记：您好！") marks correspondence, however short; a call's
    greeting to the agent does not."""
    from dispatch.letters import addressed, is_letter

    whole = [{CG: 0.8, SW: 0.1, WJ: 0.05, GD: 0.05}]
    for letter in ("王书记：您好！家里停水两天了。楼下饭店油烟很大", "尊敬的领导：家里停水两天了。楼下饭店油烟很大",
                   "书记好，家里停水两天了。楼下饭店油烟很大"):
        assert addressed(letter) and is_letter(letter)
        d = assign([letter], scorer, CoRules(), whole=whole)[0]
        assert d.lead["name"] == CG and d.co == [], (letter, d)
    call = "喂你好，家里停水两天了。楼下饭店油烟很大"
    assert not addressed(call) and not is_letter(call)
    d = assign([call], scorer, CoRules(), whole=whole)[0]
    assert d.lead["name"] == SW and d.co_names == [CG], d
    assert not addressed("市民来电反映：家里停水") and not addressed("我是一名司机，领导说")


def test_has_title_wants_a_short_first_line_over_a_body():
    from index.text.records import TITLE_MAX, has_title, title_line

    assert has_title("停水\n家里停水两天了") and has_title(" 停水 \n 两天了")
    assert not has_title("家里停水两天了")                 # no line break
    assert not has_title("\n家里停水两天了")               # no title column
    assert not has_title("停水\n  ")                       # a title alone (a phone call)
    assert not has_title("长" * (TITLE_MAX + 1) + "\n正文")  # a first line that is body text
    assert not has_title(None) and title_line("a\nb\nc") == ("a", "b\nc")

