"""`hotline incidents` keeps its output while it gets faster: the incident ids on
the project's dev and test sets are pinned, the output does not depend on the
hash seed, and the worker pool gives the single process's output."""
from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "training" / "data" / "incidents"
# sha256 of the incident_id column (one id a line). dev.csv's is as written by the
# implementation before the speed-up (main 741ba4f) under PYTHONHASHSEED=0; test.csv's
# changed when set iteration orders stopped deciding ties among candidates and the
# last bits of cosines (249 incidents under every seed; before, 249 with seed 1 and
# 251 with seeds 0 and 6). No seed is fixed now: the output must not depend on it.
PINNED = {
    "dev.csv": "50e255a6fc7bc42dcb2bd49a1153c309c14ea77746c09f3fe070f24cb1470985",
    "test.csv": "3f9d9ba69bfac84cf5a6c525d6bf9a978389c81d1e9fa7527edd81bcd46035f1",
}


def _ids(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [r["incident_id"] for r in csv.DictReader(fh)]


def _run(inp: Path, out: Path, *extra: str, seed: str = "random") -> None:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "hotline.cli.main", "--home", str(out.parent / "home"),
                    "incidents", str(inp), "--out", str(out), "--no-progress", *extra],
                   check=True, env=env, cwd=ROOT, capture_output=True)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_incident_ids_are_pinned_on_dev_and_test(tmp_path, name):
    out = tmp_path / "out.csv"
    _run(DATA / name, out)
    digest = hashlib.sha256("\n".join(_ids(out)).encode("utf-8")).hexdigest()
    assert digest == PINNED[name]


def test_output_does_not_depend_on_the_hash_seed(tmp_path):
    # external checks run the command once under whatever seed they have; these
    # two seeds gave different test.csv groupings before the order was made canonical
    _run(DATA / "dev.csv", tmp_path / "s1.csv", seed="1")
    _run(DATA / "dev.csv", tmp_path / "s6.csv", seed="6")
    assert (tmp_path / "s1.csv").read_bytes() == (tmp_path / "s6.csv").read_bytes()


def test_worker_pool_gives_the_single_process_output(tmp_path):
    sys.path.insert(0, str(ROOT))
    from bench.bench_incidents import make_rows, write_csv

    # distinct texts (the pool takes over from 2,000 of them), shuffled input
    inp = write_csv(make_rows(2200, unique=True), tmp_path / "in.csv")
    _run(inp, tmp_path / "one.csv", "--workers", "1")
    _run(inp, tmp_path / "two.csv", "--workers", "2")
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert len(set(_ids(tmp_path / "one.csv"))) < 2200   # some reports were linked


def test_districts_linked_in_workers_give_the_single_process_output(tmp_path):
    """Linking district by district in worker processes (many districts, none
    holding most rows) and the one-stream pipeline (one district: --region-col '')
    both give what one process gives, ids included."""
    sys.path.insert(0, str(ROOT))
    from bench.bench_incidents import make_rows, write_csv
    from hotline.batch import incidents as batch

    rows = make_rows(2600, unique=False)
    inp = write_csv(rows, tmp_path / "in.csv")
    assert len({r["region"] for r in rows}) > 10
    for extra in ((), ("--region-col", "")):
        _run(inp, tmp_path / "one.csv", "--workers", "1", *extra)
        _run(inp, tmp_path / "two.csv", "--workers", "2", *extra)
        assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    # the split needs enough rows, two districts, and the biggest at most 60 % of
    # the rows (else one worker would link most of the file while the other waits)
    from incidents.reports import Report

    def reports(regions):
        return [Report(float(k), regions[k % len(regions)], "停水") for k in range(2000)]

    order = list(range(2000))
    assert batch._link_by_district(reports(["甲"]), order, None, 2, None) is None
    assert batch._link_by_district(reports(["甲", "甲", "乙"]), order, None, 2, None) is None
    assert batch._link_by_district(reports(["甲", "乙"]), order, None, 1, None) is None
    assert batch._link_by_district(reports(["甲", "乙"])[:1000], order[:1000], None, 2,
                                   None) is None
    # and when it splits, the grouping is the one stream's
    from incidents.linker import IncidentLinker

    linker = IncidentLinker.load()
    two = reports(["甲", "乙"])
    split = batch._link_by_district(two, order, linker, 2, None)
    assert split is not None

    def canon(labels):
        first: dict = {}
        return [first.setdefault(label, len(first)) for label in labels]

    assert canon(split) == canon(linker.link(two))
    assert len(set(split)) > 2   # 停水 every hour: some windows close, incidents reopen
