"""Incident linking (issue #19): places, problems, the linker's hard negatives,
metrics on hand-computed examples, the `hotline incidents` CLI and its errors.
All data is written here; the linker is the shipped default (fitted on
training/data/incidents/dev.csv) unless a test fits its own."""
from __future__ import annotations

import csv
import json

import pytest

from foundation.errors import ArtifactError, InvalidInput
from hotline.cli.main import main
from incidents.baseline import tfidf_link
from incidents.linker import IncidentLinker
from incidents.metrics import bcubed, pairwise
from incidents.places import extract_places
from incidents.problems import problem_classes
from incidents.reports import BadTime, Report, parse_time
from index.text import normalize

T0 = parse_time("2026-05-01 07:00")


def keys(text):
    return [p.key for p in extract_places(normalize(text))]


# -- places and problems -----------------------------------------------------

def test_place_variants_reduce_to_one_key():
    assert keys("我住在幸福小区3栋，家里停水了") == ["res:幸福"]
    assert keys("幸福小区东门那片都没水") == ["res:幸福"]
    assert keys("我住幸福里小区那边") == ["res:幸福"]
    assert keys("幸福小區3棟停水了") == ["res:幸福"]          # traditional, normalised first
    assert keys("宏达电子厂拖欠工资") == keys("宏达电子科技有限公司欠薪") == ["org:宏达"]


def test_place_extraction_finds_roads_and_skips_ordinary_words():
    assert keys("人民路与解放路交叉口的井盖丢失") == ["road:人民", "road:解放"]
    assert keys("金海花园和幸福小区都停水") == ["res:金海", "res:幸福"]
    assert keys("路面有个坑，路灯也不亮") == []                # 路 starts 路面 / 路灯
    assert keys("晚上走路很害怕") == []
    assert keys("东湖区人民路上路面塌陷") == ["road:人民"]      # 路上 is still the road


def test_paraphrases_share_a_problem_class_and_other_problems_do_not():
    a = problem_classes(normalize("自来水黄浊有异味"))
    b = problem_classes(normalize("水龙头出来的水是锈色的"))
    assert "water_quality" in a & b
    assert not problem_classes(normalize("幸福小区电梯坏了")) & problem_classes(normalize("幸福小区停水了"))
    assert "elevator" in problem_classes(normalize("5号楼电体停了"))   # a pinyin typo


def test_parse_time_formats_and_errors():
    assert parse_time("2026-05-01 08:30") - T0 == pytest.approx(1.5)
    assert parse_time("2026/5/1 8:30") == parse_time("2026-05-01T08:30:00")
    assert parse_time("2026年5月1日 08:30") == parse_time("2026-05-01 08:30")
    assert parse_time("2026-05-01T08:30:00+08:00") == parse_time("2026-05-01 00:30")
    with pytest.raises(BadTime, match="'yesterday'"):
        parse_time("yesterday")


# -- the linker ----------------------------------------------------------------

@pytest.fixture(scope="module")
def linker():
    return IncidentLinker.load()


def same(labels, i, j):
    return labels[i] == labels[j]


def test_hard_negatives_open_new_incidents(linker):
    h = 1.0
    reports = [
        Report(T0, "东湖区", "幸福小区停水了，早上起来一滴水都没有"),            # 0
        Report(T0 + 0.2 * h, "东湖区", "幸福小区3栋没水了，什么时候来水"),        # 1 same
        Report(T0 + 0.3 * h, "东湖区", "金海花园停水了，想问问原因"),             # 2 other place
        Report(T0 + 0.5 * h, "东湖区", "幸福小区5栋的电梯坏了，卡在9楼"),         # 3 other problem
        Report(T0 + 24 * 6 * h, "东湖区", "幸福小区又停水了，一滴水都没有"),      # 4 six days on
        Report(T0 + 0.4 * h, "西山区", "幸福小区停水了，早上起来一滴水都没有"),   # 5 other region
        Report(T0 + 0.6 * h, "东湖区", "我住幸福里小区那边，从六点多就没水"),     # 6 same as 0
    ]
    labels = linker.link(reports)
    assert same(labels, 0, 1) and same(labels, 0, 6)
    for other in (2, 3, 4, 5):
        assert not same(labels, 0, other), other


