"""`hotline reclassify` end to end with the real classifier (trained once per
session by the shared ``served_home`` fixture through ``training.prepare``, on
small demo-format work orders) and the real default embedder."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from hotline.batch import PRED_COLUMNS, Options, ResumeMismatch, reclassify
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def home(served_home):
    return served_home


@pytest.fixture(scope="module")
def orders(home):
    with open(make_settings(home).demo_dir / "work_orders.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def numbered(orders, n: int) -> list[dict]:
    return [{"id": str(i), **orders[i % len(orders)]} for i in range(n)]


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def kill_mid_run(cmd: list[str], env: dict, ckpt: Path, timeout: float,
                 at_least: int = 100) -> int:
    """Start ``cmd`` (a reclassify run) in its own session, SIGKILL the whole
    group once its checkpoint says ``at_least`` rows were read; returns that count."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if ckpt.is_file():
            try:
                done = json.loads(ckpt.read_text(encoding="utf-8"))["rows_read"]
            except (ValueError, KeyError):
                done = 0
            if done >= at_least:
                break
        time.sleep(0.05)
    assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read()[-800:]}"
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, mid-run
    proc.wait()
    proc.stderr.close()
    return done


def run(home, inp, out, **kw) -> object:
    opts = Options(input=inp, out=out, text_cols=["title", "detail"], progress=False, **kw)
    return reclassify(make_settings(home), opts)


def test_order_preserved_with_workers_and_matches_the_bundle(home, orders, tmp_path):
    from classifier import load_bundle
    from hotline.batch.runner import resolve_model

    rows = numbered(orders, 230)
    inp = write_csv(tmp_path / "in.csv", rows, ["id", "title", "detail", "type", "department"])
    one = run(home, inp, tmp_path / "one.csv", workers=1, chunk_size=16)
    two = run(home, inp, tmp_path / "two.csv", workers=2, chunk_size=7)
    assert one.rows_written == two.rows_written == 230 and two.rows_bad == 0
    out = read_csv(tmp_path / "two.csv")
    assert [r["id"] for r in out] == [str(i) for i in range(230)]
    assert list(out[0]) == ["id", "title", "detail", "type", "department", *PRED_COLUMNS]
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    # The columns are the bundle's own predictions for the joined text.
    bundle = load_bundle(resolve_model(make_settings(home), None))
    preds = bundle.predict([f"{r['title']}\n{r['detail']}" for r in rows[:5]])
    for r, p in zip(out[:5], preds):
        assert r["pred_department"] == p.department and r["pred_type"] == p.type
        assert float(r["pred_department_conf"]) == pytest.approx(p.department_conf, abs=1e-3)
        top3 = json.loads(r["pred_department_top3"])
        assert top3[0]["label"] == p.department and len(top3) <= 3
    assert not list(tmp_path.glob(".*.work"))  # work files are gone after success


def test_bad_rows_stay_in_the_output_go_to_the_errors_file_and_never_abort(home, orders,
                                                                           tmp_path):
    inp = tmp_path / "in.csv"
    good = orders[0]
    lines = ["id,title,detail",
             f"1,{good['title']},{good['detail']}",
             "2,,   ",                       # empty text
             "3,only,two,fields,too many",  # wrong column count
             f"4,{orders[1]['title']},{orders[1]['detail']}"]
    data = ("\n".join(lines) + "\n").encode("utf-8") + b"5,\xff\xfe\xfd,x\n" \
        + f"6,{orders[2]['title']},ok\n".encode("utf-8")
    inp.write_bytes(data)
    s = run(home, inp, tmp_path / "out.csv", errors=tmp_path / "errs.csv")
    assert s.rows_read == 6 and s.rows_written == 6 and s.rows_bad == 3
    assert s.bad_by_code == {"empty_text": 1, "wrong_column_count": 1, "bad_encoding": 1}
    out = read_csv(tmp_path / "out.csv")
    # Every input row, in order; a bad row keeps its input columns (as far as
    # they go), has no prediction and is flagged for review.
    assert [r["id"] for r in out] == ["1", "2", "3", "4", "5", "6"]
    assert (out[2]["title"], out[2]["detail"]) == ("only", "two")
    assert out[4]["title"] == "\ufffd\ufffd\ufffd"
    for r in out:
        bad_row = r["id"] in ("2", "3", "5")
        assert (r["pred_type"] == "") == bad_row and (r["pred_department"] == "") == bad_row
        assert (r["pred_department_top3"] == "" and r["pred_type_conf"] == "") == bad_row
        assert r["pred_needs_review"] in ("true", "false")
        if bad_row:
            assert r["pred_needs_review"] == "true"
    errs = read_csv(tmp_path / "errs.csv")
    assert [(e["row"], e["line"], e["code"]) for e in errs] == [
        ("2", "3", "empty_text"), ("3", "4", "wrong_column_count"), ("5", "6", "bad_encoding")]
    assert all(e["reason"] for e in errs)


