"""The department list in force on top of a trained head (classifier.list_updates):
a department added to the list routes at once, a removed one gets nothing, a
keyword moved to another department moves its requests, and an unrelated list
changes nothing. Trained for real on the small work-order set of test_classifier."""
from __future__ import annotations

import json

import pytest

from classifier import load_bundle
from tests.test_classifier import DEPARTMENTS, data, model  # noqa: F401 (fixtures)

NEW = {"name": "市林业局", "responsibilities": "林地管理、森林防火、古树名木和野生动物保护",
       "keywords": ["林地", "砍伐", "森林", "林区", "野生动物", "古树"], "reply_days": 7}
TREE_CALL = "山上林地有人砍伐\n后山林地最近有人偷偷砍伐树木，还在林区烧荒，担心引发森林火灾"


def _write(tmp_path, departments) -> str:
    path = tmp_path / "departments.json"
    path.write_text(json.dumps(departments, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_same_list_changes_nothing(model, tmp_path):
    own = load_bundle(model)
    same = load_bundle(model, taxonomy=_write(tmp_path, DEPARTMENTS))
    assert same.list_updates is None
    texts = ["小区路灯坏了\n路灯不亮三天了", TREE_CALL, "请问居住证怎么办理"]
    assert ([(p.department, p.department_conf) for p in own.predict(texts)]
            == [(p.department, p.department_conf) for p in same.predict(texts)])


def test_added_department_routes_at_once_and_others_keep_the_head(model, tmp_path):
    before = load_bundle(model).predict([TREE_CALL])[0]
    assert before.department != NEW["name"]        # the head has never heard of it
    bundle = load_bundle(model, taxonomy=_write(tmp_path, DEPARTMENTS + [NEW]))
    assert NEW["name"] in bundle.department_labels
    tree, lamp = bundle.predict([TREE_CALL, "小区路灯坏了\n我们小区的路灯坏了好几天，请派人维修"])
    assert tree.department == NEW["name"]
    assert tree.reply_days == 7                     # the new entry's own fields apply
    assert sum(d["prob"] for d in tree.department_top3) <= 1.0 + 1e-6
    assert lamp.department == "市城管局"            # the trained answer stands
    # Batch columns and the single path agree.
    rows = bundle.predict_columns([TREE_CALL])
    assert rows[0][2] == NEW["name"]


def test_removed_department_gets_no_probability(model, tmp_path):
    kept = [d for d in DEPARTMENTS if d["name"] != "市城管局"]
    bundle = load_bundle(model, taxonomy=_write(tmp_path, kept))
    [p] = bundle.predict(["小区路灯坏了\n我们小区的路灯坏了好几天，请派人维修"])
    assert p.department != "市城管局"
    assert all(d["label"] != "市城管局" for d in p.department_top3)


def test_moved_keyword_moves_requests_and_asks_for_review(model, tmp_path):
    moved = [dict(d) for d in DEPARTMENTS]
    for d in moved:
        if d["name"] == "市城管局":
            d["keywords"] = d["keywords"] + ["公交线路"]   # responsibility moved here
    call = "公交线路改了\n想问一下公交线路调整以后怎么坐车"
    assert load_bundle(model).predict([call])[0].department == "市交通运输局"
    [p] = load_bundle(model, taxonomy=_write(tmp_path, moved)).predict([call])
    assert p.department == "市城管局"
    assert p.needs_review and "list_update" in p.review_reasons


def test_unrelated_list_is_ignored(model, tmp_path):
    other = [{"name": f"部门{i}", "responsibilities": "", "keywords": [f"词{i}"]} for i in range(5)]
    bundle = load_bundle(model, taxonomy=_write(tmp_path, other))
    assert bundle.list_updates is None
    [p] = bundle.predict(["小区路灯坏了\n路灯不亮三天了"])
    assert p.department == "市城管局"
    assert p.reply_days == 5        # the model's own list still gives the fields


def test_served_and_batch_routes_follow_the_home_list(model, tmp_path):
    """HTTP and `hotline reclassify` with the home's current model route by the home's
    list, and an edit to it reaches the running engine without a restart."""
    import csv
    import shutil

    from hotline.cli.main import main
    from hotline.runtime import Engine
    from server import create_app
    from tests.conftest import auth, make_settings

    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    shutil.copytree(model, home / "models" / "v1")
    (home / "models" / "current").write_text("v1", encoding="utf-8")
    listed = tmp_path / "departments.json"
    listed.write_text(json.dumps(DEPARTMENTS, ensure_ascii=False), encoding="utf-8")
    settings = make_settings(home, taxonomy_path=listed)
    engine = Engine(settings, follow_seconds=0)
    # Warmed at load: the lead/co issue scorer's router is fitted and the department
    # word matchers compiled before any request.
    from dispatch.codepts import _MATCHERS

    snap = engine.snapshot
    assert snap.classifier._issue_router is not None
    assert id(snap.mentions) in _MATCHERS and id(snap.department_keywords) in _MATCHERS
    client = create_app(settings, engine=engine).test_client()

    def served() -> str:
        r = client.post("/v1/classify", headers=auth("agent"), json={"text": TREE_CALL})
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()["department"]["label"]

    assert served() != NEW["name"]
    listed.write_text(json.dumps(DEPARTMENTS + [NEW], ensure_ascii=False), encoding="utf-8")
    assert "classifier" in engine.follow_once()["reloaded"]
    assert served() == NEW["name"]

    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    title, detail = TREE_CALL.split("\n")
    with open(src, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["title", "detail"], [title, detail]])
    (home / "hotline.toml").write_text(f'taxonomy_path = "{listed}"\n', encoding="utf-8")
    assert main(["--home", str(home), "reclassify", str(src), "--text-cols", "title,detail",
                 "--out", str(out), "--no-progress"]) == 0
    with open(out, encoding="utf-8", newline="") as fh:
        [row] = list(csv.DictReader(fh))
    assert row["pred_department"] == NEW["name"]