def test_paraphrase_at_the_same_place_links(linker):
    reports = [
        Report(T0, "西山区", "翠竹苑的自来水黄浊有异味，不敢喝"),
        Report(T0 + 1.0, "西山区", "你好，西山区翠竹苑，水龙头出来的水是锈色的"),
        Report(T0 + 1.5, "西山区", "翠竹苑门口的公交站搬走了，现在要走很远"),
    ]
    labels = linker.link(reports)
    assert labels[0] == labels[1] != labels[2]


def test_input_order_does_not_change_the_grouping(linker):
    reports = [
        Report(T0 + 2, "东湖区", "幸福小区停水了"),
        Report(T0, "东湖区", "幸福小区3栋没水了"),
        Report(T0 + 1, "东湖区", "金海花园停电了"),
    ]
    labels = linker.link(reports)
    assert labels[0] == labels[1] != labels[2]
    assert labels[1] == 0   # numbered by the first report in time


def _dev_like():
    """A tiny labelled set: two outages at two places, a lift, a singleton."""
    rows = [("a", 0.0, "幸福小区停水了"), ("a", 0.5, "幸福小区3栋没水"), ("a", 1.0, "幸福里小区还是没水"),
            ("b", 0.2, "金海花园停水了"), ("b", 0.9, "金海花园8号楼没水了"),
            ("c", 0.6, "幸福小区电梯坏了"), ("c", 2.0, "幸福小区5栋电梯还是坏的"),
            ("d", 1.5, "社保卡怎么补办"), ("e", 200.0, "幸福小区又停水了")]
    return ([Report(T0 + t, "东湖区", text) for _, t, text in rows], [g for g, _, _ in rows])


def test_fit_learns_from_a_dev_set_and_round_trips(tmp_path):
    reports, gold = _dev_like()
    linker = IncidentLinker().fit(reports, gold)
    assert linker.weights_["place_sim"] > 0 and 0 < linker.threshold_ < 1
    assert bcubed(linker.link(reports), gold)["f1"] > 0.9
    linker.save(tmp_path / "p")
    again = IncidentLinker.load(tmp_path / "p")
    assert again.params() == linker.params()
    assert again.link(reports) == linker.link(reports)


def test_load_refuses_another_artifact(tmp_path):
    from foundation.artifacts import write_manifest

    write_manifest(tmp_path, "classifier-head", 1)
    with pytest.raises(ArtifactError, match="incident-linker"):
        IncidentLinker.load(tmp_path)
    with pytest.raises(InvalidInput, match="gold"):
        IncidentLinker().fit(_dev_like()[0], ["a"])


# -- metrics and the baseline ---------------------------------------------------

def test_metrics_on_a_hand_computed_example():
    pred, gold = [0, 0, 1, 1], ["x", "x", "x", "y"]
    b = bcubed(pred, gold)
    # precision: (1 + 1 + 1/2 + 1/2) / 4; recall: (2/3 + 2/3 + 1/3 + 1) / 4
    assert b["precision"] == pytest.approx(0.75)
    assert b["recall"] == pytest.approx(2 / 3)
    assert b["f1"] == pytest.approx(2 * 0.75 * (2 / 3) / (0.75 + 2 / 3))
    p = pairwise(pred, gold)   # predicted pairs (0,1) (2,3); gold (0,1) (0,2) (1,2)
    assert (p["precision"], p["recall"]) == (pytest.approx(0.5), pytest.approx(1 / 3))
    assert bcubed([0, 1, 2], ["a", "b", "c"])["f1"] == 1.0
    with pytest.raises(ValueError):
        bcubed([0], ["a", "b"])