def test_rows_without_content_are_bad_rows_like_empty_ones(home, orders, tmp_path):
    """Punctuation/emoji-only text is no message: the row is kept, flagged and
    reported as `no_content`, exactly as an empty one is `empty_text`."""
    inp = tmp_path / "in.csv"
    good = orders[0]
    lines = ["id,title,detail",
             f"1,{good['title']},{good['detail']}",
             "2,？？！！,。。……",
             "3,,   ",
             "4,😀👍,!!!",
             f"5,？？,{good['detail']}"]       # punctuation title, real body: fine
    inp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = run(home, inp, tmp_path / "out.csv", errors=tmp_path / "errs.csv")
    assert s.rows_read == 5 and s.rows_written == 5 and s.rows_bad == 3
    assert s.bad_by_code == {"no_content": 2, "empty_text": 1}
    out = read_csv(tmp_path / "out.csv")
    assert [r["id"] for r in out] == ["1", "2", "3", "4", "5"]
    for r in out:
        bad_row = r["id"] in ("2", "3", "4")
        assert (r["pred_type"] == "" and r["pred_department"] == "") == bad_row
        assert r["pred_needs_review"] == "true" or not bad_row
    errs = read_csv(tmp_path / "errs.csv")
    assert [(e["row"], e["code"]) for e in errs] == [("2", "no_content"), ("3", "empty_text"),
                                                    ("4", "no_content")]
    assert "？？！！" in errs[0]["text"] and all(e["reason"] for e in errs)


def test_missing_text_column_fails_fast_naming_it(home, orders, tmp_path):
    from hotline.cli.main import main

    inp = write_csv(tmp_path / "in.csv", numbered(orders, 3), ["id", "title", "detail"])
    code = main(["--home", str(home), "reclassify", str(inp), "--text-cols", "title,body",
                 "--out", str(tmp_path / "o.csv"), "--no-progress"])
    assert code == 2 and not (tmp_path / "o.csv").exists()


def test_compare_report_numbers(home, orders, tmp_path):
    rows = numbered(orders, 120)
    depts = sorted({r["department"] for r in orders})
    for i, r in enumerate(rows):
        if i % 10 == 0:  # simulate misroutes in the old labels
            r["department"] = depts[(depts.index(r["department"]) + 1) % len(depts)]
    rows[5]["department"] = ""  # no old label
    inp = write_csv(tmp_path / "in.csv", rows, ["id", "title", "detail", "department"])
    s = run(home, inp, tmp_path / "out.csv", workers=2, chunk_size=13, compare_col="department")
    report = Path(s.report_dir)
    for name in ("report.md", "report.json", "changed_rows.csv", "shift.png", "confusion.png"):
        assert (report / name).stat().st_size > 0, name
    assert (report / "shift.png").read_bytes()[:4] == b"\x89PNG"
    fig = json.loads((report / "report.json").read_text(encoding="utf-8"))
    out = [r for r in read_csv(tmp_path / "out.csv") if r["department"]]
    changed = [r for r in out if r["department"] != r["pred_department"]]
    assert fig["head"] == "department"
    assert fig["rows_compared"] == len(out) == 119 and fig["rows_without_old_label"] == 1
    assert fig["changed"] == s.changed == len(changed) > 0
    assert fig["old_counts"] == dict(Counter(r["department"] for r in out))
    assert sum(fig["old_counts"].values()) == 119 == sum(fig["new_counts"].values())
    assert fig["new_counts"] == dict(Counter(r["pred_department"] for r in out))
    labels, matrix = fig["confusion"]["labels"], fig["confusion"]["matrix"]
    pairs = Counter((r["department"], r["pred_department"]) for r in out)
    assert {(labels[i], labels[j]): v for i, row in enumerate(matrix) for j, v in enumerate(row) if v} == pairs
    assert sum(t[2] for t in fig["transitions"]) == len(changed)
    for shift in fig["shifts"]:
        assert shift["delta"] == shift["new"] - shift["old"]
    listed = read_csv(report / "changed_rows.csv")
    assert sorted(r["row"] for r in listed) == sorted(str(int(r["id"]) + 1) for r in changed)
    assert all(0 <= float(r["confidence"]) <= 1 for r in listed)
    md = (report / "report.md").read_text(encoding="utf-8")
    assert f"**{len(changed)}**" in md and "Confusion matrix" in md


