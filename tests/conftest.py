"""Shared fixtures. Keep each one small and real: homes are built in temporary
directories with the product's own library calls, once per session where they
are expensive. Other areas may add fixtures here; keep them grouped by area."""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from foundation.settings import Settings

# The widget's browser fixtures (home, server, Chromium), shared by its two test modules.
pytest_plugins = ["tests.widget_support"]

# ---------------------------------------------------------------- HTTP service
KEYS = {"agent": "agent-key-0123456789", "editor": "editor-key-0123456789",
        "admin": "admin-key-0123456789"}
API_KEYS = ",".join(f"{role}:{key}" for role, key in KEYS.items())

KB_ROWS = [
    {"id": "kb-001", "question": "怎么办理居住证", "similar_questions": ["居住证在哪里办"],
     "answer": "携带身份证和居住证明到社区警务室或派出所办理。", "department": ["市公安局"],
     "category": ["户籍", "居住证"], "tags": ["证件"]},
    {"id": "kb-002", "question": "小区路灯坏了找谁修", "similar_questions": ["路灯不亮"],
     "answer": "市政道路路灯由市城管局负责维修，小区内路灯由物业负责。",
     "department": ["市城管局"], "category": ["市政", "路灯"], "region": "临江区"},
    {"id": "kb-003", "question": "失业保险金怎么领取", "answer": "在人社部门网上办事大厅申领。",
     "department": ["市人社局"], "category": ["社保", "失业保险"],
     "valid_from": "2020-01-01"},
]


PHONE = "13812345678"


def problem(resp, status, code):
    """Assert ``resp`` is the RFC 9457 problem document for ``status``/``code``."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"urn:hotline:error:{code}" and body["title"] and body["detail"]
    assert "Traceback" not in body["detail"]
    return body


def auth(role: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[role]}"}


# ---------------------------------------------------------------- KB backends
@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL (tests/pg.py), started once per session on a free port."""
    from tests.pg import PGServer, find_bin

    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (`make system-deps` "
                    "installs Debian's postgresql)")
    server = PGServer()
    try:
        yield server.start()
    finally:
        server.remove()


@pytest.fixture
def pg_url(request):
    """The URL of a fresh, empty database on the session's PostgreSQL, dropped after the test."""
    server = request.getfixturevalue("pg_server")
    url = server.new_database()
    request.addfinalizer(lambda: server.drop_database(url))
    return url


@pytest.fixture
def kb_backend():
    """Which database kb_home / kb_target use; tests that run on both override it
    with ``@pytest.mark.parametrize("kb_backend", KB_BACKENDS)``."""
    return "sqlite"


KB_BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def kb_target(request, tmp_path, kb_backend):
    """What KBStore opens: a SQLite file under tmp_path, or the URL of a fresh
    PostgreSQL database."""
    if kb_backend == "postgresql":
        return request.getfixturevalue("pg_url")
    return tmp_path / "kb.sqlite3"


@pytest.fixture
def kb_home(tmp_path, kb_target):
    """A home with a three-entry KB and nothing else (no index, no model). On
    PostgreSQL the home's hotline.toml names the database (kb_url)."""
    from kb import KBStore

    if not isinstance(kb_target, Path):
        (tmp_path / "hotline.toml").write_text(f'kb_url = "{kb_target}"\n', encoding="utf-8")
    with KBStore(kb_target) as store:
        for row in KB_ROWS:
            store.add(row)
    return tmp_path


def copy_home(src: Path, dst: Path, leave_out: tuple[str, ...] = ()) -> Path:
    """Copy a home that session-scoped apps may be writing to (their engines' follower
    threads open its SQLite files): every file as is, except each SQLite database,
    copied with SQLite's backup API (a consistent snapshot), and its ``-journal``,
    ``-wal`` and ``-shm`` companions, which come and go under a plain copy
    (shutil.copytree then fails: "No such file or directory: ...-journal").
    ``leave_out``: names not copied at all (e.g. ``("index",)``)."""
    import shutil
    import sqlite3

    transient = ("-journal", "-wal", "-shm")

    def skip(directory, names):
        return [n for n in names
                if n.endswith(transient) or n.endswith(".sqlite3") or n in leave_out]

    shutil.copytree(src, dst, ignore=skip)
    for db in Path(src).rglob("*.sqlite3"):
        target = Path(dst) / db.relative_to(src)
        if not target.parent.is_dir():    # under a left-out directory
            continue
        with contextlib.closing(sqlite3.connect(db)) as a, \
                contextlib.closing(sqlite3.connect(target)) as b:
            a.backup(b)
    return Path(dst)


def make_settings(home, **overrides) -> Settings:
    values = {"home": home, "api_keys": API_KEYS, "rate_limit_per_minute": 100_000, **overrides}
    return Settings.load(overrides=values, env={})


@pytest.fixture
def kb_app(kb_home):
    from server import create_app

    return create_app(make_settings(kb_home))


@pytest.fixture
def kb_client(kb_app):
    return kb_app.test_client()