def test_tfidf_baseline_links_within_region_and_window():
    reports = [Report(T0, "东湖区", "幸福小区停水了"), Report(T0 + 1, "东湖区", "幸福小区停水了"),
               Report(T0 + 1, "西山区", "幸福小区停水了"), Report(T0 + 100, "东湖区", "幸福小区停水了")]
    labels = tfidf_link(reports, threshold=0.5)
    assert labels[0] == labels[1] and len({labels[0], labels[2], labels[3]}) == 3


# -- the CLI --------------------------------------------------------------------

def _write_csv(path, rows, header=("id", "when", "district", "msg", "note")):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_cli_round_trip_keeps_order_and_columns(tmp_path, capsys):
    rows = [("1", "2026-05-01 09:00", "东湖区", "幸福小区3栋没水了", "x"),
            ("2", "2026-05-01 07:00", "东湖区", "幸福小区停水了", ""),
            ("3", "2026-05-01 08:00", "东湖区", "金海花园电梯坏了", "y,z"),
            ("4", "2026-05-01 07:30", "东湖区", "幸福里小区那边也没水", "")]
    inp, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_csv(inp, rows)
    code = main(["--home", str(tmp_path / "home"), "incidents", str(inp), "--out", str(out),
                 "--text-col", "msg", "--time-col", "when", "--region-col", "district",
                 "--no-progress", "--report", str(tmp_path / "rep")])
    assert code == 0
    got = list(csv.reader(open(out, encoding="utf-8")))
    assert got[0] == ["id", "when", "district", "msg", "note", "incident_id", "incident_size"]
    assert [tuple(r[:5]) for r in got[1:]] == rows
    ids = [r[5] for r in got[1:]]
    assert ids[0] == ids[1] == ids[3] != ids[2]
    assert [r[6] for r in got[1:]] == ["3", "3", "1", "3"]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["incidents"] == 2
    assert (tmp_path / "rep" / "incidents.md").is_file()
    assert (tmp_path / "rep" / "timeline.png").stat().st_size > 1000


@pytest.mark.parametrize("rows, argv, message", [
    ([("1", "2026-05-01 09:00", "东湖区", "停水", "")], ["--text-col", "text"], "'text'"),
    ([("1", "2026-05-01 09:00", "东湖区", "停水", ""), ("2", "明天早上", "东湖区", "停水", "")],
     ["--text-col", "msg"], "row 2"),
])
def test_cli_errors_exit_2(tmp_path, capsys, rows, argv, message):
    inp = tmp_path / "in.csv"
    _write_csv(inp, rows)
    code = main(["--home", str(tmp_path), "incidents", str(inp), "--out", str(tmp_path / "o.csv"),
                 "--time-col", "when", "--region-col", "district", "--no-progress", *argv])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and message in err
    if "row 2" in message:
        assert "明天早上" in err


def test_cli_unreadable_file_exits_2(tmp_path, capsys):
    code = main(["--home", str(tmp_path), "incidents", str(tmp_path / "none.csv"),
                 "--out", str(tmp_path / "o.csv"), "--no-progress"])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_eval_incidents_reports_linker_and_baselines(tmp_path, capsys):
    reports, gold = _dev_like()
    path = tmp_path / "set.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["report_id", "incident", "time", "region", "text"])
        for n, (r, g) in enumerate(zip(reports, gold)):
            w.writerow([f"r{n}", g, "2026-05-01 07:00" if n == 0 else
                        f"2026-05-{1 + int((r.time - T0 + 7) // 24):02d} "
                        f"{int((r.time - T0 + 7) % 24):02d}:{int(((r.time - T0) % 1) * 60):02d}",
                        r.region, r.text])
    assert main(["--home", str(tmp_path), "eval", "incidents", "--data", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reports"] == 9 and report["singletons"]["bcubed_precision"] == 1.0
    assert {"bcubed_f1", "pairwise_f1"} <= set(report["linker"]) & set(report["tfidf_baseline"])