def test_xlsx_and_jsonl_inputs_and_outputs_agree_with_csv(home, orders, tmp_path):
    import openpyxl

    rows = numbered(orders, 40)
    cols = ["id", "title", "detail"]
    write_csv(tmp_path / "in.csv", rows, cols)
    with open(tmp_path / "in.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({c: r[c] for c in cols}, ensure_ascii=False) + "\n")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(cols)
    for r in rows:
        ws.append([r[c] for c in cols])
    wb.save(tmp_path / "in.xlsx")

    run(home, tmp_path / "in.csv", tmp_path / "ref.csv")
    ref = read_csv(tmp_path / "ref.csv")
    run(home, tmp_path / "in.jsonl", tmp_path / "j.jsonl", workers=2, chunk_size=9)
    got = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == [r["id"] for r in ref]
    assert [g["pred_department"] for g in got] == [r["pred_department"] for r in ref]
    assert isinstance(got[0]["pred_needs_review"], bool)
    run(home, tmp_path / "in.xlsx", tmp_path / "x.xlsx", chunk_size=11)
    sheet = openpyxl.load_workbook(tmp_path / "x.xlsx", read_only=True).active
    xrows = list(sheet.iter_rows(values_only=True))
    assert list(xrows[0]) == cols + list(PRED_COLUMNS)
    assert [x[5] for x in xrows[1:]] == [r["pred_department"] for r in ref]


def test_resume_after_a_real_kill(home, orders, tmp_path):
    rows = numbered(orders, 2000)
    inp = write_csv(tmp_path / "in.csv", rows, ["id", "title", "detail", "department"])
    out = tmp_path / "out.csv"
    cmd = [sys.executable, "-m", "hotline.cli.main", "--home", str(home), "reclassify", str(inp),
           "--text-cols", "title,detail", "--out", str(out), "--workers", "2",
           "--chunk-size", "25", "--checkpoint-every", "0", "--no-progress",
           "--compare-col", "department"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = kill_mid_run(cmd, env, tmp_path / ".out.csv.work" / "checkpoint.json", 120)
    assert not out.exists()  # never a partial output file
    assert 100 <= done < 2000

    resumed = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["resumed_at_row"] >= done and summary["rows_written"] == 2000
    got = read_csv(out)
    assert [r["id"] for r in got] == [str(i) for i in range(2000)]  # none lost, none twice
    # Same bytes and same report as an uninterrupted run.
    s = run(home, inp, tmp_path / "clean.csv", compare_col="department", chunk_size=100)
    assert out.read_bytes() == (tmp_path / "clean.csv").read_bytes()
    a = json.loads((tmp_path / "out.report" / "report.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "clean.report" / "report.json").read_text(encoding="utf-8"))
    assert a["confusion"] == b["confusion"] and a["changed"] == b["changed"] == s.changed


def test_resume_with_other_options_is_refused(home, orders, tmp_path):
    inp = write_csv(tmp_path / "in.csv", numbered(orders, 30), ["id", "title", "detail"])
    work = tmp_path / ".out.csv.work"
    work.mkdir()
    (work / "output.partial").write_bytes(b"")
    (work / "checkpoint.json").write_text(json.dumps({
        "identity": {"text_cols": ["title"]}, "rows_read": 0}), encoding="utf-8")
    with pytest.raises(ResumeMismatch, match="text_cols"):
        run(home, inp, tmp_path / "out.csv", resume=True)
