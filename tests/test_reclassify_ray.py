"""`hotline reclassify --engine ray`: the same bytes as the local engine (output,
errors file, change report), resumable after a kill, clear errors. One local
Ray session for the module (its start-up dominates); the two tests that use it
take ~65 s together here and are marked slow (`pytest -m slow`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotline.batch import BatchError
from hotline.batch.engines import make_engine
from hotline.batch.predict import ModelSpec
# home and orders: the demo home and its work orders, the same fixtures as the local engine's tests
from tests.test_reclassify import home, kill_mid_run, numbered, orders, read_csv, run, write_csv  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
COLS = ["id", "title", "detail", "department"]


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray (2 CPUs) the tests run in-process and their subprocesses join."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ctx.address_info["gcs_address"]
    finally:
        ray.shutdown()


def with_bad_rows(orders, n):
    rows = numbered(orders, n)
    depts = sorted({r["department"] for r in orders})
    for i, r in enumerate(rows):
        if i % 10 == 0:  # misroutes in the old labels, so the change report has rows
            r["department"] = depts[(depts.index(r["department"]) + 1) % len(depts)]
    rows[3]["title"] = rows[3]["detail"] = ""           # empty_text
    rows[10]["title"], rows[10]["detail"] = "！！！", "…… 🙂"  # no_content
    rows[47]["title"] = rows[47]["detail"] = "   "
    for r in rows[60:85]:                               # a whole chunk with no text
        r["title"] = r["detail"] = ""
    return rows


def cli(home, *args, timeout=300):
    cmd = [sys.executable, "-m", "hotline.cli.main", "--home", str(home), "reclassify", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_same_bytes_as_the_local_engine(home, orders, tmp_path, ray_address):
    inp = write_csv(tmp_path / "in.csv", with_bad_rows(orders, 300), COLS)
    for name, kw in (("local", {"workers": 2}), ("ray", {"workers": 2, "engine": "ray"}),
                     ("ray1", {"workers": 1, "engine": "ray"})):
        s = run(home, inp, tmp_path / f"{name}.csv", compare_col="department", chunk_size=25,
                **kw)
        assert s.rows_written == 300 and s.rows_bad == 28, (name, s)
        assert s.changed and s.changed > 0
    local = tmp_path / "local"
    for other in ("ray", "ray1"):
        o = tmp_path / other
        assert Path(f"{o}.csv").read_bytes() == Path(f"{local}.csv").read_bytes()
        assert Path(f"{o}.errors.csv").read_bytes() == Path(f"{local}.errors.csv").read_bytes()
        for f in ("report.md", "report.json", "changed_rows.csv"):
            a, b = Path(f"{o}.report") / f, Path(f"{local}.report") / f
            assert a.read_bytes() == b.read_bytes(), f
    assert [r["id"] for r in read_csv(tmp_path / "ray.csv")] == [str(i) for i in range(300)]
    # JSONL in (its reader makes a pass of its own for the keys), XLSX out.
    rows = with_bad_rows(orders, 120)
    jl = tmp_path / "in.jsonl"
    jl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                  encoding="utf-8")
    for name, kw in (("jl_local", {}), ("jl_ray", {"engine": "ray", "workers": 2})):
        run(home, jl, tmp_path / f"{name}.jsonl", chunk_size=25, **kw)
        run(home, jl, tmp_path / f"{name}.xlsx", chunk_size=25, **kw)
    for ext in ("jsonl", "errors.csv"):
        assert (tmp_path / f"jl_ray.{ext}").read_bytes() == (tmp_path / f"jl_local.{ext}").read_bytes()
    import openpyxl

    def cells(path):
        return list(openpyxl.load_workbook(path, read_only=True).active.iter_rows(values_only=True))

    assert cells(tmp_path / "jl_ray.xlsx") == cells(tmp_path / "jl_local.xlsx")
    import ray

    assert ray.is_initialized()  # the engine leaves a session it did not start alone


@pytest.mark.slow
def test_resume_after_killing_a_ray_run(home, orders, tmp_path, ray_address):
    n = 3000
    inp = write_csv(tmp_path / "in.csv", with_bad_rows(orders, n), COLS)
    out = tmp_path / "out.csv"
    args = [str(inp), "--text-cols", "title,detail", "--out", str(out), "--workers", "2",
            "--chunk-size", "25", "--checkpoint-every", "0", "--no-progress",
            "--compare-col", "department", "--engine", "ray", "--ray-address", ray_address]
    cmd = [sys.executable, "-m", "hotline.cli.main", "--home", str(home), "reclassify", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = kill_mid_run(cmd, env, tmp_path / ".out.csv.work" / "checkpoint.json", 180)
    assert not out.exists()
    assert 100 <= done < n

    resumed = cli(home, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["resumed_at_row"] >= done and summary["rows_written"] == n
    assert [r["id"] for r in read_csv(out)] == [str(i) for i in range(n)]
    run(home, inp, tmp_path / "clean.csv", compare_col="department", chunk_size=100)
    assert out.read_bytes() == (tmp_path / "clean.csv").read_bytes()
    for f in ("report.json", "report.md"):
        assert (tmp_path / "out.report" / f).read_bytes() == \
            (tmp_path / "clean.report" / f).read_bytes()


def test_unreachable_or_malformed_address_exits_2(home, orders, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    inp = write_csv(tmp_path / "in.csv", numbered(orders, 5), COLS)
    base = [str(inp), "--text-cols", "title,detail", "--out", str(tmp_path / "o.csv"),
            "--engine", "ray", "--no-progress"]
    t0 = time.monotonic()
    r = cli(home, *base, "--ray-address", "127.0.0.1:1", timeout=60)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "error: cannot reach the Ray cluster at '127.0.0.1:1'" in r.stderr
    assert time.monotonic() - t0 < 40  # no long retry loop
    r = cli(home, *base, "--ray-address", "no-port-here", timeout=60)
    assert r.returncode == 2 and "expected HOST:PORT" in r.stderr, r.stderr[-2000:]
    r = cli(home, str(inp), "--text-cols", "title,detail", "--out", str(tmp_path / "o.csv"),
            "--ray-address", "127.0.0.1:6379", timeout=60)
    assert r.returncode == 2 and "needs --engine ray" in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "o.csv").exists()


def test_missing_extra_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(BatchError, match=r"engine 'ray' needs the ray extra: pip install \.\[ray\]"):
        make_engine("ray", ModelSpec(str(tmp_path)), 1)
