"""Stateless replicas over one PostgreSQL KB (issue 18): two `hotline serve
--production` processes over the same home and database. A write through one
is searchable (or gone) on the other within 1 s; two concurrent edits of one
entry from the same revision give exactly one 409; a database restart needs
no manual action."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import KEYS, production_server, search_kb_rows

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def call(port: int, method: str, path: str, body=None, role="agent", headers=None):
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {KEYS[role]}",
                                          "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def hit_ids(port: int, query: str) -> list[str]:
    status, body = call(port, "POST", "/v1/search", {"query": query, "k": 5})
    assert status == 200, body
    return [h["id"] for h in body["hits"]]


def seconds_until(predicate, limit: float = 5.0) -> float:
    t0 = time.perf_counter()
    while not predicate():
        assert time.perf_counter() - t0 < limit, f"not true within {limit} s"
        time.sleep(0.02)
    return time.perf_counter() - t0


@pytest.fixture(scope="module")
def pg_home(pg_server, search_home, tmp_path_factory):
    """search_home's embedder export, a KB in PostgreSQL (hotline.toml: kb_url),
    and an index built from it by `hotline index build`."""
    from kb import KBStore

    url = pg_server.new_database()
    home = tmp_path_factory.mktemp("pg_home")
    shutil.copytree(search_home / "embedders", home / "embedders")
    (home / "hotline.toml").write_text(f'kb_url = "{url}"\n', encoding="utf-8")
    with KBStore(url) as store:
        for row in search_kb_rows():
            store.add(row)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HOTLINE_KB_URL", None)
    subprocess.run([sys.executable, "-m", "hotline.cli.main", "--home", str(home), "index", "build"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    return home


def search_answers(port: int) -> bool:
    try:
        return call(port, "POST", "/v1/search", {"query": "路灯", "k": 1})[0] == 200
    except OSError:
        return False


@contextlib.contextmanager
def two_replicas(home):
    # No classifier model in this home: /readyz stays 503, search is served.
    with production_server(home, timeout=120) as (_, a), production_server(home, timeout=120) as (_, b):
        seconds_until(lambda: search_answers(a) and search_answers(b), limit=120)
        yield a, b


def test_write_through_one_replica_is_visible_on_the_other_within_a_second(pg_home, pg_server):
    with two_replicas(pg_home) as (a, b):
        entry = {"id": "pet-01", "question": "宠物狗狂犬疫苗在哪里接种", "answer": "到区动物防疫站接种。",
                 "department": ["市农业农村局"], "category": ["宠物"]}
        assert call(a, "POST", "/v1/kb/entries", entry, role="editor")[0] == 201
        took = seconds_until(lambda: "pet-01" in hit_ids(b, "宠物狗狂犬疫苗在哪里接种"))
        assert took < 1.0, f"created on A, searchable on B after {took:.2f} s"
        print(f"created on A, searchable on B after {took:.3f} s")

        status, _ = call(b, "PATCH", "/v1/kb/entries/pet-01", {"answer": "到区动物防疫站或指定宠物医院接种。"},
                         role="editor", headers={"If-Match": '"1"'})
        assert status == 200
        status, _ = call(b, "DELETE", "/v1/kb/entries/pet-01", role="editor", headers={"If-Match": '"2"'})
        assert status == 200
        took = seconds_until(lambda: "pet-01" not in hit_ids(a, "宠物狗狂犬疫苗在哪里接种"))
        assert took < 1.0, f"retired on B, still found on A after {took:.2f} s"
        print(f"retired on B, gone on A after {took:.3f} s")

        # Two editors, one per replica, both from revision 1: exactly one wins.
        entry = {**entry, "id": "pet-02", "question": "宠物登记怎么办理"}
        assert call(a, "POST", "/v1/kb/entries", entry, role="editor")[0] == 201
        statuses, barrier = [], threading.Barrier(2)

        def edit(port, text):
            barrier.wait()
            statuses.append(call(port, "PATCH", "/v1/kb/entries/pet-02", {"answer": text},
                                 role="editor", headers={"If-Match": '"1"'})[0])

        threads = [threading.Thread(target=edit, args=(p, f"来自{p}")) for p in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [200, 409]
        status, history = call(a, "GET", "/v1/kb/entries/pet-02/history")
        assert status == 200 and [r["revision"] for r in history["items"]] == [1, 2]

        # The database restarts under both replicas: no manual action needed.
        pg_server.stop()
        pg_server.start()
        entry = {**entry, "id": "pet-03", "question": "流浪猫收容找哪个部门"}
        deadline = time.time() + 30
        while call(a, "POST", "/v1/kb/entries", entry, role="editor")[0] != 201:
            assert time.time() < deadline, "replica A did not reconnect to the database"
            time.sleep(0.2)
        seconds_until(lambda: "pet-03" in hit_ids(b, "流浪猫收容找哪个部门"), limit=10)
