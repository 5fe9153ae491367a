"""`hotline reclassify --departments FILE`: routing by a department list with no
trained department head (a centre's day one), in a fresh home and beside a model."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[1]
DEPARTMENTS = [
    {"name": "供水公司", "responsibilities": "城市供水、停水抢修、水质问题",
     "keywords": ["停水", "自来水", "水压", "水管"]},
    {"name": "供电公司", "responsibilities": "居民用电、停电抢修",
     "keywords": ["停电", "电压", "跳闸", "电表"]},
    {"name": "城管局", "responsibilities": "占道经营、违章搭建、噪音扰民",
     "keywords": ["占道", "违建", "噪音", "摆摊"]},
]
ROWS = [("小区停水", "幸福小区从早上开始停水了，自来水一直没来"),
        ("又停电了", "我们这栋楼停电两个小时了，电表也跳闸"),
        ("路边摆摊", "学校门口占道摆摊，晚上噪音很大"),
        ("水压太低", "楼上水管水压低，自来水很小")]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hotline.cli.main", "--home", str(home), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def _write(tmp: Path) -> tuple[Path, Path]:
    depts = tmp / "depts.json"
    depts.write_text(json.dumps(DEPARTMENTS, ensure_ascii=False), encoding="utf-8")
    inp = tmp / "in.csv"
    with open(inp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "detail"])
        w.writerows(ROWS)
    return depts, inp


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_fresh_home_routes_by_the_list_alone(tmp_path):
    depts, inp = _write(tmp_path)
    out = tmp_path / "out.csv"
    got = _cli(tmp_path / "home", "reclassify", str(inp), "--text-cols", "title,detail",
               "--departments", str(depts), "--out", str(out), "--no-progress")
    assert got.returncode == 0, got.stderr
    rows = _read(out)
    assert [r["pred_department"] for r in rows] == ["供水公司", "供电公司", "城管局", "供水公司"]
    # No type head, so no type is doubted: the flag is the router's margin
    # (classifier.coldstart.REVIEW_MARGIN), and these four are clear.
    assert all(r["pred_needs_review"] == "false" for r in rows)
    assert all(r["pred_type"] == "" for r in rows)     # no type head anywhere


def test_the_list_replaces_the_department_head_and_keeps_the_type_head(served_home, tmp_path):
    from classifier import load_bundle
    from hotline.batch.runner import resolve_model

    depts, inp = _write(tmp_path)
    out = tmp_path / "out.csv"
    got = _cli(served_home, "reclassify", str(inp), "--text-cols", "title,detail",
               "--departments", str(depts), "--out", str(out), "--no-progress")
    assert got.returncode == 0, got.stderr
    rows = _read(out)
    assert {r["pred_department"] for r in rows} <= {d["name"] for d in DEPARTMENTS}
    model = load_bundle(resolve_model(make_settings(served_home), None))
    want = [c[0] for c in model.predict_columns([f"{t}\n{d}" for t, d in ROWS])]
    assert [r["pred_type"] for r in rows] == want


def test_a_bad_list_is_refused_before_any_row(tmp_path):
    _, inp = _write(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"responsibilities": "no name"}]), encoding="utf-8")
    # An empty list and a department listed twice used to pass the check: the first
    # ended in a traceback, the second routed to two columns of one name.
    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps([{"name": "供水公司"}, {"name": "供水公司"}], ensure_ascii=False),
                     encoding="utf-8")
    for path, says in ((bad, "no name"), (tmp_path / "absent.json", "does not exist"),
                       (empty, "expected at least one department"), (twice, "listed twice")):
        got = _cli(tmp_path / "home", "reclassify", str(inp), "--text-cols", "title,detail",
                   "--departments", str(path), "--out", str(tmp_path / "o.csv"))
        assert got.returncode == 2, got.stderr
        assert "error:" in got.stderr and path.name in got.stderr and says in got.stderr
        assert not (tmp_path / "o.csv").exists()
