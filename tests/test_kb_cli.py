"""`hotline kb ...` end to end; every command writes under HOTLINE_HOME."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hotline.cli.main import main
from kb import KBStore
from tests.conftest import KB_BACKENDS

ROOT = Path(__file__).resolve().parents[1]
# The commands that read and write the KB run on SQLite and on a real PostgreSQL.
both_backends = pytest.mark.parametrize("kb_backend", KB_BACKENDS)


@pytest.fixture
def home(tmp_path, monkeypatch, kb_backend, request):
    home = tmp_path / "home"
    monkeypatch.setenv("HOTLINE_HOME", str(home))
    monkeypatch.chdir(tmp_path)    # a stray ./var would appear here
    if kb_backend == "postgresql":
        server = request.getfixturevalue("pg_server")
        url = server.new_database()
        request.addfinalizer(lambda: server.drop_database(url))
        monkeypatch.setenv("HOTLINE_KB_URL", url)
    return home


def kb_of(home) -> KBStore:
    return KBStore(os.environ.get("HOTLINE_KB_URL") or home / "kb.sqlite3")


def run(capsys, *argv):
    code = main(["kb", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_honours_hotline_home_in_a_real_process(tmp_path):
    home, cwd = tmp_path / "elsewhere", tmp_path / "cwd"
    cwd.mkdir()
    env = {**os.environ, "HOTLINE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "hotline.cli.main", "kb"]
    subprocess.run(cmd + ["add", "--id", "a1", "--question", "问", "--answer", "答"], cwd=cwd, env=env,
                   check=True, capture_output=True)
    out = subprocess.run(cmd + ["stats", "--json"], cwd=cwd, env=env, check=True,
                         capture_output=True, text=True).stdout
    stats = json.loads(out)
    assert (stats["total"], stats["published"]) == (1, 1)
    assert (home / "kb.sqlite3").is_file() and not (cwd / "var").exists()


@both_backends
def test_add_get_update_conflict_retire_history(home, capsys):
    code, out, _ = run(capsys, "add", "--id", "k1", "--question", "公积金怎么提取", "--answer", "带身份证",
                       "--similar", "提取公积金|公积金提取", "--category", "住房", "--category", "公积金",
                       "--valid-from", "2025-01-01", "--by", "alice", "--json")
    assert code == 0 and json.loads(out)["similar_questions"] == ["提取公积金", "公积金提取"]
    code, out, _ = run(capsys, "update", "k1", "--base-revision", "1", "--answer", "网上办", "--valid-from", "")
    assert code == 0 and "网上办" in out
    code, _, err = run(capsys, "update", "k1", "--base-revision", "1", "--answer", "stale")
    assert code == 2 and "current revision is 2" in err
    assert run(capsys, "retire", "k1", "--base-revision", "2")[0] == 0
    code, out, _ = run(capsys, "history", "k1")
    assert code == 0 and [line.split()[4] for line in out.splitlines()] == ["add", "update", "retire"]
    code, out, _ = run(capsys, "get", "k1", "--json")
    got = json.loads(out)
    assert (got["status"], got["valid_from"], got["revision"]) == ("retired", None, 3)
    code, out, _ = run(capsys, "diff", "k1", "1", "2", "--json")
    assert json.loads(out)["answer"] == {"a": "带身份证", "b": "网上办"}
    code, _, err = run(capsys, "add", "--id", "k2", "--question", "", "--status", "bogus")
    assert code == 1 and "question: is empty" in err and "'bogus' is not one of" in err
    code, _, err = run(capsys, "get", "nope")
    assert code == 2 and "no entry with id 'nope'" in err


@both_backends
def test_import_export_roundtrip_and_rejections(home, capsys, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,question,answer,department\n1,问题一,答一,市人社局|市医保局\n2,问题二,答二,\n"
                   "3,,没有问题,\n", encoding="utf-8")
    code, _, err = run(capsys, "import", str(src))
    assert code == 1 and "row 4 (id '3'): question: is empty" in err
    assert json.loads(run(capsys, "stats", "--json")[1])["total"] == 0
    code, out, err = run(capsys, "import", str(src), "--skip-invalid", "--no-progress")
    assert code == 0 and "2 added" in out
    reports = list((home / "reports").glob("import-in-*.csv"))
    assert len(reports) == 1
    assert reports[0].read_text(encoding="utf-8-sig").splitlines()[1].startswith("4,3,question,")
    for fmt in ("csv", "jsonl", "xlsx"):
        a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        assert run(capsys, "export", str(a))[0] == 0
        other = tmp_path / f"home-{fmt}"
        assert main(["--home", str(other), "kb", "import", str(a), "--no-progress"]) == 0
        assert main(["--home", str(other), "kb", "export", str(b)]) == 0
        capsys.readouterr()
        assert a.read_bytes() == b.read_bytes(), fmt
    code, out, _ = run(capsys, "import", str(tmp_path / "a.jsonl"), "--mode", "replace", "--json")
    assert json.loads(out)["unchanged"] == 2
    code, out, _ = run(capsys, "changes", "--since", "0")
    assert [line.split("\t")[1] for line in out.splitlines()] == ["add", "add"]


@both_backends
def test_taxonomy_from_demo_dir_is_applied(home, capsys):
    from kb.taxonomy import Department, save_departments
    save_departments(home / "demo" / "departments.json", [Department("市人社局", aliases=("人社局",))])
    code, _, err = run(capsys, "add", "--id", "t", "--question", "q", "--answer", "a", "--department", "水务局")
    assert code == 1 and "'水务局' is not in the department taxonomy" in err
    assert run(capsys, "add", "--id", "t", "--question", "q", "--answer", "a", "--department", "水务局",
               "--no-taxonomy")[0] == 0
    code, out, _ = run(capsys, "add", "--id", "u", "--question", "q", "--answer", "a",
                       "--department", "人社局", "--json")
    assert json.loads(out)["department"] == ["市人社局"]
    assert kb_of(home).count() == 2


def test_import_refuses_an_xlsx_zip_bomb_with_one_line(home, capsys, tmp_path):
    from tests.test_kb_io import _shared_strings, _xlsx_with
    bomb = _xlsx_with(tmp_path, members={"xl/sharedStrings.xml": _shared_strings(250_000)})
    assert run(capsys, "add", "--id", "k", "--question", "q", "--answer", "a")[0] == 0
    code, out, err = run(capsys, "import", str(bomb), "--no-progress")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "'xl/sharedStrings.xml'" in err
    assert "the KB was not changed" in err
    assert json.loads(run(capsys, "stats", "--json")[1])["total"] == 1


def test_import_of_an_unreadable_csv_is_one_line_and_exit_2(home, capsys, tmp_path):
    assert run(capsys, "add", "--id", "k", "--question", "q", "--answer", "a")[0] == 0
    big = tmp_path / "big.csv"
    big.write_text("id,question,answer\nb,q," + "x" * (2 * 2**20) + "\n", encoding="utf-8")   # a 2 MiB cell
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n", encoding="utf-8")
    for path, words in [(big, "row 2: a cell is longer than 1,048,576 characters"),
                        (wide, "row 1 has 100,000 cells, at most 200 columns allowed")]:
        code, out, err = run(capsys, "import", str(path), "--no-progress")
        assert (code, out) == (2, ""), err[-500:]
        assert err.count("\n") == 1 and err.startswith("error: ") and words in err
        assert "the KB was not changed" in err
    assert json.loads(run(capsys, "stats", "--json")[1])["total"] == 1


def test_rejected_import_prints_at_most_20_problems(home, capsys, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("id,question,answer\n" + "".join(f"r{i},,a\n" for i in range(150)), encoding="utf-8")
    code, _, err = run(capsys, "import", str(src), "--no-progress")
    lines = err.splitlines()
    assert code == 1 and len(lines) == 22 and lines[0].startswith("error: ")
    assert lines[1] == "  row 2 (id 'r0'): question: is empty; the standard question is required"
    assert lines[-1] == "  ... and 130 more (`--report FILE` lists them all)"
    code, _, err = run(capsys, "import", str(src), "--no-progress", "--report", str(tmp_path / "all.csv"))
    lines = err.splitlines()
    assert code == 1 and len(lines) == 22 and lines[-1].startswith("  all 150 problem(s) are listed in ")
    report = (tmp_path / "all.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(report) == 151 and report[-1].startswith("151,r149,question,")
    assert json.loads(run(capsys, "stats", "--json")[1])["total"] == 0


@both_backends
def test_migrate_creates_then_reports_up_to_date(home, capsys):
    from kb.migrate import latest

    dialect = "postgresql" if os.environ.get("HOTLINE_KB_URL") else "sqlite"
    code, out, _ = run(capsys, "migrate")
    assert code == 0 and f"schema version none -> {latest(dialect)}" in out
    code, out, _ = run(capsys, "migrate")
    assert code == 0 and f"schema version {latest(dialect)}, up to date" in out