# A small but varied KB for homes with a real index (questions a 12345 line gets).
_TOPICS = [
    ("居住证", "市公安局", "户籍", "携带身份证、居住证明到社区警务室办理居住证。"),
    ("路灯", "市城管局", "市政", "道路路灯故障由市城管局维修，小区内由物业负责。"),
    ("失业保险金", "市人社局", "社保", "在人社局网上办事大厅申领失业保险金。"),
    ("医保报销", "市医保局", "医保", "持医保卡在定点医院直接结算，异地就医需先备案。"),
    ("公积金提取", "市住房公积金中心", "公积金", "购房、租房可在公积金中心网站申请提取。"),
    ("噪音扰民", "市生态环境局", "环境", "夜间施工噪音可向生态环境局举报，执法人员将到场处理。"),
    ("停水", "市水务集团", "供水", "计划停水会提前公告，突发停水请拨打供水抢修电话。"),
    ("小学入学", "市教育局", "教育", "适龄儿童凭户口簿和房产证明在学区小学报名。"),
    ("营业执照", "市市场监管局", "企业", "在一网通办平台提交材料，三个工作日内办结营业执照。"),
    ("公交线路", "市交通运输局", "交通", "公交线路调整信息在交通运输局官网和公交站牌公布。"),
]
_ASKS = ["怎么办理{t}", "{t}需要什么材料", "{t}问题找哪个部门", "{t}的办理时间"]


def search_kb_rows() -> list[dict]:
    rows = []
    for i, (topic, dept, cat, answer) in enumerate(_TOPICS):
        for j, ask in enumerate(_ASKS):
            rows.append({"id": f"s-{i:02d}-{j}", "question": ask.format(t=topic),
                         "similar_questions": [f"{topic}咨询{j}"], "answer": answer,
                         "department": [dept], "category": [cat],
                         "region": "临江区" if j == 3 else ""})
    return rows


@pytest.fixture(scope="session")
def search_home(tmp_path_factory):
    """A home with a real KB (40 entries), the real default embedder exported to
    ONNX and a real published index; no classifier model. Built once (~20 s)."""
    from index.embedders import get_embedder
    from index.search import build_index
    from kb import KBStore
    from training.embedders import ensure

    home = tmp_path_factory.mktemp("search_home")
    settings = make_settings(home)
    with KBStore(settings.kb_path) as store:
        for row in search_kb_rows():
            store.add(row)
        ensure(settings.embedder, settings)
        build_index(store, get_embedder(settings.embedder, settings), settings, progress=False)
    return home


_ORDER_TEMPLATES = [
    ("consult", "请问{t}怎么办理", "您好，我想咨询一下{t}需要哪些材料，去哪里办理，谢谢。"),
    ("consult", "咨询{t}", "想了解{t}的具体流程和办理时间。"),
    ("complaint", "投诉{t}问题", "{t}的问题反映多次一直没人处理，严重影响生活，要求尽快整改。"),
    ("complaint", "对{t}不满", "工作人员态度很差，{t}的事情拖了一个月还没解决。"),
    ("fault", "{t}坏了", "我们这里{t}出现故障已经三天了，请尽快派人维修。"),
]


def write_training_data(settings) -> None:
    """departments.json + work_orders.csv in the demo format, from the small KB topics."""
    import csv

    from kb.taxonomy import save_departments

    settings.demo_dir.mkdir(parents=True, exist_ok=True)
    save_departments(settings.demo_dir / "departments.json", [
        {"name": dept, "responsibilities": f"{cat}相关事务", "keywords": [topic, cat],
         "reply_days": 5 + i % 3 * 5, "aliases": []}
        for i, (topic, dept, cat, _) in enumerate(_TOPICS)])
    with open(settings.demo_dir / "work_orders.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "detail", "type", "department"])
        for rep in range(3):
            for topic, dept, _, _ in _TOPICS:
                for kind, title, detail in _ORDER_TEMPLATES:
                    w.writerow([title.format(t=topic), f"{detail.format(t=topic)}（{rep}）",
                                kind, dept])


_served: dict = {}


def full_home_ready() -> bool:
    return bool(_served.get("home"))


@pytest.fixture(scope="session")
def served_home(search_home, tmp_path_factory):
    """search_home + taxonomy + demo-format work orders + a classifier model
    trained through ``training.prepare`` (the path ``hotline serve`` uses).
    Skips while the classifier area has not landed its training entry point."""
    from training.prepare import ensure_models

    if "skip" in _served:
        pytest.skip(_served["skip"])
    if "home" not in _served:
        home = copy_home(search_home, tmp_path_factory.mktemp("served_home") / "home")
        settings = make_settings(home)
        write_training_data(settings)
        try:
            built = ensure_models(settings)
        except ImportError as exc:
            _served["skip"] = f"classifier training not available yet: {exc}"
            pytest.skip(_served["skip"])
        assert built, "ensure_models built nothing"
        _served["home"] = home
    return _served["home"]


@pytest.fixture(scope="session")
def served_app(served_home):
    from server import create_app

    return create_app(make_settings(served_home))


@contextlib.contextmanager
def production_server(home, workers: int = 1, threads: int = 1, ready: str = "/healthz",
                      timeout: float = 60, **env):
    """`hotline serve --production` (gunicorn) on a free loopback port over
    ``home``, with the test keys and no rate limit (``env`` adds variables);
    yields ``(process, port)`` once ``ready`` answers 200, terminates it after."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "HOTLINE_API_KEYS": ",".join(f"{r}:{k}" for r, k in KEYS.items()),
           "HOTLINE_RATE_LIMIT_PER_MINUTE": "0", "PYTHONPATH": str(root), **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline.cli.main", "--home", str(home), "serve", "--production",
         "--no-build", "--port", str(port), "--workers", str(workers), "--threads", str(threads)],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready}", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, "gunicorn exited"
                assert time.time() < deadline, f"gunicorn did not answer {ready} in {timeout} s"
                time.sleep(0.2)
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=60)
